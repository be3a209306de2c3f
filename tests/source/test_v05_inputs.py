"""OME-Zarr 0.5 inputs (Zarr v3, tests/v05_inputs.py) converted to 0.6 and 0.5: taken as they
are (files copied, linked, or in place with only metadata written), re-sharded by moving their
encoded inner chunks, or re-encoded; read back equal by zarr-python and tensorstore, checked by
the 0.6 schemas. Near misses are converted as mends or refused naming the path."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import tensorstore as ts
import v05_inputs
import zarr
from conftest import (
    checks_on_python_3_12,
    convert_row,
    read_json,
    run_pipeline,
    settings_for,
    snakemake,
)
from remote_servers import (  # noqa: F401 - fixtures
    http_folder_fixture,
    s3_bucket_fixture,
    s3_server_fixture,
)

from ngff_resave.checks import spec_schemas
from ngff_resave.checks.validation import validate_dataset
from ngff_resave.cli.main import main
from ngff_resave.model.plan import read_plan
from ngff_resave.records.originals import read_originals
from ngff_resave.records.ownership import ORIGINALS, ORIGINALS_ARCHIVE
from ngff_resave.source import v05
from ngff_resave.storage import open_location

# The challenge tool's own 0.5 output of the shared fixtures (see its README there).
CHALLENGE_05 = Path(__file__).parents[1] / "data" / "challenge-0.5"
KINDS = {
    "image": v05_inputs.image,
    "unsharded": lambda root: v05_inputs.image(root, sharded=False),
    "plate": v05_inputs.plate,
}
# How each way is asked, and the engine that writes every array.
WAYS = {
    "copy": ({}, "file copy"),
    "links": ({"mode": "reference"}, "link"),
    "reshard": ({"shards": [2, 64, 64]}, "shard copy"),
    "rechunk": ({"chunks": [1, 8, 8], "shards": [2, 32, 32]}, None),
    "codec": ({"codec": "gzip-1"}, None),
}


def levels(root: Path) -> list[str]:
    """The arrays of a Zarr v3 dataset (every array node): a 0.5 or 0.6 one's image levels."""
    return sorted(
        str(p.parent.relative_to(root))
        for p in root.rglob("zarr.json")
        if read_json(p).get("node_type") == "array"
    )


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file but the kept documents: its SHA-256 and modification time."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and ORIGINALS not in p.relative_to(root).parts
    }


def files(root: Path) -> dict[str, tuple[str, int]]:
    """Every file but the metadata documents: its SHA-256 and modification time."""
    return {k: v for k, v in snapshot(root).items() if not k.endswith("zarr.json")}


def written_documents(before: dict, after: dict) -> set[str]:
    """The zarr.json documents new or changed between two snapshots."""
    return {k for k, v in after.items() if k.endswith("zarr.json") and before.get(k) != v}


def documents(root: Path) -> dict[str, dict]:
    return {
        "" if p.parent == root else str(p.parent.relative_to(root)): read_json(p)
        for p in root.rglob("zarr.json")
        if ORIGINALS not in p.parts
    }


def engines(tmp_path: Path) -> set[str]:
    return {
        array["engine"]
        for record in (tmp_path / "results" / "d" / "convert").glob("*.json")
        for array in read_json(record)["arrays"]
    }


def assert_same_pixels(source: Path, output: Path) -> None:
    for path in levels(source):
        expected = zarr.open_array(source / path, mode="r")[...]
        np.testing.assert_array_equal(zarr.open_array(output / path, mode="r")[...], expected)
        store = ts.open({"driver": "zarr3", "kvstore": f"file://{output / path}"}).result()
        np.testing.assert_array_equal(store.read().result(), expected)


def assert_valid_06(output: Path) -> None:
    found = documents(output)
    assert found[""]["attributes"]["ome"]["version"] == "0.6"
    assert not any(spec_schemas.hierarchy_problems(found).values())


