"""Conversion through the package, read back by two independent readers."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import tensorstore as ts
import zarr
from conftest import FIXTURE_KINDS, read_json, run_pipeline, settings_for


def assert_same_pixels(plan):
    """Every array of the output equals the input, read by zarr-python and by tensorstore."""
    for array in plan.arrays:
        source = zarr.open_array(f"{plan.input}/{array.path}", mode="r", zarr_format=2)
        expected = source[...]
        output = f"{plan.output}/{array.path}"
        np.testing.assert_array_equal(
            zarr.open_array(output, mode="r")[...], expected, err_msg=array.path
        )
        spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": output}}
        np.testing.assert_array_equal(
            ts.open(spec, open=True).result().read().result(), expected, err_msg=array.path
        )
        meta = read_json(Path(output) / "zarr.json")
        assert meta["dimension_names"] == array.dimension_names


@pytest.mark.parametrize("dataset", ["image-with-labels", "plate", "bioformats2raw"])
def test_every_example_kind_converts_bit_identically(examples, tmp_path, dataset):
    output = tmp_path / f"{dataset}.ome.zarr"
    result = run_pipeline(settings_for(dataset, examples[dataset], output), tmp_path / "records")
    assert result.report.valid, result.report.failed
    assert_same_pixels(result.plan)
    root = read_json(output / "zarr.json")
    assert root["attributes"]["ome"]["version"] == "0.5"
    assert (output / "ro-crate-metadata.json").is_file()


@pytest.mark.parametrize("name", sorted(FIXTURE_KINDS))
def test_every_challenge_fixture_converts(challenge_fixtures, tmp_path, name):
    output = tmp_path / f"{name}.ome.zarr"
    result = run_pipeline(
        settings_for(name, challenge_fixtures / f"{name}.zarr", output), tmp_path / "records"
    )
    assert result.plan.kind == FIXTURE_KINDS[name]
    assert result.report.valid, result.report.failed
    assert_same_pixels(result.plan)
    if name != "2d":
        assert (output / "OME" / "METADATA.ome.xml").read_bytes() == (
            challenge_fixtures / f"{name}.zarr" / "OME" / "METADATA.ome.xml"
        ).read_bytes()


def test_input_is_never_modified(examples, tmp_path):
    source = examples["plate"]
    before = {p: p.stat().st_mtime_ns for p in source.rglob("*")}
    contents = {p: p.read_bytes() for p in source.rglob("*") if p.is_file()}
    run_pipeline(settings_for("plate", source, tmp_path / "out.ome.zarr"), tmp_path / "r")
    assert {p: p.stat().st_mtime_ns for p in source.rglob("*")} == before
    assert {p: p.read_bytes() for p in source.rglob("*") if p.is_file()} == contents


def test_a_level_split_in_parts_writes_each_shard_once(examples, tmp_path):
    settings = settings_for(
        "img",
        examples["image-with-labels"],
        tmp_path / "o.ome.zarr",
        shards=[1, 1, 1, 64, 64],
        part_target_bytes=40_000,
    )
    result = run_pipeline(settings, tmp_path / "r")
    level0 = [j for j in result.plan.jobs if j.level == 0]
    assert len(level0) > 2
    # Every shard once: written, or holding no input chunk file (the label's empty tiles).
    written = sum(r["shards_written"] for r in result.records if r["level"] == 0)
    empty = sum(r["shards_empty"] for r in result.records if r["level"] == 0)
    assert written + empty == sum(a.shards for a in result.plan.arrays if a.level == 0)
    assert empty > 0 and written > 0
    assert result.report.valid, result.report.failed
    assert_same_pixels(result.plan)


def test_reencode_to_a_named_codec_and_explicit_chunks(examples, tmp_path):
    settings = settings_for(
        "b",
        examples["bioformats2raw"],
        tmp_path / "o.ome.zarr",
        codec="blosc-zstd-5",
        chunks=[1, 1, 1, 16, 16],
        shards=[1, 1, 1, 32, 32],
    )
    result = run_pipeline(settings, tmp_path / "r")
    meta = read_json(tmp_path / "o.ome.zarr" / "0" / "0" / "zarr.json")
    sharding = meta["codecs"][0]["configuration"]
    assert sharding["chunk_shape"] == [1, 1, 1, 16, 16]
    assert sharding["codecs"][-1]["configuration"]["cname"] == "zstd"
    assert result.report.valid
    assert_same_pixels(result.plan)


def test_job_record_and_progress_lines(examples, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="ngff_resave")
    result = run_pipeline(
        settings_for("img", examples["image-with-labels"], tmp_path / "o.ome.zarr"), tmp_path / "r"
    )
    record = json.loads((tmp_path / "r" / "img" / "convert" / "0-0.json").read_text())
    for key in (
        "arrays",
        "shards_written",
        "bytes_read",
        "bytes_written",
        "seconds",
        "peak_memory_bytes",
    ):
        assert key in record
    assert record["bytes_read"] > 0 and record["bytes_written"] > 0
    assert record == result.records[0]
    progress = [r.message for r in caplog.records if "shards (" in r.message]
    assert progress and all("MB/s" in m and "ETA" in m for m in progress)


def test_missing_input_chunks_stay_missing_and_read_as_fill(examples, tmp_path):
    # the example image has one chunk never written at level 0
    result = run_pipeline(
        settings_for("img", examples["image-with-labels"], tmp_path / "o.ome.zarr"), tmp_path / "r"
    )
    source = zarr.open_array(f"{examples['image-with-labels']}/0", mode="r", zarr_format=2)
    assert source.nchunks_initialized < source.nchunks
    assert result.report.valid
