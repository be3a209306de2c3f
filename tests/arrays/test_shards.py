"""Copy mode: shards assembled from compressed v2 chunks read identically through zarr-python,
tensorstore and the zarrs codec pipeline in strict mode."""

import struct

import google_crc32c
import numcodecs
import numpy as np
import pytest
import zarr
from conftest import run_pipeline, settings_for
from v2_images import COMPRESSORS, read_three_ways, write_v2_image

from ngff_resave.arrays.shards import EMPTY, assemble_shard, inner_chunk_coords, v3_shard_key


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
@pytest.mark.parametrize(
    ("dtype", "order", "separator"),
    [
        ("<u2", "C", "/"),
        (">u2", "C", "."),
        ("<f4", "F", "/"),
        ("|u1", "F", "."),
        (">i4", "F", "/"),
    ],
)
def test_copied_shards_read_identically_everywhere(tmp_path, name, dtype, order, separator):
    expected = write_v2_image(tmp_path / "in.zarr", COMPRESSORS[name], dtype, order, separator)
    result = run_pipeline(
        settings_for("d", tmp_path / "in.zarr", tmp_path / "out.zarr", shards=[1, 2, 4, 64, 40]),
        tmp_path / "records",
    )
    array = result.plan.arrays[0]
    assert array.mode == "copy", array.reason
    assert result.records[0]["bytes_read"] > 0
    for got in read_three_ways(tmp_path / "out.zarr" / "0"):
        np.testing.assert_array_equal(got, expected)
    assert result.report.valid, result.report.failed


def test_copy_writes_the_input_bytes_unchanged(tmp_path):
    write_v2_image(tmp_path / "in.zarr", COMPRESSORS["zstd"], drop=0)
    run_pipeline(
        settings_for("d", tmp_path / "in.zarr", tmp_path / "out.zarr", shards=[1, 1, 2, 32, 20]),
        tmp_path / "r",
    )
    shard = (tmp_path / "out.zarr" / "0" / "c" / "0" / "1" / "0" / "0" / "0").read_bytes()
    assert shard.startswith((tmp_path / "in.zarr" / "0" / "0" / "1" / "0" / "0" / "0").read_bytes())


@pytest.mark.parametrize(
    ("codec", "compressor", "dtype", "order", "chunks", "why", "engine"),
    [
        ("keep", numcodecs.Zlib(level=1), ">u2", "F", None, "zlib", "chunk transcode"),
        (
            "blosc-zstd-5",
            COMPRESSORS["zstd"],
            "<f4",
            "C",
            None,
            "codec blosc-zstd-5 asked for",
            "chunk transcode",
        ),
        (
            "gzip-3",
            COMPRESSORS["blosc-lz4-shuffle"],
            "|u1",
            "F",
            None,
            "codec gzip-3",
            "chunk transcode",
        ),
        ("none", COMPRESSORS["gzip"], "<u2", "C", None, "codec none", "chunk transcode"),
        (
            "keep",
            COMPRESSORS["zstd"],
            ">u2",
            "F",
            [1, 1, 1, 32, 20],
            "chunk shape changes",
            "tensorstore",
        ),
        # Some chunk files missing: zarr-python reads it, checking each against the listing
        # (tensorstore would read a listed chunk that went missing as the fill value).
        (
            "keep",
            COMPRESSORS["zstd"],
            ">u2",
            "F",
            [1, 1, 1, 32, 20],
            "chunk shape changes",
            "zarr-python",
        ),
    ],
)
def test_reencode_and_why(tmp_path, codec, compressor, dtype, order, chunks, why, engine):
    # Two chunk files never written, but where tensorstore reads (it needs every one).
    drop = 0 if engine == "tensorstore" else 2
    expected = write_v2_image(tmp_path / "in.zarr", compressor, dtype, order, drop=drop)
    result = run_pipeline(
        settings_for("d", tmp_path / "in.zarr", tmp_path / "out.zarr", codec=codec, chunks=chunks),
        tmp_path / "r",
    )
    array = result.plan.arrays[0]
    assert array.mode == "reencode" and why in array.reason
    assert result.records[0]["arrays"][0]["engine"] == engine
    for got in read_three_ways(tmp_path / "out.zarr" / "0"):
        np.testing.assert_array_equal(got, expected)
    assert result.report.valid, result.report.failed


