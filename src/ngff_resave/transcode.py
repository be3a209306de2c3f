"""Chunk transcoding: re-encode each chunk's bytes without building arrays.

When only the codec changes (same chunk shape), a chunk is decoded by its v2 compressor and
filters into the raw chunk bytes (in the input's byte and memory order) and encoded by the
output compressor; the shard is then assembled like a copied one. No region is assembled, so
this costs little more than the compression itself, and it reads through the storage layer,
so it works on every store.
"""

from __future__ import annotations

from typing import Any

import numcodecs
import numpy as np
from numcodecs.abc import Codec

SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def v3_compressor_to_numcodecs(codecs: list[dict[str, Any]]) -> Codec | None:
    """The numcodecs codec that writes what a v3 compressor codec (blosc/zstd/gzip) reads."""
    if not codecs:
        return None
    (codec,) = codecs
    config = codec.get("configuration", {})
    if codec["name"] == "blosc":
        return numcodecs.Blosc(
            cname=config["cname"],
            clevel=config["clevel"],
            shuffle=SHUFFLE[config["shuffle"]],
            blocksize=config.get("blocksize", 0),
        )
    if codec["name"] == "zstd":
        return numcodecs.Zstd(level=config["level"], checksum=config.get("checksum", False))
    if codec["name"] == "gzip":
        return numcodecs.GZip(level=config["level"])
    raise ValueError(f"no numcodecs form for v3 codec {codec['name']!r}")


class ChunkTranscoder:
    """Turns one encoded v2 chunk of an array into an encoded v3 inner chunk."""

    def __init__(self, array: dict[str, Any]) -> None:
        source = array["input"]
        self.dtype = np.dtype(array["dtype"])
        self.decompressor = (
            numcodecs.get_codec(source["compressor"]) if source["compressor"] else None
        )
        self.filters = [numcodecs.get_codec(f) for f in source["filters"] or []]
        self.compressor = v3_compressor_to_numcodecs(array["output"]["codecs"])

    def __call__(self, encoded: bytes) -> bytes:
        data: Any = encoded
        if self.decompressor is not None:
            data = self.decompressor.decode(data)
        for codec in reversed(self.filters):
            data = codec.decode(data)
        # A typed view, so blosc shuffles by the item size, not by bytes.
        values = np.frombuffer(memoryview(data).cast("B"), dtype=self.dtype)
        if self.compressor is None:
            return values.tobytes()
        return bytes(self.compressor.encode(values))
