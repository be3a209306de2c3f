import json

import pandas as pd
from conftest import settings_for

from ngff_resave.report import catalog
from ngff_resave.report.catalog import COLUMNS, human_bytes, write_run_catalog
from ngff_resave.sheet.plan import plan_sheet
from ngff_resave.steps.pack import run_dataset


def test_catalog_columns_values_and_failures(examples, tmp_path, example_copy):
    results, logs = tmp_path / "results", tmp_path / "logs"
    broken = example_copy("image-with-labels")
    (broken / ".zattrs").write_text("{}")  # not OME-Zarr: fails at planning
    rows = [
        settings_for(d, examples[d], tmp_path / f"{d}.ome.zarr", origin="https://o")
        for d in ("plate", "image-with-labels")
    ]
    rows.append(settings_for("broken", broken, tmp_path / "broken.ome.zarr"))
    sheet = plan_sheet(rows, results)
    (results / "plan.json").write_bytes(sheet.to_bytes())
    for dataset in ("plate", "image-with-labels"):
        assert run_dataset(dataset, results, logs, 1, "full", 8).write(results)
    ok, summary = write_run_catalog(results, "https://host/bucket/")
    assert not ok and "2 of 3 datasets converted and valid; 1 failed" in summary
    assert "FAILED broken (input defect, rule plan)" in summary
    read = pd.read_csv(results / "catalog.csv", dtype=str, keep_default_na=False)
    assert list(read.columns) == COLUMNS
    assert COLUMNS[:15] == [
        "url",
        "written",
        "written_human_readable",
        "origin",
        "shape",
        "shards",
        "chunks",
        "dimension_names",
        "license",
        "name",
        "description",
        "organismId",
        "fbbiId",
        "wells",
        "images",
    ]
    assert COLUMNS[-5:] == ["valid", "validated", "mended", "skipped", "error"]
    plate, image, failed = read.to_dict(orient="records")
    assert plate["url"] == "https://host/bucket/plate.ome.zarr"
    assert plate["wells"] == "4" and plate["images"] == "8"
    assert image["wells"] == "" and image["images"] == ""
    assert image["shape"] == "1,2,3,150,130" and image["dimension_names"] == "t,c,z,y,x"
    assert plate["organismId"] == "NCBI:txid9606" and plate["fbbiId"] == "obo:FBbi_00000369"
    assert plate["kind"] == "plate" and plate["valid"] == "True"
    assert plate["validated"] == "full" and plate["error"] == ""
    assert int(plate["written"]) > 0 and int(plate["read"]) > 0
    assert plate["written_human_readable"] == human_bytes(int(plate["written"]))
    assert image["levels"] == "3" and image["arrays"] == "6" and image["dtype"] == "uint16"
    assert failed["dataset"] == "broken" and failed["valid"] == "False"
    assert failed["url"] == "https://host/bucket/broken.ome.zarr"
    assert "dataset 'broken'" in failed["error"] and "not OME-Zarr" in failed["error"]
    failures = pd.read_csv(results / "failed.tsv", sep="\t", dtype=str)
    assert list(failures.columns) == ["dataset", "rule", "log", "failure", "error"]
    assert failures.loc[0, "dataset"] == "broken" and failures.loc[0, "failure"] == "input defect"


def test_the_catalog_takes_each_plan_summary_its_job_recorded(examples, tmp_path, monkeypatch):
    """The row is the same from the summary recorded with the outcome, which spares reading a
    plate's plan (tens of MB); an outcome without one (an earlier version's) reads the plan."""
    results, logs = tmp_path / "results", tmp_path / "logs"
    rows = [
        settings_for(d, examples[d], tmp_path / f"{d}.ome.zarr")
        for d in ("plate", "image-with-labels")
    ]
    sheet = plan_sheet(rows, results)
    (results / "plan.json").write_bytes(sheet.to_bytes())
    for dataset in ("plate", "image-with-labels"):
        assert run_dataset(dataset, results, logs, 1, "full", 8).write(results).exists()
    write_run_catalog(results, None)
    from_plans = (results / "catalog.csv").read_bytes()
    read_plans = []
    real = catalog.read_plan_summary
    monkeypatch.setattr(
        catalog, "read_plan_summary", lambda path: read_plans.append(path) or real(path)
    )
    write_run_catalog(results, None)
    assert read_plans == []
    assert (results / "catalog.csv").read_bytes() == from_plans
    outcome = results / "plate" / "validation.json"
    recorded = json.loads(outcome.read_text())
    assert recorded["summary"]["array_count"] == 16
    outcome.write_text(json.dumps({**recorded, "summary": {}}))
    write_run_catalog(results, None)
    assert read_plans == [results / "plate" / "plan.json"]
    assert (results / "catalog.csv").read_bytes() == from_plans


def test_human_bytes_matches_the_challenge_spelling():
    assert human_bytes(512) == "512.00 B"
    assert human_bytes(417816396) == "398.46 MB"


def test_many_items_skipped_for_one_reason_are_counted_in_the_catalog():
    from ngff_resave.model.plan import InventoryItem
    from ngff_resave.report.catalog import _skipped_lines

    outside = "chunk outside the array's grid [1, 4, 4]"
    items = [
        InventoryItem(path=f"0/0/9/{i}", kind="file", action="skip", reason=outside)
        for i in range(1000)
    ]
    items.append(
        InventoryItem(
            path="0/notes.txt", kind="file", action="skip", reason="not a chunk key of this array"
        )
    )
    assert _skipped_lines(items) == [
        f"1000 items (e.g. 0/0/9/0): {outside}",
        "0/notes.txt: not a chunk key of this array",
    ]
