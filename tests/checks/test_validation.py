import json
import struct
from pathlib import Path

import numpy as np
import pytest
import zarr
from conftest import run_pipeline, settings_for

from ngff_resave.arrays.shards import EMPTY, assemble_shard
from ngff_resave.checks.validation import validate_dataset
from ngff_resave.cli.examples import ArrayStyle, fluorescence, write_image


def converted(examples, tmp_path, dataset="image-with-labels", **settings):
    return run_pipeline(
        settings_for(dataset, examples[dataset], tmp_path / "o.ome.zarr", **settings),
        tmp_path / "r",
    ).plan


def failed_checks(plan, **kwargs):
    return validate_dataset(plan, seed=3, **kwargs).to_json()["failed"]


def shard_chunks(shard: Path, count: int) -> list[bytes | None]:
    """The inner chunks' bytes of a shard written with the index at the end (None: empty)."""
    data = shard.read_bytes()
    index = struct.unpack(f"<{2 * count}Q", data[-16 * count - 4 : -4])
    return [
        None if offset == EMPTY else data[offset : offset + nbytes]
        for offset, nbytes in zip(index[0::2], index[1::2], strict=True)
    ]


def rewrite_shard(shard: Path, chunks: list[bytes | None]) -> None:
    """A consistent shard again (index and CRC32C recomputed) around changed chunks."""
    parts = assemble_shard(chunks)
    assert parts is not None
    shard.write_bytes(b"".join(parts))