@pytest.mark.parametrize("version", ["0.5", "0.6"])
@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_05_inputs_convert_every_way(tmp_path, kind, way, version):
    source = KINDS[kind](tmp_path / "in.zarr")
    before = files(source)
    asked, engine = WAYS[way]
    output = tmp_path / "out.zarr"
    row = convert_row(tmp_path, source, output, ngff_version=version, **asked)
    assert row["valid"] == "True", row["error"]
    assert (row["input_version"], row["ngff_version"]) == ("0.5", version)
    assert_same_pixels(source, output)
    if version == "0.6":
        assert_valid_06(output)
    assert files(source) == before  # the input untouched
    found = engines(tmp_path)
    if engine is not None:
        assert found == {engine}
    else:
        assert found & {"tensorstore", "zarr-python"}
    plan = read_plan(tmp_path / "results" / "d" / "plan.json")
    assert plan is not None and plan.input_zarr_format == 3
    if way in ("copy", "links"):
        # Taken as they are: the same files, the same array documents but for the attributes.
        for path in levels(source):
            for name in (source / path).rglob("*"):
                if name.is_file() and name.name != "zarr.json":
                    copy = output / name.relative_to(source)
                    assert copy.read_bytes() == name.read_bytes()
                    assert os.path.samefile(copy, name) == (way == "links")
            wanted = {k: v for k, v in read_json(source / path / "zarr.json").items()}
            got = read_json(output / path / "zarr.json")
            assert {k: v for k, v in got.items() if k != "attributes"} == {
                k: v for k, v in wanted.items() if k != "attributes"
            }
    if way == "reshard":
        meta = read_json(output / levels(source)[0] / "zarr.json")
        assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [2, 64, 64]


def test_05_image_metadata_is_carried_into_06(tmp_path):
    source = v05_inputs.image(tmp_path / "in.zarr")
    output = tmp_path / "out.zarr"
    assert convert_row(tmp_path, source, output, ngff_version="0.6")["valid"] == "True"
    root = read_json(output / "zarr.json")["attributes"]
    assert root["other"] == {"kept": True}
    assert root["ome"]["omero"]["channels"][0]["active"] is False
    assert not read_plan(tmp_path / "results" / "d" / "plan.json").mends
    (multiscale,) = root["ome"]["multiscales"]
    assert [s["name"] for s in multiscale["coordinateSystems"]] == ["intrinsic"]
    transforms = [d["coordinateTransformations"] for d in multiscale["datasets"]]
    assert transforms[1][0]["scale"] == [1.0, 1.0, 1.0]
    label = read_json(output / "labels" / "cells" / "zarr.json")["attributes"]["ome"]
    assert label["image-label"]["colors"][0]["label-value"] == 1


@pytest.mark.parametrize("kind", ["image", "plate"])
def test_in_place_05_to_06_writes_metadata_only_and_can_be_undone(tmp_path, kind):
    source = KINDS[kind](tmp_path / "in.zarr")
    before, everything = files(source), snapshot(source)
    originals = {p: (source / p / "zarr.json").read_bytes() for p in documents(source)}
    row = convert_row(tmp_path, source, source, ngff_version="0.6", mode="reference", in_place=True)
    assert row["valid"] == "True", row["error"]
    after = files(source)
    # Every chunk and shard file keeps its bytes and its time stamp; what was added is the
    # claim, the crate and the archive of the input's documents.
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {
        ".ngff-resave.json",
        "ro-crate-metadata.json",
        ORIGINALS_ARCHIVE,
    }
    # Written: the documents of groups with OME metadata (0.6 changes them) and the groups
    # Zarr v3 needs above the wells, which the input lacked; not the arrays' (0.6 does not
    # change them) nor other groups'.
    changed = written_documents(everything, snapshot(source))
    with_ome = {
        f"{p}/zarr.json" if p else "zarr.json"
        for p, doc in documents(source).items()
        if "ome" in doc.get("attributes", {})
    }
    lacked = {"A/zarr.json", "B/zarr.json"} if kind == "plate" else set()
    assert changed == with_ome | lacked
    # Each kept first as it was, in one archive (only the documents replaced); the crate, the
    # claim and the documents it lacked listed absent.
    kept = read_originals(open_location(str(source)))
    assert kept is not None and not (source / ORIGINALS).exists()
    assert {k for k, v in kept.items() if v is None} == {
        "ro-crate-metadata.json",
        ".ngff-resave.json",
        *lacked,
    }
    assert {k for k, v in kept.items() if v is not None} == changed - lacked
    for path in changed - lacked:
        assert kept[path] == everything_bytes(originals, path)
    assert_valid_06(source)
    assert int(row["written"]) < 100_000  # kilobytes: metadata only
    # Planned again (back to 0.5), the input is read from the kept documents.
    row = convert_row(tmp_path, source, source, ngff_version="0.5", mode="reference", in_place=True)
    assert row["valid"] == "True", row["error"]
    assert row["input_version"] == "0.5"
    assert documents(source)[""]["attributes"]["ome"]["version"] == "0.5"
    assert files(source).items() >= before.items()
    # Undone: every document is the input's own again.
    assert main(["restore-in-place", str(source)]) == 0
    assert {p: (source / p / "zarr.json").read_bytes() for p in documents(source)} == originals
    assert files(source) == before
    assert main(["restore-in-place", str(source)]) == 2  # nothing left to restore


