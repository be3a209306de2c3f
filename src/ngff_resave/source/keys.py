"""Chunk file keys: Zarr v2's (``1.0.3``, ``1/0/3``) and Zarr v3's chunk key encodings."""

from __future__ import annotations

from typing import Any


def v2_chunk_key(coord: tuple[int, ...], separator: str) -> str:
    """The key of a v2 chunk file (``1/0/3`` or ``1.0.3``) from its grid coordinates."""
    return separator.join(map(str, coord)) if coord else "0"


def v3_chunk_key(encoding: dict[str, Any], coord: tuple[int, ...]) -> str:
    """The key of a chunk (or shard) file under a v3 ``chunk_key_encoding``."""
    configuration = encoding.get("configuration") or {}
    if encoding.get("name") == "v2":
        return v2_chunk_key(coord, configuration.get("separator", "."))
    return configuration.get("separator", "/").join(["c", *map(str, coord)])
