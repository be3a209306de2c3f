"""OME-Zarr 0.5 written by the 2024 challenge's tool (tests/data/challenge-0.5, made by the tool
itself from the shared fixtures), each with the RO-Crate the tool wrote: converted to 0.5 and
0.6, copied, re-sharded and in place. The input's crate is carried forward, not copied: every
entity and property kept, the sheet's values winning where given (what they replaced
recorded), the conversion added as a provenance action the root mentions."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from conftest import checks_on_python_3_12, convert_row, read_json, snakemake
from remote_servers import http_folder_fixture  # noqa: F401 - fixture

from ngff_resave import __version__
from ngff_resave.checks import spec_schemas
from ngff_resave.cli.main import main
from ngff_resave.model.patterns import LICENSE_SHORTHANDS
from ngff_resave.model.plan import read_plan
from ngff_resave.records.originals import read_originals
from ngff_resave.records.ownership import CRATE_FILE
from ngff_resave.storage import open_location

DATA = Path(__file__).parent / "data" / "challenge-0.5"
CC_BY = LICENSE_SHORTHANDS["CC-BY-4.0"]
CC0 = LICENSE_SHORTHANDS["CC0-1.0"]
# What the challenge's tool was asked to write into each crate (tests/data/challenge-0.5).
WRITTEN = {
    "2d": {
        "license": CC_BY,
        "name": "2d fixture",
        "description": "bioformats2raw 2D test image, resaved by the challenge tool",
        "organism": "NCBI:txid9606",
        "modality": "obo:FBbi_00000243",
    },
    "bf2raw": {"license": CC_BY, "organism": "NCBI:txid10090", "modality": "obo:FBbi_00000251"},
    "hcs": {"license": CC_BY},
}
KINDS = sorted(WRITTEN)
# Shards other than the input's (one shard per array): one shard per channel; the 8 x 8
# image of bf2raw has one chunk per array, so it gets smaller chunks in its shard.
RESHARD = {
    "2d": {"shards": [1, 1, 1, 64, 64]},
    "bf2raw": {"chunks": [1, 1, 1, 4, 4], "shards": [1, 1, 1, 8, 8]},
    "hcs": {"shards": [1, 1, 1, 64, 64]},
}


def challenge_input(tmp_path: Path, kind: str) -> Path:
    """A private copy of one of the challenge tool's outputs (in place writes into it)."""
    target = tmp_path / "inputs" / f"{kind}.zarr"
    shutil.copytree(DATA / f"{kind}.zarr", target)
    return target


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def graph(crate: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["@id"]: item for item in crate["@graph"]}