@pytest.mark.parametrize(
    ("chunks", "engine"), [(None, "chunk transcode"), ([1, 1, 1, 16, 16], "zarr-python")]
)
def test_filters_force_reencode(tmp_path, chunks, engine):
    root = tmp_path / "in.zarr"
    write_v2_image(root, COMPRESSORS["zstd"])
    array = zarr.create_array(
        zarr.storage.LocalStore(root),
        name="0",
        shape=(1, 2, 3, 70, 45),
        chunks=(1, 1, 2, 32, 20),
        dtype="<u2",
        zarr_format=2,
        filters=[numcodecs.Delta(dtype="<u2")],
        compressors=numcodecs.Zstd(level=1),
        overwrite=True,
    )
    expected = (np.arange(2 * 3 * 70 * 45) % 1000).astype("<u2").reshape(1, 2, 3, 70, 45)
    array[...] = expected
    result = run_pipeline(
        settings_for("d", root, tmp_path / "out.zarr", chunks=chunks), tmp_path / "r"
    )
    assert result.plan.arrays[0].mode == "reencode"
    assert "filters" in result.plan.arrays[0].reason
    assert result.records[0]["arrays"][0]["engine"] == engine
    for got in read_three_ways(tmp_path / "out.zarr" / "0"):
        np.testing.assert_array_equal(got, expected)
    assert result.report.valid, result.report.failed


def test_shard_layout_by_hand():
    shard = b"".join(assemble_shard([b"abc", None, b"de"]))
    index = struct.unpack("<6Q", shard[5:53])
    assert shard[:5] == b"abcde"
    assert index == (0, 3, EMPTY, EMPTY, 3, 2)
    assert struct.unpack("<I", shard[53:])[0] == google_crc32c.value(shard[5:53])
    assert assemble_shard([None, None]) is None


def test_edge_shards_list_every_inner_chunk():
    # shape 5 with chunk 2 and shard 4: the second shard holds chunk 2 and a missing chunk 3
    assert list(inner_chunk_coords([5], [2], [4], 1)) == [(2,), None]
    assert v3_shard_key([5, 9], [4, 4], 5) == "c/1/2"


def test_shards_left_from_an_earlier_plan_are_not_read(tmp_path):
    """An unfinished output taken up again under other shards: every old shard file that the
    new plan does not rewrite is removed, so nothing stale is read."""
    expected = write_v2_image(tmp_path / "in.zarr", COMPRESSORS["zstd"], drop=6)
    out = tmp_path / "out.zarr"
    run_pipeline(
        settings_for("d", tmp_path / "in.zarr", out, shards=[1, 1, 2, 32, 20]), tmp_path / "r1"
    )
    (out / "zarr.json").unlink()
    result = run_pipeline(
        settings_for("d", tmp_path / "in.zarr", out, shards=[1, 1, 2, 64, 40]), tmp_path / "r2"
    )
    assert result.report.valid, result.report.failed
    for got in read_three_ways(out / "0"):
        np.testing.assert_array_equal(got, expected)


def test_tensorstore_is_only_chosen_for_compressors_it_reads(tmp_path):
    expected = write_v2_image(tmp_path / "in.zarr", numcodecs.LZ4())
    result = run_pipeline(
        settings_for("d", tmp_path / "in.zarr", tmp_path / "out.zarr", chunks=[1, 1, 1, 16, 16]),
        tmp_path / "r",
    )
    assert result.records[0]["arrays"][0]["engine"] == "zarr-python"
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "out.zarr" / "0"))[...], expected)
