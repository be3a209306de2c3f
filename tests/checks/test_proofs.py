"""The default proof: each shard read back and compared by the job that writes it, the records
checked against storage, a sample re-read on both sides. Each way a conversion can go wrong
fails, whether it happens while the shard is written or after."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from conftest import run_pipeline, settings_for

from ngff_resave.arrays import convert
from ngff_resave.arrays.shards import v3_shard_key
from ngff_resave.checks.validation import validate_dataset
from ngff_resave.cli.examples import ArrayStyle, fluorescence, write_image
from ngff_resave.storage import LocalLocation

# 256x256 in chunks of 64 and shards of 128: four shards of four chunks each.
SHAPE = (1, 1, 1, 256, 256)


def image(tmp_path: Path, compressor: dict | None = None) -> Path:
    source = tmp_path / "in.ome.zarr"
    style = ArrayStyle(
        chunks=(1, 1, 1, 64, 64), **({"compressor": compressor} if compressor else {})
    )
    write_image(source, fluorescence(SHAPE, "<u2", seed=4), 1, style, "img")
    return source


def convert_image(tmp_path: Path, **settings):
    source = image(tmp_path, settings.pop("compressor", None))
    output = tmp_path / "o.ome.zarr"
    row = settings_for("d", source, output, shards=[1, 1, 1, 128, 128], **settings)
    return run_pipeline(row, tmp_path / "r"), output


def value_check(report: dict, array: str = "0", mode: str = "full") -> dict:
    return next(
        c
        for c in report["checks"]
        if c["check"] == f"array {array}: values equal the input ({mode})"
    )


def proof_of(records: list[dict], array: str = "0") -> dict:
    (entry,) = [a for r in records for a in r["arrays"] if a["path"] == array]
    return entry["proof"]


def revalidate(run, mode: str = "full", sample: int = 8) -> dict:
    return validate_dataset(run.plan, mode, sample, 7, 2, run.records).to_json()


def shard_path(output: Path, index: int) -> Path:
    return output / "0" / v3_shard_key(list(SHAPE), [1, 1, 1, 128, 128], index)


def test_every_shard_is_read_back_as_written_and_recorded(tmp_path):
    run, output = convert_image(tmp_path)
    assert run.report.valid, run.report.failed
    proof = proof_of(run.records)
    assert proof["shards_compared"] == 4 and proof["problem"] is None
    # The record names each shard file with the size it has on storage.
    assert {k: v[0] for k, v in proof["files"].items()} == {
        str(p.relative_to(output / "0")): p.stat().st_size
        for p in (output / "0" / "c").rglob("*")
        if p.is_file()
    }
    detail = value_check(run.report.to_json())["detail"]
    assert detail.startswith("4 shards read back by zarr-python") and "sampled" in detail


@pytest.mark.parametrize(
    "settings",
    [{}, {"codec": "blosc-zstd-5"}, {"chunks": [1, 1, 1, 32, 32]}],
    ids=["shard copy", "chunk transcode", "re-encode"],
)
def test_each_engine_records_its_proof(tmp_path, settings):
    run, _ = convert_image(tmp_path, **settings)
    assert run.report.valid, run.report.failed
    engines = {a["engine"] for r in run.records for a in r["arrays"]}
    assert len(engines) == 1
    assert proof_of(run.records)["shards_compared"] == 4


def test_a_corrupt_input_chunk_fails(tmp_path):
    source = image(tmp_path)
    chunk = source / "0" / "0" / "0" / "0" / "1" / "1"
    chunk.write_bytes(b"\xff" * chunk.stat().st_size)  # not a blosc chunk any more
    run = run_pipeline(
        settings_for("d", source, tmp_path / "o.ome.zarr", shards=[1, 1, 1, 128, 128]),
        tmp_path / "r",
    )
    assert run.report.failed == ["array 0: values equal the input (full)"]
    assert "cannot be read back" in value_check(run.report.to_json())["detail"]


def test_a_shard_written_into_the_wrong_place_fails(tmp_path, monkeypatch):
    def shifted(shape, shards, index):
        return v3_shard_key(shape, shards, (index + 1) % 4)

    monkeypatch.setattr(convert, "v3_shard_key", shifted)
    run, _ = convert_image(tmp_path)
    detail = value_check(run.report.to_json())["detail"]
    # zarr-python finds no shard at its key, or the shard of another region there.
    assert not run.report.valid
    assert "zarr-python finds no shard there" in detail or "not the input chunk's bytes" in detail


def test_a_shard_corrupted_as_it_is_written_fails(tmp_path, flip_written_byte):
    flip_written_byte("c/0/0/0/1/1", 10)
    run, _ = convert_image(tmp_path)
    assert not run.report.valid
    assert proof_of(run.records)["problem"].endswith(
        "0/c/0/0/0/1/1: inner chunk 0 is not the input chunk's bytes"
    )


def test_a_shard_lost_as_it_is_written_fails(tmp_path, monkeypatch):
    write_parts = LocalLocation.write_parts

    def losing(self, path, parts):
        if not path.endswith("c/0/0/0/0/1"):
            write_parts(self, path, parts)

    monkeypatch.setattr(LocalLocation, "write_parts", losing)
    run, _ = convert_image(tmp_path)
    assert not run.report.valid
    assert proof_of(run.records)["problem"].endswith(
        "0/c/0/0/0/0/1 is missing: zarr-python finds no shard there"
    )


def test_a_wrong_codec_in_zarr_json_fails_as_written(tmp_path, monkeypatch):
    metadata = convert.planned_array_metadata

    def other_codec(array):
        meta = copy.deepcopy(metadata(array))
        inner = meta["codecs"][0]["configuration"]["codecs"]
        inner[-1] = {"name": "zstd", "configuration": {"level": 3, "checksum": False}}
        return meta

    monkeypatch.setattr(convert, "planned_array_metadata", other_codec)
    run, _ = convert_image(tmp_path)
    # The metadata step writes the planned zarr.json over it; the shards read back wrong.
    assert run.report.failed == ["array 0: values equal the input (full)"]
    assert "Zstd decompression error" in proof_of(run.records)["problem"]


@pytest.mark.parametrize("mode", ["full", "sample"])
def test_a_shard_missing_after_conversion_fails_without_reading_it(tmp_path, mode):
    run, output = convert_image(tmp_path)
    shard_path(output, 2).unlink()
    detail = value_check(revalidate(run, mode), mode=mode)["detail"]
    assert detail == f"{output}/0/c/0/0/0/1/0 is missing"


def test_a_truncated_or_added_shard_fails_from_the_listing(tmp_path):
    run, output = convert_image(tmp_path)
    shard = shard_path(output, 3)
    data = shard.read_bytes()
    shard.write_bytes(data[:-1])
    assert "holds" in value_check(revalidate(run, sample=1))["detail"]
    shard.write_bytes(data)
    (output / "0" / "c" / "0" / "0" / "0" / "9").mkdir()
    (output / "0" / "c" / "0" / "0" / "0" / "9" / "9").write_bytes(data)
    detail = value_check(revalidate(run, sample=1))["detail"]
    assert detail == f"{output}/0/c/0/0/0/9/9 is not a file the convert jobs wrote"


def test_a_shard_changed_after_conversion_fails_where_sampled_and_in_reread(tmp_path):
    run, output = convert_image(tmp_path)
    shard = shard_path(output, 1)
    data = bytearray(shard.read_bytes())
    data[20] ^= 0xFF  # same size: the listing cannot see it
    shard.write_bytes(bytes(data))
    # 16 input chunks, all sampled: the shard is read, its CRC32C is not the recorded one.
    assert (
        "is not the file its convert job wrote" in value_check(revalidate(run, sample=16))["detail"]
    )
    reread = revalidate(run, mode="reread")
    assert not value_check(reread, mode="reread")["ok"]


def test_a_wrong_codec_after_conversion_fails(tmp_path):
    run, output = convert_image(tmp_path)
    meta_path = output / "0" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["codecs"][0]["configuration"]["codecs"][-1] = {
        "name": "zstd",
        "configuration": {"level": 3, "checksum": False},
    }
    meta_path.write_text(json.dumps(meta))
    report = revalidate(run, sample=1)
    assert "array 0: codecs, fill value and chunk keys as planned" in report["failed"]
    assert "array 0: values equal the input (full)" in report["failed"]


def test_changed_pixels_in_a_sampled_chunk_fail(tmp_path):
    run, output = convert_image(tmp_path)
    array = zarr.open_array(str(output / "0"), mode="r+")
    array[0, 0, 0, 70, 70] = array[0, 0, 0, 70, 70] + 1
    assert not value_check(revalidate(run, sample=16))["ok"]


def test_without_records_every_chunk_is_read_and_reread_ignores_them(tmp_path):
    run, _ = convert_image(tmp_path)
    for records, mode in (([], "full"), (run.records, "reread")):
        report = validate_dataset(run.plan, mode, 8, 7, 2, records).to_json()
        detail = value_check(report, mode=mode)["detail"]
        assert detail.startswith("4 shards decoded; every inner chunk byte-identical"), detail


def test_records_of_other_pixels_prove_nothing(tmp_path):
    run, _ = convert_image(tmp_path)
    records = [dict(r, pixels_digest="other") for r in run.records]
    detail = value_check(validate_dataset(run.plan, "full", 8, 7, 2, records).to_json())["detail"]
    assert detail.startswith("4 shards decoded")


def test_a_part_without_its_proof_leaves_the_array_to_be_read_whole(tmp_path):
    run, _ = convert_image(tmp_path)
    records = json.loads(json.dumps(run.records))
    records[0]["arrays"][0]["proof"]["shards_compared"] = 3
    detail = value_check(validate_dataset(run.plan, "full", 8, 7, 2, records).to_json())["detail"]
    assert detail.startswith("4 shards decoded")
    assert np.array_equal(
        zarr.open_array(str(tmp_path / "o.ome.zarr" / "0"))[:],
        zarr.open_array(str(tmp_path / "in.ome.zarr" / "0"))[:],
    )


@pytest.mark.parametrize("sharded", [True, False], ids=["shards", "chunk files"])
def test_a_zarr_v3_file_corrupted_as_it_is_copied_fails(tmp_path, monkeypatch, sharded):
    from v05_inputs import image as v05_image

    source = v05_image(tmp_path / "in.ome.zarr", sharded=sharded, labels=False)
    write_parts = LocalLocation.write_parts

    def flipping(self, path, parts):
        data = b"".join(parts)
        if "/c/" in path and path.startswith("0/"):
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        write_parts(self, path, [data])

    monkeypatch.setattr(LocalLocation, "write_parts", flipping)
    run = run_pipeline(settings_for("d", source, tmp_path / "o.ome.zarr"), tmp_path / "r")
    assert {a["engine"] for r in run.records for a in r["arrays"]} == {"file copy"}
    assert run.report.failed == ["array 0: values equal the input (full)"]
    # zarr-python's read-back of the region fails on it (a checksum, or the codec)
    assert f"{tmp_path}/o.ome.zarr/0 [" in proof_of(run.records)["problem"]


def test_records_without_proofs_leave_the_plan_undigested(tmp_path, monkeypatch):
    """Links and arrays left in place have no proof: their records are not weighed, so the plan
    (tens of MB for a plate) is not digested for them; records with proofs still are."""
    from ngff_resave.checks.proofs import gather_proofs
    from ngff_resave.model.plan import Plan

    run, _ = convert_image(tmp_path)
    unproven = json.loads(json.dumps(run.records))
    for record in unproven:
        for entry in record["arrays"]:
            entry.pop("proof", None)
    digested = []
    original = Plan.pixels_digest
    monkeypatch.setattr(Plan, "pixels_digest", lambda self: digested.append(1) or original(self))
    plan = run.plan.model_copy()
    assert gather_proofs(plan, unproven) == {} and not digested
    assert set(gather_proofs(plan, run.records)) == {a.path for a in plan.arrays}
    assert digested == [1]