def typed(crate: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [item for item in crate["@graph"] if item.get("@type") == name]


def images(root: Path) -> list[Path]:
    """The multiscale images of an output: itself, its series (bioformats2raw.layout), or the
    fields of its wells (a plate)."""
    ome = read_json(root / "zarr.json")["attributes"]["ome"]
    if "multiscales" in ome:
        return [root]
    if "plate" in ome:
        return [
            root / well["path"] / field["path"]
            for well in ome["plate"]["wells"]
            for field in read_json(root / well["path"] / "zarr.json")["attributes"]["ome"]["well"][
                "images"
            ]
        ]
    return sorted(p.parent for p in root.glob("[0-9]*/zarr.json"))


def assert_valid(output: Path, version: str) -> None:
    """The output through the validators of its version: ome-zarr-models' v05 classes for 0.5,
    the 0.6 spec's schemas (and the rules between documents) for 0.6."""
    if version == "0.5":
        from ome_zarr_models.v05 import HCS, Image

        ome = read_json(output / "zarr.json")["attributes"]["ome"]
        if "plate" in ome:
            HCS.from_zarr(zarr.open_group(str(output), mode="r", zarr_format=3))
        for image in images(output):
            Image.from_zarr(zarr.open_group(str(image), mode="r", zarr_format=3))
        return
    documents = {
        "" if p.parent == output else str(p.parent.relative_to(output)): read_json(p)
        for p in output.rglob("zarr.json")
    }
    assert documents[""]["attributes"]["ome"]["version"] == "0.6"
    problems = spec_schemas.hierarchy_problems(documents)
    assert not any(problems.values()), problems


def assert_same_pixels(source: Path, output: Path) -> None:
    for image in images(source):
        for level in (p.parent for p in image.glob("*/zarr.json")):
            if read_json(level / "zarr.json")["node_type"] != "array":
                continue
            copy = output / level.relative_to(source)
            expected = zarr.open_array(str(level), mode="r")[...]
            np.testing.assert_array_equal(zarr.open_array(str(copy), mode="r")[...], expected)


def assert_carried(
    before: dict[str, Any],
    after: dict[str, Any],
    input_url: str,
    versions: tuple[str, str],
    replaced: dict[str, tuple[Any, Any]] | None = None,
) -> dict[str, Any]:
    """The output's crate carries the input's forward, field by field; ``replaced`` maps the
    properties the sheet replaced (``entity property``) to their (old, new) values. Returns
    the conversion's CreateAction."""
    replaced = replaced or {}
    old, new = graph(before), graph(after)
    # The input's own JSON-LD terms are still defined.
    (terms,) = [c for c in before["@context"] if isinstance(c, dict)]
    (kept_terms,) = [c for c in after["@context"] if isinstance(c, dict)]
    assert kept_terms.items() >= terms.items()
    assert set(old) <= set(new)
    for key, entity in old.items():
        for name, value in entity.items():
            if f"{key} {name}" in replaced:
                was, now = replaced[f"{key} {name}"]
                assert (value, new[key][name]) == (was, now)
            elif name in ("mentions", "hasPart"):
                assert all(
                    v in new[key][name] for v in (value if isinstance(value, list) else [value])
                )
            else:
                assert new[key][name] == value, (key, name)
    root = new["./"]
    # datePublished, which RO-Crate requires and the tool does not write, is added.
    assert "datePublished" not in old["./"]
    assert dt.date.fromisoformat(root["datePublished"]) == dt.datetime.now(dt.UTC).date()
    # The conversion: a CreateAction the root mentions, with the tool, its version, the input
    # and the output with their OME-Zarr versions, and when it ran.
    mentioned = [new[m["@id"]] for m in root["mentions"]]
    (action,) = [m for m in mentioned if m["@type"] == "CreateAction"]
    assert action["name"] == f"Conversion of OME-Zarr {versions[0]} to OME-Zarr {versions[1]}"
    tool = new[action["instrument"]["@id"]]
    assert (tool["@type"], tool["name"], tool["version"]) == (
        "SoftwareApplication",
        "ngff-resave",
        __version__,
    )
    source = new[action["object"]["@id"]]
    assert source["@id"] == input_url
    assert source["conformsTo"] == {"@id": f"https://ngff.openmicroscopy.org/{versions[0]}/"}
    assert action["result"] == [{"@id": "./"}, {"@id": "zarr.json"}]
    document = new["zarr.json"]
    assert document["@type"] == "File"
    assert document["conformsTo"] == {"@id": f"https://ngff.openmicroscopy.org/{versions[1]}/"}
    assert {"@id": "zarr.json"} in root["hasPart"]
    start = dt.datetime.fromisoformat(action["startTime"])
    end = dt.datetime.fromisoformat(action["endTime"])
    assert start <= end <= dt.datetime.now(dt.UTC)
    assert end - start < dt.timedelta(minutes=10)
    assert action["actionStatus"] == {"@id": "http://schema.org/CompletedActionStatus"}
    # Each replaced value recorded as a ReplaceAction the root mentions.
    recorded = {
        (m["targetCollection"]["@id"], json.dumps(m["replacee"]), json.dumps(m["replacer"]))
        for m in mentioned
        if m["@type"] == "ReplaceAction"
    }
    assert recorded == {
        (key.split(" ")[0], json.dumps(was), json.dumps(now))
        for key, (was, now) in replaced.items()
    }
    return action


def assert_challenge_fields(crate: dict[str, Any], fields: dict[str, str]) -> None:
    """The fields as the challenge's catalog reads them (exact @type strings)."""
    found = {}
    for item in crate["@graph"]:
        if item["@id"] == "./":
            found.update({k: item[k] for k in ("license", "name", "description") if k in item})
        if item.get("@type") == "biosample":
            found["organism"] = item["organism_classification"]["@id"]
        if item.get("@type") == "image_acquisition":
            found["modality"] = item["fbbi_id"]["@id"]
    assert {k: found.get(k) for k in fields} == fields


def validation_checks(tmp_path: Path) -> dict[str, dict[str, Any]]:
    report = read_json(tmp_path / "results" / "d" / "validation.json")
    assert report["valid"], [c for c in report["checks"] if not c["ok"]]
    return {c["check"]: c for c in report["checks"]}


def test_the_test_data_is_the_challenge_tools_own_output():
    for kind, fields in WRITTEN.items():
        root = read_json(DATA / f"{kind}.zarr" / "zarr.json")["attributes"]["ome"]
        assert root["version"] == "0.5"
        assert root["_creator"] == {
            "name": "ome2024-ngff-challenge",
            "version": "1.0.3",
            "notes": None,
        }
        assert_challenge_fields(read_json(DATA / f"{kind}.zarr" / CRATE_FILE), fields)
    # How they were made, and under which license, is written beside them.
    readme = (DATA / "README.md").read_text()
    assert "ome2024-ngff-challenge==1.0.3" in readme
    assert "resave --cc-by" in readme
    assert "BSD 3-Clause" in readme
    assert sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file()) < 100_000


