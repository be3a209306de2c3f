"""Nothing dropped, defects mended or refused at planning, outputs owned: on inputs written by
ome-zarr-py and zarr-python (tests/input_defects.py)."""

import json
import os
import socket
from pathlib import Path

import input_defects
import numpy as np
import pandas as pd
import pytest
import zarr
from conftest import read_json, settings_for

from ngff_resave.model.plan import Failure, read_plan
from ngff_resave.records.ownership import CLAIM_FILE, OutputConflict, Run, check_output
from ngff_resave.report.catalog import write_run_catalog
from ngff_resave.sheet.plan import plan_sheet
from ngff_resave.steps.pack import run_dataset
from ngff_resave.storage import open_location


def convert(tmp_path: Path, source: Path, dataset: str = "d", **settings) -> dict:
    """Plan one row, convert it as a pack does, and write the catalog: its row."""
    results = tmp_path / "results"
    results.mkdir(parents=True, exist_ok=True)
    sheet = plan_sheet(
        [settings_for(dataset, source, tmp_path / f"{dataset}.ome.zarr", **settings)], results
    )
    (results / "plan.json").write_bytes(sheet.to_bytes())
    if sheet.entries[0].plan_digest is not None:
        run_dataset(dataset, results, tmp_path / "logs", 1, "full", 8).write(results)
    write_run_catalog(results, None)
    catalog = pd.read_csv(results / "catalog.csv", dtype=str, keep_default_na=False)
    return catalog.to_dict(orient="records")[0]


def plan_of(tmp_path: Path, dataset: str = "d"):
    return read_plan(tmp_path / "results" / dataset / "plan.json")


# --- 3. nothing dropped silently ---------------------------------------------------------


def test_tables_and_files_outside_the_images_are_migrated_and_read_back_equal(tmp_path):
    source = input_defects.image_with_tables(tmp_path / "in")
    row = convert(tmp_path, source)
    assert row["valid"] == "True", row["error"]
    plan = plan_of(tmp_path)
    actions = {item.path: item.action for item in plan.inventory}
    expected = input_defects.tables_expected(source)
    for path in expected:
        assert actions[path] == "migrate"
    assert actions["tables/README.txt"] == "copy"
    assert actions["tables/regions"] == actions["tables/regions/obs/phase"] == "convert"
    assert {a.path for a in plan.arrays} <= {p for p, act in actions.items() if act == "convert"}
    output = tmp_path / "d.ome.zarr"
    for path, values in expected.items():
        migrated = zarr.open_array(output / path, mode="r", zarr_format=3)
        np.testing.assert_array_equal(np.asarray(migrated[...], dtype=values.dtype), values)
    assert (output / "tables/README.txt").read_bytes() == (
        source / "tables/README.txt"
    ).read_bytes()
    table = read_json(output / "tables/regions/zarr.json")
    assert table["attributes"] == read_json(source / "tables/regions/.zattrs")
    report = read_json(tmp_path / "results" / "d" / "validation.json")
    assert any(
        c["check"] == "array tables/regions/obs/_index: migrated values equal the input" and c["ok"]
        for c in report["checks"]
    )


def test_a_changed_table_value_fails_validation(tmp_path):
    from ngff_resave.checks.validation import validate_dataset

    source = input_defects.image_with_tables(tmp_path / "in")
    assert convert(tmp_path, source)["valid"] == "True"
    output = tmp_path / "d.ome.zarr"
    column = zarr.open_array(output / "tables/regions/obs/_index", mode="r+", zarr_format=3)
    column[0] = "changed"
    report = validate_dataset(plan_of(tmp_path), seed=1).to_json()
    assert not report["valid"]
    assert "tables/regions/obs/_index" in report["failed_arrays"]


