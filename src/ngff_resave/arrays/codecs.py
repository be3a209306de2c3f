"""Zarr v2 compressors and their Zarr v3 codec forms; named output codecs; array metadata.

The output array's ``zarr.json`` is built here, once, from the plan, so every convert job of a
level writes the same bytes and readers never depend on which job ran first.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ngff_resave.model.patterns import CODEC_SPELLING, NAMED_CODEC

if TYPE_CHECKING:
    from ngff_resave.model.plan import PlannedArray

BLOSC_SHUFFLE = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle"}
DEFAULT_REENCODE = "blosc-zstd-5"


class CodecError(ValueError):
    pass


V3_NAMES = {"b": "bool", "i": "int", "u": "uint", "f": "float"}


def v3_data_type(dtype: str) -> tuple[str, str | None]:
    """The v3 ``data_type`` name and the byte order (None for one-byte types) of a v2 dtype
    string such as ``<u2`` (byte order, kind, item size)."""
    order, kind, size = dtype[0], dtype[1], int(dtype[2:])
    name = "bool" if kind == "b" else f"{V3_NAMES[kind]}{8 * size}"
    if size == 1 or order == "|":
        return name, None
    return name, "big" if order == ">" else "little"


def v3_fill_value(fill_value: Any, dtype: str) -> Any:
    """v2 allows ``null`` (no fill value); v3 needs a concrete one, so null becomes zero."""
    kind = dtype[1]
    if fill_value is None:
        return False if kind == "b" else (0.0 if kind == "f" else 0)
    if kind == "f" and isinstance(fill_value, str):
        return fill_value  # "NaN", "Infinity", "-Infinity" are spelled the same in v3
    if kind == "f":
        value = float(fill_value)
        return (
            value
            if math.isfinite(value)
            else ("NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity"))
        )
    if kind == "b":
        return bool(fill_value)
    return int(fill_value)


def compressor_to_v3(compressor: dict[str, Any] | None, itemsize: int) -> list[dict[str, Any]]:
    """The v3 codecs after ``bytes`` that read a v2 chunk written by this compressor byte for
    byte; raises CodecError when there is no such core v3 codec (zlib, lz4, lzma, ...)."""
    if compressor is None:
        return []
    codec_id = compressor.get("id")
    if codec_id == "blosc":
        shuffle = int(compressor.get("shuffle", 1))
        if shuffle == -1:  # numcodecs AUTOSHUFFLE: bit shuffle for 1-byte types, else byte shuffle
            shuffle = 2 if itemsize == 1 else 1
        return [
            {
                "name": "blosc",
                "configuration": {
                    "cname": compressor.get("cname", "lz4"),
                    "clevel": int(compressor.get("clevel", 5)),
                    "shuffle": BLOSC_SHUFFLE[shuffle],
                    "typesize": itemsize,
                    "blocksize": int(compressor.get("blocksize", 0)),
                },
            }
        ]
    if codec_id == "zstd":
        return [
            {
                "name": "zstd",
                "configuration": {
                    "level": int(compressor.get("level", 0)),
                    "checksum": bool(compressor.get("checksum", False)),
                },
            }
        ]
    if codec_id == "gzip":
        return [{"name": "gzip", "configuration": {"level": int(compressor.get("level", 1))}}]
    raise CodecError(f"compressor {codec_id!r} has no core Zarr v3 form")


def named_codec(name: str, itemsize: int) -> list[dict[str, Any]]:
    """The v3 codecs (after ``bytes``) for a sheet/config name such as ``blosc-zstd-5``."""
    match = NAMED_CODEC.match(name)
    if not match:
        raise CodecError(f"unknown codec {name!r}: use {CODEC_SPELLING}")
    if match["none"]:
        return []
    if match["cname"]:
        return compressor_to_v3(
            {
                "id": "blosc",
                "cname": match["cname"],
                "clevel": int(match["blosc_level"]),
                "shuffle": -1,
            },
            itemsize,
        )
    if match["zstd_level"]:
        return compressor_to_v3({"id": "zstd", "level": int(match["zstd_level"])}, itemsize)
    return compressor_to_v3({"id": "gzip", "level": int(match["gzip_level"])}, itemsize)


def output_codecs(
    compressor: dict[str, Any] | None, filters: Any, itemsize: int, codec: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The compressor codecs of the output and, when they differ from the input's, why."""
    if codec != "keep":
        return named_codec(codec, itemsize), f"codec {codec} asked for"
    note = "v2 filters have no v3 form" if filters else None
    try:
        return compressor_to_v3(compressor, itemsize), note
    except CodecError as err:
        return named_codec(DEFAULT_REENCODE, itemsize), f"{err}; written as {DEFAULT_REENCODE}"


def array_metadata(
    *,
    shape: list[int],
    dtype: str,
    chunks: list[int],
    shards: list[int] | None,
    compressor_codecs: list[dict[str, Any]],
    fill_value: Any,
    dimension_names: list[str],
    order: str = "C",
    attributes: dict[str, Any] | None = None,
    v2_separator: str | None = None,
) -> dict[str, Any]:
    """The Zarr v3 ``zarr.json`` of an output array: sharded; or, with ``shards`` None, one
    whose chunk files are the v2 input's, named by their v2 keys (``v2_separator``)."""
    data_type, endian = v3_data_type(dtype)
    bytes_codec: dict[str, Any] = {"name": "bytes"}
    if endian:
        bytes_codec["configuration"] = {"endian": endian}
    inner: list[dict[str, Any]] = []
    if order == "F":
        # Chunks stored Fortran-ordered read back right through a reversing transpose.
        inner.append(
            {"name": "transpose", "configuration": {"order": list(reversed(range(len(shape))))}}
        )
    inner += [bytes_codec, *compressor_codecs]
    document: dict[str, Any] = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": list(shape),
        "data_type": data_type,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(shards or chunks)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": v3_fill_value(fill_value, dtype),
        "codecs": inner,
        "dimension_names": list(dimension_names),
        "attributes": dict(attributes or {}),
    }
    if shards is None:
        document["chunk_key_encoding"] = {
            "name": "v2",
            "configuration": {"separator": v2_separator or "."},
        }
        return document
    document["codecs"] = [
        {
            "name": "sharding_indexed",
            "configuration": {
                "chunk_shape": list(chunks),
                "codecs": inner,
                "index_codecs": [
                    {"name": "bytes", "configuration": {"endian": "little"}},
                    {"name": "crc32c"},
                ],
                "index_location": "end",
            },
        }
    ]
    return document


def planned_array_metadata(array: PlannedArray) -> dict[str, Any]:
    """The output array's ``zarr.json`` for a planned array (plain JSON data); an array taken
    as it is from a Zarr v3 input keeps the input's (but dimension names and attributes)."""
    if array.output.as_input and array.input.document is not None:
        document = {k: v for k, v in array.input.document.items() if k != "dimension_names"}
        return {
            **document,
            "dimension_names": list(array.dimension_names),
            "attributes": dict(array.attributes),
        }
    referenced = array.mode == "reference"
    return array_metadata(
        shape=array.shape,
        dtype=array.dtype,
        chunks=array.output.chunks,
        shards=None if referenced else array.output.shards,
        v2_separator=array.input.dimension_separator if referenced else None,
        compressor_codecs=array.output.codecs,
        fill_value=array.input.fill_value,
        dimension_names=array.dimension_names,
        order=array.output.order,
        attributes=array.attributes,
    )