@pytest.mark.parametrize("version", ["0.5", "0.6"])
@pytest.mark.parametrize("way", ["copy", "reshard"])
@pytest.mark.parametrize("kind", KINDS)
def test_challenge_outputs_convert_with_their_crate_carried_forward(tmp_path, kind, way, version):
    source = challenge_input(tmp_path, kind)
    before = tree(source)
    output = tmp_path / "out.zarr"
    asked = RESHARD[kind] if way == "reshard" else {}
    # The sheet gives the license the input has; nothing else of the crate.
    row = convert_row(
        tmp_path, source, output, ngff_version=version, crate={"license": "CC-BY-4.0"}, **asked
    )
    assert row["valid"] == "True", row["error"]
    assert (row["input_version"], row["ngff_version"]) == ("0.5", version)
    assert tree(source) == before  # the input untouched
    assert_valid(output, version)
    assert_same_pixels(source, output)
    if way == "reshard":
        level = next(p for p in output.rglob("zarr.json") if read_json(p)["node_type"] == "array")
        shards = read_json(level)["chunk_grid"]["configuration"]["chunk_shape"]
        assert shards == asked["shards"]
    # Planned as carried forward, not as a file to copy.
    plan = read_plan(tmp_path / "results" / "d" / "plan.json")
    assert plan is not None and CRATE_FILE not in plan.files
    (item,) = [i for i in plan.inventory if i.path == CRATE_FILE]
    assert (item.kind, item.action) == ("file", "carry forward")
    crate_in, crate_out = read_json(source / CRATE_FILE), read_json(output / CRATE_FILE)
    assert_carried(crate_in, crate_out, source.as_uri(), ("0.5", version))
    # The input's values where the sheet gives none; the catalog reads them from the crate.
    assert_challenge_fields(crate_out, WRITTEN[kind])
    assert row["license"] == CC_BY
    assert row["organismId"] == WRITTEN[kind].get("organism", "")
    assert row["fbbiId"] == WRITTEN[kind].get("modality", "")
    if kind == "hcs":
        # Neither the sheet nor the input names it: the defaults of a new crate.
        root = graph(crate_out)["./"]
        assert root["name"] == plan.name or root["name"] == "d"
        assert root["description"].startswith(f"OME-Zarr {version} conversion of ")
    checks = validation_checks(tmp_path)
    assert checks["crate: every entity of the input's crate kept"]["ok"]
    assert checks["crate: the input's properties kept (but those the sheet replaced)"]["ok"]
    assert checks["crate: the conversion is a CreateAction the root mentions"]["ok"]
    assert f"file {CRATE_FILE} copied" not in checks
    metadata = read_json(tmp_path / "results" / "d" / "metadata.json")
    assert "crate_replaced" not in metadata