def test_an_array_without_a_v3_form_fails_planning_unless_skipping_is_allowed(tmp_path):
    source = input_defects.image_with_unsupported_array(tmp_path / "in")
    row = convert(tmp_path, source)
    assert row["valid"] == "False"
    assert "array extras/objects: object array with filters ['json2']" in row["error"]
    assert "skip_unsupported: true" in row["error"]
    assert not (tmp_path / "d.ome.zarr").exists()
    sheet = json.loads((tmp_path / "results" / "plan.json").read_text())
    assert sheet["entries"][0]["failure"] == Failure.INPUT_DEFECT

    row = convert(tmp_path, source, skip_unsupported=True)
    assert row["valid"] == "True", row["error"]
    assert row["skipped"].startswith("extras/objects: object array with filters ['json2']")
    assert not (tmp_path / "d.ome.zarr" / "extras" / "objects").exists()


# --- 4. input defects mended (and recorded), or refused --------------------------------------


@pytest.mark.parametrize(
    ("make", "rule"),
    [
        (input_defects.label_with_more_levels, "label has more levels than its image"),
        (input_defects.label_with_fewer_levels, "label has fewer levels than its image"),
        (input_defects.plate_with_unlisted_acquisitions, "well acquisition not in the plate"),
        (input_defects.image_with_loose_metadata, "axis without type"),
    ],
)
def test_defects_are_mended_and_recorded_or_refused_with_mend_false(tmp_path, make, rule):
    source = make(tmp_path / "in")
    refused = convert(tmp_path / "strict", source, mend=False)
    assert refused["valid"] == "False"
    assert "(mend: false)" in refused["error"] and rule in refused["error"]
    assert str(source) in refused["error"]

    row = convert(tmp_path, source)
    assert row["valid"] == "True", row["error"]
    plan = plan_of(tmp_path)
    assert rule in {m.rule for m in plan.mends}
    assert rule in row["mended"]
    crate = read_json(tmp_path / "d.ome.zarr" / "ro-crate-metadata.json")
    root = next(item for item in crate["@graph"] if item["@id"] == "./")
    assert any(rule in text for text in root["correction"])


def test_extra_label_levels_are_dropped_and_listed(tmp_path):
    source = input_defects.label_with_more_levels(tmp_path / "in")
    assert convert(tmp_path, source)["valid"] == "True"
    plan = plan_of(tmp_path)
    dropped = sorted(i.path for i in plan.inventory if i.action == "drop")
    assert dropped == ["labels/cells/s3", "labels/cells/s4"]
    label = read_json(tmp_path / "d.ome.zarr" / "labels/cells/zarr.json")
    assert len(label["attributes"]["ome"]["multiscales"][0]["datasets"]) == 3
    assert not (tmp_path / "d.ome.zarr" / "labels/cells/s3").exists()


def test_missing_label_levels_are_nearest_neighbour_downsampled(tmp_path):
    source = input_defects.label_with_fewer_levels(tmp_path / "in")
    assert convert(tmp_path, source)["valid"] == "True"
    output = tmp_path / "d.ome.zarr"
    label = read_json(output / "labels/cells/zarr.json")["attributes"]["ome"]["multiscales"][0]
    image = read_json(output / "zarr.json")["attributes"]["ome"]["multiscales"][0]
    assert len(label["datasets"]) == len(image["datasets"]) == 4
    last = zarr.open_array(source / "labels/cells" / label["datasets"][1]["path"], mode="r")[...]
    for level, factor in ((2, 2), (3, 4)):
        made = zarr.open_array(
            output / "labels/cells" / label["datasets"][level]["path"], mode="r"
        )[...]
        shape = zarr.open_array(output / image["datasets"][level]["path"], mode="r").shape
        assert made.shape[-2:] == shape[-2:]
        # Each output pixel is the input pixel nearest its centre (independent of the code).
        start = factor // 2
        np.testing.assert_array_equal(
            made, last[..., start::factor, start::factor][..., : made.shape[-2], : made.shape[-1]]
        )


