import json

import numpy as np
import zarr
from conftest import run_pipeline, settings_for

from ngff_resave.validation import validate_dataset


def converted(examples, tmp_path, dataset="image-with-labels"):
    return run_pipeline(settings_for(dataset, examples[dataset], tmp_path / "o.ome.zarr"),
                        tmp_path / "r")["plan"]


def failed_checks(plan, **kwargs):
    return validate_dataset(plan, seed=3, **kwargs).to_json()["failed"]


def test_changed_pixels_are_caught(examples, tmp_path):
    plan = converted(examples, tmp_path)
    array = zarr.open_array(str(tmp_path / "o.ome.zarr" / "1"), mode="r+")
    array[0, 0, 0, 5, 5] = array[0, 0, 0, 5, 5] + 1
    assert failed_checks(plan) == ["array 1: values equal the input (full)"]


def test_broken_metadata_is_caught_by_the_ome_models(examples, tmp_path):
    plan = converted(examples, tmp_path)
    path = tmp_path / "o.ome.zarr" / "zarr.json"
    root = json.loads(path.read_text())
    del root["attributes"]["ome"]["multiscales"][0]["axes"]
    path.write_text(json.dumps(root))
    assert any("ome-zarr-models v05 Image" in check for check in failed_checks(plan))


def test_missing_crate_and_dimension_names_are_caught(examples, tmp_path):
    plan = converted(examples, tmp_path)
    (tmp_path / "o.ome.zarr" / "ro-crate-metadata.json").unlink()
    meta_path = tmp_path / "o.ome.zarr" / "0" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["dimension_names"] = ["a", "b", "c", "d", "e"]
    meta_path.write_text(json.dumps(meta))
    failed = failed_checks(plan)
    assert "crate: ro-crate-metadata.json present" in failed
    assert "array 0: dimension_names equal the axes" in failed


def test_incomplete_output_is_invalid(examples, tmp_path):
    plan = converted(examples, tmp_path)
    (tmp_path / "o.ome.zarr" / "zarr.json").unlink()
    assert failed_checks(plan) == ["root zarr.json has ome.version 0.5"]


def test_sample_mode_compares_a_logged_subset(examples, tmp_path):
    plan = converted(examples, tmp_path)
    report = validate_dataset(plan, mode="sample", sample=2, seed=42).to_json()
    assert report["valid"]
    assert {"check": "sample seed", "ok": True, "detail": "42"} in report["checks"]
    # a difference outside every sampled chunk cannot be seen, one inside can
    array = zarr.open_array(str(tmp_path / "o.ome.zarr" / "0"), mode="r+")
    data = array[...]
    array[...] = np.where(data == data, data ^ 1, data)
    assert "array 0: values equal the input (sample)" in failed_checks(plan, mode="sample")