def test_challenge_outputs_in_06_pass_ome_zarr_models_v06_on_python_3_12(venv_312, tmp_path):
    for kind in KINDS:
        work = tmp_path / kind
        output = work / "out.zarr"
        source = challenge_input(work, kind)
        row = convert_row(work, source, output, ngff_version="0.6", crate={"license": "CC-BY-4.0"})
        assert row["valid"] == "True", row["error"]
        checks = checks_on_python_3_12(venv_312, work / "results" / "d" / "plan.json", output)
        assert any(c["check"].startswith("ome-zarr-models v06") for c in checks), kind
        assert all(c["ok"] for c in checks), [c for c in checks if not c["ok"]]


def test_the_sheets_values_win_and_what_they_replaced_is_recorded(tmp_path):
    source = challenge_input(tmp_path, "2d")
    output = tmp_path / "out.zarr"
    sheet = {
        "license": "CC0-1.0",
        "organism": "NCBI:txid10090",
        "modality": "obo:FBbi_00000243",  # the input's own: nothing replaced
        "name": "renamed",
    }
    row = convert_row(tmp_path, source, output, ngff_version="0.6", crate=sheet)
    assert row["valid"] == "True", row["error"]
    assert (row["license"], row["organismId"], row["name"]) == (CC0, "NCBI:txid10090", "renamed")
    crate_in, crate_out = read_json(source / CRATE_FILE), read_json(output / CRATE_FILE)
    (biosample,) = typed(crate_in, "biosample")
    replaced = {
        "./ license": (CC_BY, CC0),
        "./ name": ("2d fixture", "renamed"),
        f"{biosample['@id']} organism_classification": (
            {"@id": "NCBI:txid9606"},
            {"@id": "NCBI:txid10090"},
        ),
    }
    action = assert_carried(crate_in, crate_out, source.as_uri(), ("0.5", "0.6"), replaced)
    assert_challenge_fields(
        crate_out,
        {**WRITTEN["2d"], "license": CC0, "organism": "NCBI:txid10090", "name": "renamed"},
    )
    # Told in the action's description, in the metadata step's record and in validation.json.
    assert f"{CC_BY} -> {CC0}" in action["description"]
    assert "NCBI:txid9606 -> NCBI:txid10090" in action["description"]
    lines = read_json(tmp_path / "results" / "d" / "metadata.json")["crate_replaced"]
    assert lines == [
        f"license (license of the root): {CC_BY} -> {CC0}",
        "name (name of the root): 2d fixture -> renamed",
        f"organism (organism_classification of {biosample['@id']}): NCBI:txid9606 -> "
        "NCBI:txid10090",
    ]
    checks = validation_checks(tmp_path)
    assert (
        checks["crate: license from the sample sheet replaced the input's, recorded"]["detail"]
        == lines[0]
    )
    assert checks["crate: license as asked"]["ok"]


def test_the_sheets_organism_and_modality_are_added_to_a_crate_without_them(tmp_path):
    source = challenge_input(tmp_path, "hcs")
    output = tmp_path / "out.zarr"
    sheet = {"license": "CC-BY-4.0", "organism": "NCBI:txid9606", "modality": "obo:FBbi_00000369"}
    row = convert_row(tmp_path, source, output, ngff_version="0.5", crate=sheet)
    assert row["valid"] == "True", row["error"]
    crate_in, crate_out = read_json(source / CRATE_FILE), read_json(output / CRATE_FILE)
    assert_carried(crate_in, crate_out, source.as_uri(), ("0.5", "0.5"))  # nothing replaced
    new = graph(crate_out)
    acquisition = new[new["./"]["resultOf"]["@id"]]
    assert acquisition["fbbi_id"] == {"@id": "obo:FBbi_00000369"}
    specimen = new[acquisition["specimen"]["@id"]]
    assert new[specimen["biosample"]["@id"]]["organism_classification"] == {"@id": "NCBI:txid9606"}
    assert (row["organismId"], row["fbbiId"]) == ("NCBI:txid9606", "obo:FBbi_00000369")


