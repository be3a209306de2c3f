"""The command line as the rules call it: exit codes, and what a failure leaves behind."""

import json
import logging
import shutil

import pytest
from conftest import read_json, run_pipeline, settings_for

from ngff_resave.cli import main
from ngff_resave.planning import PlanSettings


def plan_args(settings: PlanSettings, plan_path) -> list[str]:
    values = {**settings.__dict__, "overwrite": False}
    return ["plan", "--settings", json.dumps(values), "--plan", str(plan_path)]


def test_metadata_that_0_5_rejects_stops_the_plan(example_copy, tmp_path, caplog):
    root = example_copy("image-with-labels")
    attrs = json.loads((root / ".zattrs").read_text())
    for axis in attrs["multiscales"][0]["axes"]:
        axis.pop("type")  # allowed in 0.4 (SHOULD), rejected by the 0.5 models
    (root / ".zattrs").write_text(json.dumps(attrs))
    settings = settings_for("img", root, tmp_path / "out.zarr")
    assert main(plan_args(settings, tmp_path / "plan.json")) == 2
    assert "dataset 'img'" in caplog.text and "would not be valid OME-Zarr 0.5" in caplog.text
    assert not (tmp_path / "plan.json").exists() and not (tmp_path / "out.zarr").exists()


@pytest.mark.parametrize(("damage", "arrays_redone"), [("crate", False), ("pixels", True)])
def test_an_invalid_dataset_leaves_records_for_what_must_be_redone(examples, tmp_path, damage,
                                                                    arrays_redone):
    out = tmp_path / "out.zarr"
    result = run_pipeline(settings_for("img", examples["image-with-labels"], out),
                          tmp_path / "convert")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(result["plan"]))
    (tmp_path / "metadata.json").write_text("{}")
    if damage == "crate":
        (out / "ro-crate-metadata.json").unlink()
    else:
        shutil.rmtree(out / "2" / "c")
    records = sorted(str(p) for p in (tmp_path / "convert").glob("*.json"))
    code = main(["validate", "--plan", str(plan), "--report", str(tmp_path / "report.json"),
                 "--log-report", str(tmp_path / "log-report.json"),
                 "--metadata-record", str(tmp_path / "metadata.json"),
                 "--convert-records", *records])
    assert code == 1
    assert read_json(tmp_path / "log-report.json")["valid"] is False
    assert not (out / "zarr.json").exists() and not (tmp_path / "metadata.json").exists()
    remaining = sorted(str(p) for p in (tmp_path / "convert").glob("*.json"))
    assert remaining == ([] if arrays_redone else records)


def test_a_valid_dataset_keeps_everything(examples, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    out = tmp_path / "out.zarr"
    result = run_pipeline(settings_for("img", examples["plate"], out), tmp_path / "convert")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(result["plan"]))
    assert main(["validate", "--plan", str(plan), "--report", str(tmp_path / "r.json")]) == 0
    assert (out / "zarr.json").exists() and read_json(tmp_path / "r.json")["valid"]