def test_loose_metadata_is_written_as_05_wants_it(tmp_path):
    source = input_defects.image_with_loose_metadata(tmp_path / "in")
    row = convert(tmp_path, source)
    assert row["valid"] == "True", row["error"]
    ome = read_json(tmp_path / "d.ome.zarr" / "zarr.json")["attributes"]["ome"]
    multiscale = ome["multiscales"][0]
    assert [a["type"] for a in multiscale["axes"]] == ["channel", "space", "space"]
    scale = multiscale["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert all(isinstance(v, float) for v in scale)
    windows = [c["window"] for c in ome["omero"]["channels"]]
    assert windows[0] == {"min": 0, "max": 255, "start": 0, "end": 255}
    assert windows[1]["start"] == 10.0 and windows[1]["min"] == 0
    assert {"number written as a string", "omero window incomplete", "axis without type"} <= {
        m.rule for m in plan_of(tmp_path).mends
    }
    # The input is never modified.
    assert "type" not in read_json(source / ".zattrs")["multiscales"][0]["axes"][0]


def test_the_plate_gets_the_missing_acquisition(tmp_path):
    source = input_defects.plate_with_unlisted_acquisitions(tmp_path / "in")
    assert convert(tmp_path, source)["valid"] == "True"
    plate = read_json(tmp_path / "d.ome.zarr" / "zarr.json")["attributes"]["ome"]["plate"]
    assert sorted(a["id"] for a in plate["acquisitions"]) == [0, 1]


# --- 2. ownership of outputs ------------------------------------------------------------------


def claim_of_another_workdir(output: Path, other: Path, alive: bool) -> None:
    """A claim as another working directory's run leaves it: still running, or over."""
    token = "other-run"
    run = {
        "token": token,
        "workdir": str(other),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "overwrite": False,
        "started": 0.0,
        "ended": None,
    }
    if not alive:
        run["ended"] = 1.0
    (other / "results").mkdir(parents=True, exist_ok=True)
    (other / "results" / "run.json").write_text(json.dumps(run))
    output.mkdir(parents=True, exist_ok=True)
    (output / CLAIM_FILE).write_text(
        json.dumps(
            {
                "tool": "ngff-resave",
                "dataset": "theirs",
                "input": "/elsewhere",
                "workdir": str(other),
                "run": token,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "claimed": 0.0,
                "arrays": ["0"],
                "files": [],
            }
        )
    )
    (output / "0" / "c").mkdir(parents=True)
    (output / "0" / "c" / "0").write_bytes(b"shard")


def test_an_output_held_by_a_live_run_fails_naming_both(tmp_path, examples):
    output = tmp_path / "out.ome.zarr"
    claim_of_another_workdir(output, tmp_path / "other", alive=True)
    run = Run(token="mine", workdir=str(tmp_path), overwrite=True)
    with pytest.raises(OutputConflict) as err:
        check_output(
            "d", str(examples["image-with-labels"]), open_location(str(output)), run, take=True
        )
    message = str(err.value)
    assert "dataset 'd' of working directory" in message
    assert f"dataset 'theirs' of working directory {tmp_path / 'other'}" in message
    assert "still going" in message
    assert (output / "0" / "c" / "0").read_bytes() == b"shard"


def test_overwrite_replaces_only_what_the_workflow_wrote(tmp_path, examples):
    output = tmp_path / "out.ome.zarr"
    claim_of_another_workdir(output, tmp_path / "other", alive=False)
    target = open_location(str(output))
    source = str(examples["image-with-labels"])
    with pytest.raises(OutputConflict, match="set overwrite: true"):
        check_output("d", source, target, Run(token="mine", workdir=str(tmp_path)), take=True)
    (output / "notes.txt").write_text("a curator's file")
    overwrite = Run(token="mine", workdir=str(tmp_path), overwrite=True)
    with pytest.raises(OutputConflict, match=r"did not write \(notes.txt\)"):
        check_output("d", source, target, overwrite, take=True)
    (output / "notes.txt").unlink()
    check_output("d", source, target, overwrite, arrays=["0"], take=True)
    assert read_json(output / CLAIM_FILE)["dataset"] == "d"


def test_a_symlinked_output_inside_the_input_is_refused(tmp_path, example_copy):
    source = example_copy("image-with-labels")
    (tmp_path / "link").symlink_to(source)
    sheet = plan_sheet(
        [settings_for("d", source, tmp_path / "link" / "out.ome.zarr")], tmp_path / "results"
    )
    assert "the input is never written to" in sheet.entries[0].error
    assert not (source / "out.ome.zarr").exists()