def test_a_damaged_carried_crate_fails_validation(tmp_path):
    """Validation compares the output's crate with the input's: an entity or a property lost
    (not replaced by the sheet) fails it, naming what."""
    from ngff_resave.checks.validation import validate_dataset

    source = challenge_input(tmp_path, "2d")
    output = tmp_path / "out.zarr"
    assert convert_row(tmp_path, source, output, crate={"license": "CC-BY-4.0"})["valid"] == "True"
    plan = read_plan(tmp_path / "results" / "d" / "plan.json")
    assert plan is not None
    crate = read_json(output / CRATE_FILE)
    (specimen,) = typed(crate, "specimen")
    crate["@graph"].remove(specimen)
    graph(crate)["./"]["name"] = "not the input's"
    (output / CRATE_FILE).write_text(json.dumps(crate))
    report = validate_dataset(plan, mode="sample", sample=1, seed=1)
    failed = {c["check"]: c["detail"] for c in report.checks if not c["ok"]}
    assert specimen["@id"] in failed["crate: every entity of the input's crate kept"]
    assert "./ name" in failed["crate: the input's properties kept (but those the sheet replaced)"]


@pytest.mark.parametrize("kind", KINDS)
def test_challenge_outputs_upgrade_to_06_in_place_and_restore(tmp_path, kind):
    source = challenge_input(tmp_path, kind)
    before = tree(source)
    crate_in = read_json(source / CRATE_FILE)
    row = convert_row(
        tmp_path,
        source,
        source,
        ngff_version="0.6",
        mode="reference",
        in_place=True,
        crate={"license": "CC0-1.0"},
    )
    assert row["valid"] == "True", row["error"]
    assert (row["input_version"], row["ngff_version"], row["mode"]) == ("0.5", "0.6", "reference")
    assert_valid(source, "0.6")
    # The input's crate is kept with the other replaced documents, and carried forward.
    kept = read_originals(open_location(str(source)))
    assert (
        kept is not None and kept[CRATE_FILE] == (DATA / f"{kind}.zarr" / CRATE_FILE).read_bytes()
    )
    crate_out = read_json(source / CRATE_FILE)
    assert_carried(
        crate_in, crate_out, source.as_uri(), ("0.5", "0.6"), {"./ license": (CC_BY, CC0)}
    )
    assert row["license"] == CC0
    validation_checks(tmp_path)
    # Converted again in place (planned from the kept documents), still from the input's crate.
    row = convert_row(
        tmp_path,
        source,
        source,
        ngff_version="0.6",
        mode="reference",
        in_place=True,
        crate={"license": "CC-BY-4.0"},
    )
    assert row["valid"] == "True", row["error"]
    assert_carried(crate_in, read_json(source / CRATE_FILE), source.as_uri(), ("0.5", "0.6"))
    assert main(["restore-in-place", str(source)]) == 0
    assert tree(source) == before


def test_the_convert_command_reshards_a_challenge_output_with_its_crate(tmp_path):
    """``ngff-resave convert`` as a user types it, over the challenge tool's own output."""
    source = challenge_input(tmp_path, "bf2raw")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ngff_resave",
            "convert",
            str(source),
            "out.zarr",
            "--cc0",
            "--rocrate-modality",
            "obo:FBbi_00000369",
            "--ngff-version",
            "0.6",
            "--output-chunks",
            "1,1,1,4,4",
            "--output-shards",
            "1,1,1,8,8",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = tmp_path / "out.zarr"
    assert_valid(output, "0.6")
    assert_same_pixels(source, output)
    crate_in, crate_out = read_json(source / CRATE_FILE), read_json(output / CRATE_FILE)
    (acquisition,) = typed(crate_in, "image_acquisition")
    assert_carried(
        crate_in,
        crate_out,
        source.as_uri(),
        ("0.5", "0.6"),
        {
            "./ license": (CC_BY, CC0),
            f"{acquisition['@id']} fbbi_id": (
                {"@id": "obo:FBbi_00000251"},
                {"@id": "obo:FBbi_00000369"},
            ),
        },
    )


