import json

import numcodecs
import numpy as np
import pytest
import tensorstore as ts
import zarr

from ngff_resave.arrays.codecs import (
    CodecError,
    array_metadata,
    compressor_to_v3,
    named_codec,
    output_codecs,
    v3_data_type,
    v3_fill_value,
)


def test_v2_compressors_map_to_v3_codecs():
    blosc = numcodecs.Blosc("zstd", 3, numcodecs.Blosc.AUTOSHUFFLE).get_config()
    assert compressor_to_v3(blosc, 1)[0]["configuration"]["shuffle"] == "bitshuffle"
    assert compressor_to_v3(blosc, 2)[0]["configuration"] == {
        "cname": "zstd",
        "clevel": 3,
        "shuffle": "shuffle",
        "typesize": 2,
        "blocksize": 0,
    }
    assert (
        compressor_to_v3({"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 0}, 4)[0][
            "configuration"
        ]["shuffle"]
        == "noshuffle"
    )
    assert compressor_to_v3({"id": "zstd", "level": 7}, 2) == [
        {"name": "zstd", "configuration": {"level": 7, "checksum": False}}
    ]
    assert compressor_to_v3({"id": "gzip", "level": 4}, 2) == [
        {"name": "gzip", "configuration": {"level": 4}}
    ]
    assert compressor_to_v3(None, 2) == []
    with pytest.raises(CodecError, match="zlib"):
        compressor_to_v3({"id": "zlib", "level": 1}, 2)


def test_keep_falls_back_to_a_named_codec_and_says_why():
    codecs, why = output_codecs({"id": "zlib", "level": 1}, None, 2, "keep")
    assert codecs[0]["configuration"]["cname"] == "zstd" and "zlib" in why
    codecs, why = output_codecs(None, [{"id": "delta", "dtype": "<u2"}], 2, "keep")
    assert codecs == [] and "filters" in why
    assert output_codecs({"id": "gzip", "level": 1}, None, 2, "keep") == (
        [{"name": "gzip", "configuration": {"level": 1}}],
        None,
    )
    assert named_codec("none", 2) == []
    with pytest.raises(CodecError, match="unknown codec"):
        named_codec("brotli-3", 2)


def test_dtype_and_fill_value():
    assert v3_data_type(">u2") == ("uint16", "big")
    assert v3_data_type("<f4") == ("float32", "little")
    assert v3_data_type("|u1") == ("uint8", None)
    assert v3_fill_value(None, "<f4") == 0.0
    assert v3_fill_value(None, "<u2") == 0
    assert v3_fill_value("NaN", "<f8") == "NaN"
    assert v3_fill_value(7, "<i4") == 7


@pytest.mark.parametrize("dtype", ["<u2", ">u2", "|u1", "<f4", ">i4"])
@pytest.mark.parametrize(
    "compressor",
    [
        None,
        {"id": "zstd", "level": 3},
        {"id": "gzip", "level": 1},
        {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 2, "blocksize": 0},
    ],
)
def test_array_metadata_reads_the_same_in_zarr_python_and_tensorstore(tmp_path, dtype, compressor):
    """The hand-built zarr.json is what two independent readers agree on."""
    itemsize = np.dtype(dtype).itemsize
    meta = array_metadata(
        shape=[5, 70, 45],
        dtype=dtype,
        chunks=[1, 32, 32],
        shards=[2, 64, 64],
        compressor_codecs=compressor_to_v3(compressor, itemsize),
        fill_value=None,
        dimension_names=["z", "y", "x"],
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "zarr.json").write_text(json.dumps(meta))
    data = (np.arange(5 * 70 * 45) % 251).astype(dtype).reshape(5, 70, 45)
    array = zarr.open_array(zarr.storage.LocalStore(tmp_path / "a"), mode="r+")
    array[...] = data
    assert array.metadata.dimension_names == ("z", "y", "x")
    store = ts.open(
        {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path / "a")}}, open=True
    ).result()
    np.testing.assert_array_equal(store.read().result(), data)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "a"), mode="r")[...], data)