def everything_bytes(originals: dict[str, bytes], path: str) -> bytes:
    return originals[path.removesuffix("zarr.json").rstrip("/")]


def test_loose_04_metadata_over_v3_is_a_mend(tmp_path):
    source = v05_inputs.loose_v04(tmp_path / "in.zarr")
    row = convert_row(tmp_path, source, tmp_path / "out.zarr", ngff_version="0.6")
    assert row["valid"] == "True", row["error"]
    assert row["input_version"] == "0.4"
    assert "OME-Zarr 0.4 metadata over Zarr v3" in row["mended"]
    assert_same_pixels(source, tmp_path / "out.zarr")
    refused = convert_row(tmp_path / "again", source, tmp_path / "out2.zarr", mend=False)
    assert refused["valid"] == "False"
    assert "OME-Zarr 0.4 metadata over Zarr v3" in refused["error"]
    assert not (tmp_path / "out2.zarr").exists()


@pytest.mark.parametrize(
    ("version", "said"),
    [
        ("0.6", "multiscales in OME-Zarr 0.5's form (axes) under version 0.6"),
        ("0.7", "OME-Zarr version '0.7' in Zarr v3"),
    ],
)
def test_other_v3_versions_are_refused_naming_the_path(tmp_path, version, said):
    source = v05_inputs.stated(tmp_path / "in.zarr", version)
    for target in ("0.5", "0.6"):
        row = convert_row(
            tmp_path / target, source, tmp_path / target / "out.zarr", ngff_version=target
        )
        assert row["valid"] == "False"
        assert said in row["error"] and str(source) in row["error"]
        assert not (tmp_path / target / "out.zarr").exists()


def test_encoded_chunks_are_the_inner_chunks_zarr_python_reads(tmp_path):
    source = v05_inputs.image(tmp_path / "in.zarr", labels=False)
    meta = read_json(source / "1" / "zarr.json")
    stored = v05.read_array(meta)
    reader = v05.EncodedChunks(open_location(str(source), {}), "1", stored.input_array(0))
    array = zarr.open_array(source / "1", mode="r")
    codec = numcodecs.Zstd()
    grid = [-(-n // c) for n, c in zip(array.shape, stored.chunks, strict=True)]
    coords = [tuple(c) for c in np.ndindex(*grid)]
    for coord, data in zip(coords, reader.read(coords), strict=True):
        region = tuple(slice(i * c, (i + 1) * c) for i, c in zip(coord, stored.chunks, strict=True))
        decoded = np.frombuffer(codec.decode(data), dtype="<u2").reshape(stored.chunks)
        expected = array[region]
        np.testing.assert_array_equal(decoded[tuple(slice(0, n) for n in expected.shape)], expected)


def test_v3_array_documents_are_read_or_refused_saying_why():
    meta = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": [4, 4],
        "data_type": "uint16",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 2]}},
        "chunk_key_encoding": {"name": "v2", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [
            {"name": "transpose", "configuration": {"order": [1, 0]}},
            {"name": "bytes", "configuration": {"endian": "big"}},
        ],
    }
    stored = v05.read_array(meta)
    assert (stored.dtype, stored.order, stored.shards, stored.separator) == (">u2", "F", None, "/")
    assert stored.compressor_codecs == []
    odd = json.loads(json.dumps(meta))
    odd["codecs"][0]["configuration"]["order"] = [0, 1]
    assert v05.read_array(odd).compressor_codecs is None
    for key, value, problem in [
        ("data_type", "complex64", "not a plain numeric type"),
        ("chunk_grid", {"name": "rectilinear"}, "only 'regular'"),
        ("storage_transformers", [{"name": "x"}], "storage_transformers"),
        # Integers by the spec: 4.0 would convert and then fail validation; 4.5 crashed planning.
        ("shape", [4, 4.0], r"shape \[4, 4.0\]: not a list of integers of at least 0"),
        ("shape", [4, 4.5], r"shape \[4, 4.5\]"),
        ("shape", [4, True], "shape"),
        ("shape", "4", "shape"),
        (
            "chunk_grid",
            {"name": "regular", "configuration": {"chunk_shape": [2, 0]}},
            r"chunk_grid chunk_shape \[2, 0\]: not a list of integers of at least 1",
        ),
        (
            "codecs",
            [{"name": "sharding_indexed", "configuration": {"chunk_shape": [1, 1.0]}}],
            r"sharding_indexed chunk_shape \[1, 1.0\]",
        ),
    ]:
        with pytest.raises(ValueError, match=problem):
            v05.read_array({**meta, key: value})