def test_a_challenge_output_behind_http_has_its_crate_carried_forward(tmp_path, http_folder):
    """HTTP cannot list: the input's crate is not found by a walk, so it is asked for."""
    source = challenge_input(tmp_path, "hcs")
    url = f"{http_folder(source.parent)}/hcs.zarr"
    output = tmp_path / "out.zarr"
    row = convert_row(tmp_path, url, output, ngff_version="0.6", crate={"license": "CC0-1.0"})
    assert row["valid"] == "True", row["error"]
    crate_in, crate_out = read_json(source / CRATE_FILE), read_json(output / CRATE_FILE)
    assert_carried(crate_in, crate_out, url, ("0.5", "0.6"), {"./ license": (CC_BY, CC0)})
    assert validation_checks(tmp_path)["crate: every entity of the input's crate kept"]["ok"]


def test_an_input_crate_that_cannot_be_read_fails_the_dataset_naming_it(tmp_path):
    source = challenge_input(tmp_path, "2d")
    (source / CRATE_FILE).write_text('{"@context": "https://w3id.org/ro/crate/1.1/context"}')
    row = convert_row(tmp_path, source, tmp_path / "out.zarr", crate={"license": "CC0-1.0"})
    assert row["valid"] == "False"
    assert f"{source}/{CRATE_FILE}: the input's RO-Crate cannot be read" in row["error"]


def test_without_a_crate_of_ours_the_inputs_is_copied_as_it_is(tmp_path):
    source = challenge_input(tmp_path, "2d")
    output = tmp_path / "out.zarr"
    row = convert_row(tmp_path, source, output, ngff_version="0.6", crate=None)
    assert row["valid"] == "True", row["error"]
    assert (output / CRATE_FILE).read_bytes() == (source / CRATE_FILE).read_bytes()
    assert validation_checks(tmp_path)[f"file {CRATE_FILE} copied"]["ok"]


@pytest.mark.workflow
def test_a_sheet_of_challenge_outputs_is_converted_to_06_by_the_workflow(tmp_path):
    workdir = tmp_path / "work"
    for kind in KINDS:
        shutil.copytree(DATA / f"{kind}.zarr", workdir / "inputs" / f"{kind}.zarr")
    (workdir / "samples.tsv").write_text(
        "dataset\tinput\tlicense\torganism\n"
        "2d\tinputs/2d.zarr\tCC-BY-4.0\t\n"
        "bf2raw\tinputs/bf2raw.zarr\tCC0-1.0\t\n"
        "hcs\tinputs/hcs.zarr\tCC-BY-4.0\tNCBI:txid9606\n"
    )
    (workdir / "config.yaml").write_text('samples: samples.tsv\nngff_version: "0.6"\n')
    snakemake(workdir)
    with open(workdir / "results" / "catalog.csv") as handle:
        catalog = {row["dataset"]: row for row in csv.DictReader(handle)}
    for kind in KINDS:
        row = catalog[kind]
        assert row["valid"] == "True", row["error"]
        assert (row["input_version"], row["ngff_version"]) == ("0.5", "0.6")
        output = workdir / "results" / "ome-zarr" / f"{kind}.ome.zarr"
        assert_valid(output, "0.6")
        source = workdir / "inputs" / f"{kind}.zarr"
        replaced = {"./ license": (CC_BY, CC0)} if kind == "bf2raw" else {}
        assert_carried(
            read_json(source / CRATE_FILE),
            read_json(output / CRATE_FILE),
            source.as_uri(),
            ("0.5", "0.6"),
            replaced,
        )
    assert catalog["bf2raw"]["license"] == CC0
    assert catalog["hcs"]["organismId"] == "NCBI:txid9606"
    assert catalog["2d"]["fbbiId"] == "obo:FBbi_00000243"
