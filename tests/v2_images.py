"""Zarr v2 OME-Zarr 0.4 images written for the tests, in every compressor that copy and
reference modes read as they are, and the three independent ways to read a v3 array."""

import json

import numcodecs
import numpy as np
import tensorstore as ts
import zarr

COMPRESSORS = {
    "blosc-lz4-shuffle": numcodecs.Blosc("lz4", 5, numcodecs.Blosc.SHUFFLE),
    "blosc-zstd-bitshuffle": numcodecs.Blosc("zstd", 3, numcodecs.Blosc.BITSHUFFLE),
    "blosc-lz4-noshuffle": numcodecs.Blosc("lz4", 1, numcodecs.Blosc.NOSHUFFLE),
    "blosc-autoshuffle": numcodecs.Blosc("zstd", 1, numcodecs.Blosc.AUTOSHUFFLE),
    "blosc-zlib-shuffle": numcodecs.Blosc("zlib", 4, numcodecs.Blosc.SHUFFLE),
    "blosc-blosclz-bitshuffle": numcodecs.Blosc("blosclz", 9, numcodecs.Blosc.BITSHUFFLE),
    "blosc-lz4hc-shuffle": numcodecs.Blosc("lz4hc", 2, numcodecs.Blosc.SHUFFLE),
    "zstd": numcodecs.Zstd(level=3),
    "zstd-checksum": numcodecs.Zstd(level=1, checksum=True),
    "gzip": numcodecs.GZip(level=4),
    "none": None,
}


def write_v2_image(
    root,
    compressor,
    dtype="<u2",
    order="C",
    separator="/",
    shape=(1, 2, 3, 70, 45),
    chunks=(1, 1, 2, 32, 20),
    drop=2,
):
    """A one-level OME-Zarr 0.4 image whose chunks do not divide the shape and some of whose
    chunks were never written."""
    rng = np.random.default_rng(0)
    data = (rng.integers(0, 400, size=shape) + np.arange(shape[-1])).astype(dtype)
    array = zarr.create_array(
        zarr.storage.LocalStore(root),
        name="0",
        shape=shape,
        chunks=chunks,
        dtype=np.dtype(dtype),
        compressors=compressor,
        order=order,
        zarr_format=2,
        fill_value=0,
        chunk_key_encoding={"name": "v2", "separator": separator},
    )
    array[...] = data
    for path in sorted(
        p for p in (root / "0").rglob("*") if p.is_file() and not p.name.startswith(".")
    )[:drop]:
        path.unlink()
    axes = [
        {"name": n, "type": t}
        for n, t in zip("tczyx", ["time", "channel", "space", "space", "space"], strict=True)
    ]
    (root / ".zgroup").write_text('{"zarr_format": 2}')
    (root / ".zattrs").write_text(
        json.dumps(
            {
                "multiscales": [
                    {
                        "version": "0.4",
                        "axes": axes[-len(shape) :],
                        "datasets": [
                            {
                                "path": "0",
                                "coordinateTransformations": [
                                    {"type": "scale", "scale": [1.0] * len(shape)}
                                ],
                            }
                        ],
                    }
                ]
            }
        )
    )
    return zarr.open_array(str(root / "0"), mode="r", zarr_format=2)[...]


def read_three_ways(path):
    by_zarr = zarr.open_array(str(path), mode="r")[...]
    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}
    by_tensorstore = ts.open(spec, open=True).result().read().result()
    with zarr.config.set(
        {"codec_pipeline.path": "zarrs.ZarrsCodecPipeline", "codec_pipeline.strict": True}
    ):
        by_zarrs = zarr.open_array(str(path), mode="r")[...]
    return by_zarr, by_tensorstore, by_zarrs