@pytest.mark.workflow
def test_a_sheet_of_05_datasets_is_upgraded_to_06_in_place_by_the_workflow(tmp_path):
    workdir = tmp_path / "work"
    inputs = workdir / "inputs"
    rows = {"image": v05_inputs.image, "plate": v05_inputs.plate}
    rows["unsharded"] = KINDS["unsharded"]
    for name, make in rows.items():
        make(inputs / f"{name}.ome.zarr")
    (workdir / "samples.tsv").write_text(
        "dataset\tinput\tmode\tin_place\tlicense\n"
        + "".join(f"{name}\tinputs/{name}.ome.zarr\treference\ttrue\tCC-BY-4.0\n" for name in rows)
    )
    (workdir / "config.yaml").write_text('samples: samples.tsv\nngff_version: "0.6"\n')
    before = {name: snapshot(inputs / f"{name}.ome.zarr") for name in rows}
    snakemake(workdir)
    with open(workdir / "results" / "catalog.csv") as handle:
        catalog = {row["dataset"]: row for row in csv.DictReader(handle)}
    for name in rows:
        root = inputs / f"{name}.ome.zarr"
        row = catalog[name]
        assert row["valid"] == "True", row["error"]
        assert (row["input_version"], row["ngff_version"], row["mode"]) == (
            "0.5",
            "0.6",
            "reference",
        )
        assert row["url"] == str(root)
        after = snapshot(root)
        changed = written_documents(before[name], after)
        unchanged = {k: v for k, v in before[name].items() if k not in changed}
        assert {k: v for k, v in after.items() if k in unchanged} == unchanged, name
        assert_valid_06(root)
        metadata = sum(
            p.stat().st_size
            for p in root.rglob("*")
            if p.is_file()
            and (
                str(p.relative_to(root)) in {*changed, "ro-crate-metadata.json", ORIGINALS_ARCHIVE}
            )
        )
        assert int(row["written"]) == metadata, name
    result = snakemake(workdir, "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.workflow
def test_in_place_05_to_06_on_s3_writes_only_metadata_objects(tmp_path, s3_server, s3_bucket):
    source = f"{s3_bucket}/in/plate.ome.zarr"
    s3_server.upload(v05_inputs.plate(tmp_path / "plate.zarr"), source)
    fs = s3_server.fs()
    before = {key: fs.cat_file(key) for key in fs.find(source)}
    options = {"endpoint_url": s3_server.endpoint}
    settings = settings_for(
        "plate", source, source, mode="reference", in_place=True, ngff_version="0.6"
    )
    settings.input_storage = settings.output_storage = options
    archives = []
    for _ in range(2):  # the second run reads the input from the documents kept by the first
        result = run_pipeline(settings, tmp_path / "results")
        assert result.report.valid, result.report.failed
        assert result.plan.input_version == "0.5"
        fs.invalidate_cache()
        archives.append(fs.cat_file(f"{source}/{ORIGINALS_ARCHIVE}"))
    assert archives[0] == archives[1]  # written once: the first kept documents stand
    after = {key: fs.cat_file(key) for key in fs.find(source)}
    changed = {key for key in before if after[key] != before[key]}
    assert changed and {key.rsplit("/", 1)[-1] for key in changed} == {"zarr.json"}
    added = {key.split("/in/plate.ome.zarr/", 1)[1] for key in set(after) - set(before)}
    # Beside the one archive of the input's documents: the groups Zarr v3 needs above the
    # wells, which it lacked.
    assert added == {
        ".ngff-resave.json",
        "ro-crate-metadata.json",
        ORIGINALS_ARCHIVE,
        "A/zarr.json",
        "B/zarr.json",
    }
    location = open_location(source, options)
    kept = read_originals(location)
    assert kept is not None
    for key in changed:
        assert kept[key.split("/in/plate.ome.zarr/", 1)[1]] == before[key]
    assert {k for k, v in kept.items() if v is None} == {
        ".ngff-resave.json",
        "ro-crate-metadata.json",
        "A/zarr.json",
        "B/zarr.json",
    }
    for array in result.plan.arrays:
        expected = zarr.open_array(str(tmp_path / "plate.zarr" / array.path), mode="r")
        got = zarr.open_array(location.zarr_store(array.path), mode="r", zarr_format=3)
        np.testing.assert_array_equal(got[...], expected[...])
    # Restored: every object as it was, nothing else left.
    assert main(["restore-in-place", source, "--endpoint-url", s3_server.endpoint]) == 0
    fs.invalidate_cache()
    assert {key: fs.cat_file(key) for key in fs.find(source)} == before


@pytest.mark.parametrize("example", ["image-with-labels", "plate", "bioformats2raw"])
def test_an_05_output_of_this_workflow_is_upgraded_in_place_and_restored(
    tmp_path, examples, example
):
    """The 0.5 dataset a row wrote (with its claim and crate) is another row's in-place input:
    its claim and crate are kept like its documents, and restored."""
    made = tmp_path / "made.ome.zarr"
    # Made by a run that is over: the one-dataset command, in a process of its own.
    command = [sys.executable, "-m", "ngff_resave", "convert", "--cc-by"]
    subprocess.run([*command, str(examples[example]), str(made)], check=True)
    before = {p: p.read_bytes() for p in sorted(made.rglob("*")) if p.is_file()}
    upgraded = convert_row(
        tmp_path / "second", made, made, ngff_version="0.6", mode="reference", in_place=True
    )
    assert upgraded["valid"] == "True", upgraded["error"]
    assert (upgraded["input_version"], upgraded["ngff_version"]) == ("0.5", "0.6")
    assert_valid_06(made)
    claim = read_json(made / ".ngff-resave.json")
    assert claim["in_place"] and claim["workdir"] == str(Path.cwd())
    assert main(["restore-in-place", str(made)]) == 0
    assert {p: p.read_bytes() for p in sorted(made.rglob("*")) if p.is_file()} == before


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_05_to_06_outputs_pass_the_v06_classes_and_a_06_reader(tmp_path, kind, venv_312):
    from ngff_zarr import from_ngff_zarr

    source = KINDS[kind](tmp_path / "in.zarr")
    output = tmp_path / "out.zarr"
    assert convert_row(tmp_path, source, output, ngff_version="0.6")["valid"] == "True"
    checks = checks_on_python_3_12(venv_312, tmp_path / "results" / "d" / "plan.json", output)
    assert any(c["check"].startswith("ome-zarr-models v06") for c in checks)
    assert all(c["ok"] for c in checks), [c for c in checks if not c["ok"]]
    image = output / "A" / "1" / "0" if kind == "plate" else output
    multiscales = from_ngff_zarr(str(image), validate=True)
    expected = zarr.open_array(source / image.relative_to(output) / "0", mode="r")[...]
    np.testing.assert_array_equal(np.asarray(multiscales.images[0].data), expected)


@pytest.mark.parametrize("way", ["copy", "reshard"])
def test_a_05_plate_behind_http_is_converted(tmp_path, http_folder, way):
    """HTTP cannot list: the walk follows the metadata alone, documents and shards fetched."""
    source = v05_inputs.plate(tmp_path / "served" / "plate.zarr")
    url = f"{http_folder(tmp_path / 'served')}/plate.zarr"
    output = tmp_path / "out.zarr"
    row = convert_row(tmp_path, url, output, ngff_version="0.6", **WAYS[way][0])
    assert row["valid"] == "True", row["error"]
    assert engines(tmp_path) == {WAYS[way][1]}
    assert_same_pixels(source, output)
    assert_valid_06(output)


def test_sample_mode_in_place_decodes_only_the_sampled_chunks_and_checks_the_metadata(tmp_path):
    source = v05_inputs.image(tmp_path / "in.zarr", labels=False)
    settings = settings_for(
        "d", source, source, mode="reference", in_place=True, ngff_version="0.6"
    )
    result = run_pipeline(settings, tmp_path / "results", mode="sample")
    assert result.report.valid, result.report.failed
    values = [c for c in result.report.checks if c["check"].startswith("array 0: values")]
    assert "own files" in values[0]["detail"] and "sampled chunks decoded" in values[0]["detail"]
    # The values follow from the files and the metadata: a changed fill value is caught.
    meta = read_json(source / "0" / "zarr.json")
    meta["fill_value"] = 7
    (source / "0" / "zarr.json").write_text(json.dumps(meta))
    report = validate_dataset(result.plan, "sample", 8, None, 1)
    assert not report.valid
    assert any("codecs, fill value and chunk keys" in name for name in report.failed)


def test_shards_with_their_index_at_the_start_are_read_and_resharded(tmp_path):
    from zarr.codecs import BytesCodec, ShardingCodec, ZstdCodec

    source = tmp_path / "in.zarr"
    v05_inputs.image(source, labels=False)
    data = zarr.open_array(source / "0", mode="r")[...]
    shutil.rmtree(source / "0")
    array = zarr.create_array(
        str(source / "0"),
        shape=data.shape,
        dtype=data.dtype,
        chunks=(2, 32, 32),
        serializer=ShardingCodec(
            chunk_shape=(2, 16, 16), codecs=[BytesCodec(), ZstdCodec()], index_location="start"
        ),
        compressors=None,
        dimension_names=["c", "y", "x"],
        zarr_format=3,
    )
    array[...] = data
    meta = read_json(source / "0" / "zarr.json")
    stored = v05.read_array(meta)
    reader = v05.EncodedChunks(open_location(str(source), {}), "0", stored.input_array(0))
    first = np.frombuffer(numcodecs.Zstd().decode(reader.read([(0, 0, 0)])[0]), dtype="<u2")
    np.testing.assert_array_equal(first.reshape(2, 16, 16), data[:, :16, :16])
    output = tmp_path / "out.zarr"
    row = convert_row(tmp_path, source, output, ngff_version="0.6", shards=[2, 64, 64])
    assert row["valid"] == "True", row["error"]
    assert engines(tmp_path) == {"shard copy"}
    assert_same_pixels(source, output)


@pytest.mark.parametrize("field", ["shape", "chunk_shape"])
def test_a_v3_array_of_float_sizes_is_refused_at_planning_naming_dataset_and_path(
    tmp_path, capsys, field
):
    """The challenge tool's own 0.5 image, one level's size written as 64.0: refused before any
    work, naming the dataset and the array (it converted, then failed validation)."""
    source = tmp_path / "in.zarr"
    shutil.copytree(CHALLENGE_05 / "2d.zarr", source)
    document = source / "0" / "zarr.json"
    meta = json.loads(document.read_text())
    sizes = meta["shape"] if field == "shape" else meta["chunk_grid"]["configuration"][field]
    sizes[-1] = float(sizes[-1])
    document.write_text(json.dumps(meta))
    output = tmp_path / "out.zarr"
    results = tmp_path / "results"
    argv = ["convert", str(source), str(output), "--cc-by", "--no-progress", "--dataset", "d"]
    assert main([*argv, "--results", str(results), "--logs", str(tmp_path / "logs")]) != 0
    error = capsys.readouterr().err
    assert "dataset 'd'" in error and f"{source}/0" in error, error
    assert "not a list of integers" in error and "this is a bug" not in error
    assert not output.exists()