def inner_count(output: Path, array: str) -> int:
    meta = json.loads((output / array / "zarr.json").read_text())
    shards = meta["chunk_grid"]["configuration"]["chunk_shape"]
    chunks = meta["codecs"][0]["configuration"]["chunk_shape"]
    return int(np.prod([s // c for s, c in zip(shards, chunks, strict=True)]))


def first_shard(output: Path, array: str) -> Path:
    return output / array / "c" / "0" / "0" / "0" / "0" / "0"


def test_changed_pixels_are_caught(examples, tmp_path):
    plan = converted(examples, tmp_path)
    array = zarr.open_array(str(tmp_path / "o.ome.zarr" / "1"), mode="r+")
    array[0, 0, 0, 5, 5] = array[0, 0, 0, 5, 5] + 1
    assert failed_checks(plan) == ["array 1: values equal the input (full)"]


@pytest.mark.parametrize("dataset", ["image-with-labels", "plate", "bioformats2raw"])
def test_examples_validate_in_both_modes(examples, tmp_path, dataset):
    plan = converted(examples, tmp_path, dataset)
    for mode in ("full", "sample"):
        report = validate_dataset(plan, mode=mode, sample=2, seed=5).to_json()
        assert report["valid"], report["failed"]
        assert report["failed_arrays"] == report["failed_groups"] == []
        models = [c["check"] for c in report["checks"] if "ome-zarr-models" in c["check"]]
        assert models, "the OME groups were validated"
    if dataset == "plate":
        assert "ome-zarr-models v05 HCS (plate, wells, fields)" in models
        assert "ome-zarr-models v05 Well B/2" in models
        assert "ome-zarr-models v05 Image B/2/1" in models


@pytest.mark.parametrize("mode", ["full", "sample"])
def test_a_corrupt_copied_chunk_fails_and_names_only_its_array(examples, tmp_path, mode):
    plan = converted(examples, tmp_path)
    output = tmp_path / "o.ome.zarr"
    shard = first_shard(output, "labels/cells/1")
    chunks = shard_chunks(shard, inner_count(output, "labels/cells/1"))
    index = next(i for i, c in enumerate(chunks) if c is not None)
    chunks[index] = b"\xff" * len(chunks[index])  # same length, not a blosc chunk any more
    rewrite_shard(shard, chunks)
    # sample=0 compares no chunk with the input: decoding every output chunk still fails it
    report = validate_dataset(plan, mode=mode, sample=0, seed=3).to_json()
    assert report["failed"] == [f"array labels/cells/1: values equal the input ({mode})"]
    assert report["failed_arrays"] == ["labels/cells/1"]
    assert report["failed_groups"] == []
    detail = next(c["detail"] for c in report["checks"] if not c["ok"])
    assert ("differs from" if mode == "full" else "cannot read") in detail


def uncompressed_image(tmp_path: Path) -> Path:
    """An image whose chunks are stored raw: every chunk has the same length."""
    source = tmp_path / "raw.ome.zarr"
    data = fluorescence((1, 1, 1, 128, 128), "<u2", seed=3)
    write_image(source, data, 1, ArrayStyle(chunks=(1, 1, 1, 64, 64), compressor=None), "raw")
    return source


def test_swapped_inner_chunks_of_equal_length_fail(tmp_path):
    source = uncompressed_image(tmp_path)
    output = tmp_path / "o.ome.zarr"
    plan = run_pipeline(settings_for("raw", source, output), tmp_path / "r").plan
    assert validate_dataset(plan, seed=1).valid
    shard = first_shard(output, "0")
    chunks = shard_chunks(shard, inner_count(output, "0"))
    assert len(chunks) == 4 and len({len(c or b"") for c in chunks}) == 1
    assert chunks[0] != chunks[3]
    chunks[0], chunks[3] = chunks[3], chunks[0]
    rewrite_shard(shard, chunks)
    # still a readable array: only the comparison with the input sees it
    assert zarr.open_array(str(output / "0"), mode="r")[...].shape == (1, 1, 1, 128, 128)
    report = validate_dataset(plan, seed=1).to_json()
    assert report["failed"] == ["array 0: values equal the input (full)"]
    assert report["failed_arrays"] == ["0"]
    assert "inner chunk 0 " in next(c["detail"] for c in report["checks"] if not c["ok"])


def test_a_dropped_inner_chunk_fails(examples, tmp_path):
    plan = converted(examples, tmp_path)
    output = tmp_path / "o.ome.zarr"
    shard = first_shard(output, "2")
    chunks = shard_chunks(shard, inner_count(output, "2"))
    chunks[-1] = None  # reads as the fill value now
    rewrite_shard(shard, chunks)
    report = validate_dataset(plan, seed=3).to_json()
    assert report["failed_arrays"] == ["2"]
    assert "is missing; the input has" in next(c["detail"] for c in report["checks"] if not c["ok"])


def test_codecs_that_differ_from_the_plan_fail(examples, tmp_path):
    plan = converted(examples, tmp_path)
    path = tmp_path / "o.ome.zarr" / "0" / "zarr.json"
    meta = json.loads(path.read_text())
    blosc = meta["codecs"][0]["configuration"]["codecs"][-1]
    assert blosc["name"] == "blosc"
    blosc["configuration"]["clevel"] += 1  # reads the same bytes, but is not the plan
    path.write_text(json.dumps(meta))
    report = validate_dataset(plan, seed=3).to_json()
    assert report["failed"] == ["array 0: codecs, fill value and chunk keys as planned"]
    assert report["failed_arrays"] == ["0"]


def test_an_image_missing_a_level_array_is_named(examples, tmp_path):
    plan = converted(examples, tmp_path, "plate")
    (tmp_path / "o.ome.zarr" / "B" / "1" / "0" / "1" / "zarr.json").unlink()
    report = validate_dataset(plan, seed=3).to_json()
    assert "ome-zarr-models v05 Image B/1/0" in report["failed"]
    detail = next(
        c["detail"] for c in report["checks"] if c["check"] == "ome-zarr-models v05 Image B/1/0"
    )
    assert "B/1/0/1" in detail
    # the image's well and plate fail with it, as ome-zarr-models' from_zarr would, naming it
    assert "ome-zarr-models v05 Well B/1" in report["failed"]
    assert "'B/1/0'" in next(
        c["detail"] for c in report["checks"] if c["check"] == "ome-zarr-models v05 Well B/1"
    )
    assert "ome-zarr-models v05 Image B/1/1" not in report["failed"]
    assert "B/1/0" in report["failed_groups"]
    assert report["failed_arrays"] == ["B/1/0/1"]


def test_an_image_label_with_the_wrong_level_count_is_caught(examples, tmp_path):
    plan = converted(examples, tmp_path)
    path = tmp_path / "o.ome.zarr" / "labels" / "cells" / "zarr.json"
    meta = json.loads(path.read_text())
    meta["attributes"]["ome"]["multiscales"][0]["datasets"].pop()
    path.write_text(json.dumps(meta))
    report = validate_dataset(plan, seed=3).to_json()
    assert report["failed"] == ["ome-zarr-models v05 Image"]
    assert report["failed_groups"] == [""]
    assert "multiscale levels (2)" in next(c["detail"] for c in report["checks"] if not c["ok"])


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
    # every output chunk changed, each still a valid chunk: a sampled chunk differs
    array = zarr.open_array(str(tmp_path / "o.ome.zarr" / "0"), mode="r+")
    data = array[...]
    array[...] = np.where(data == data, data ^ 1, data)
    assert "array 0: values equal the input (sample)" in failed_checks(plan, mode="sample")


@pytest.mark.parametrize(
    "settings",
    [{"codec": "zstd-3"}, {"chunks": [1, 1, 1, 32, 32]}],
    ids=["transcoded", "rechunked"],
)
def test_reencoded_arrays_are_compared_by_value(examples, tmp_path, settings):
    plan = converted(examples, tmp_path, "bioformats2raw", **settings)
    modes = {a.mode for a in plan.arrays}
    assert modes == {"reencode"}
    for mode in ("full", "sample"):
        assert validate_dataset(plan, mode=mode, sample=64, seed=1).valid
    array = zarr.open_array(str(tmp_path / "o.ome.zarr" / "1" / "0"), mode="r+")
    array[0, 0, 0, 3, 4] = array[0, 0, 0, 3, 4] + 1
    for mode in ("full", "sample"):
        report = validate_dataset(plan, mode=mode, sample=64, seed=1).to_json()
        assert report["failed"] == [f"array 1/0: values equal the input ({mode})"]
        assert report["failed_arrays"] == ["1/0"]


def test_a_corrupt_reencoded_chunk_fails_in_sample_mode(examples, tmp_path):
    plan = converted(examples, tmp_path, "image-with-labels", codec="gzip-5")
    output = tmp_path / "o.ome.zarr"
    shard = first_shard(output, "1")
    chunks = shard_chunks(shard, inner_count(output, "1"))
    chunks[0] = b"\x00" * len(chunks[0] or b"")
    rewrite_shard(shard, chunks)
    report = validate_dataset(plan, mode="sample", sample=0, seed=1).to_json()
    assert report["failed_arrays"] == ["1"]
