"""Arrays that are not image levels (AnnData tables under an image, masks, measurements):
migrated to Zarr v3 by zarr-python, values read from the v2 array and written again, with
their attributes; variable-length strings and bytes keep their values through zarr-python's
``vlen-utf8`` and ``vlen-bytes`` codecs. Such arrays are small next to the pixels, so they are
not sharded and go in the metadata step."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from ngff_resave.model.plan import ExtraArray
from ngff_resave.storage import Location

LOG = logging.getLogger(__name__)

# Values copied per write: whole chunks up to about this many bytes at a time.
BLOCK_BYTES = 64 * 2**20


def _blocks(
    shape: tuple[int, ...], chunks: tuple[int, ...], itemsize: int
) -> Iterator[tuple[slice, ...]]:
    """Regions of whole chunks along the first axis, about ``BLOCK_BYTES`` each."""
    if not shape:
        yield ()
        return
    row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * max(itemsize, 1))
    rows = max(chunks[0], BLOCK_BYTES // row_bytes // chunks[0] * chunks[0])
    for start in range(0, shape[0], rows):
        yield (slice(start, min(start + rows, shape[0])),) + tuple(slice(0, n) for n in shape[1:])


def _open_pair(source: Location, target: Location, path: str) -> tuple[Any, Any]:
    import zarr

    src = zarr.open_array(source.zarr_store(read_only=True), path=path, mode="r", zarr_format=2)
    dst = zarr.open_array(target.zarr_store(read_only=True), path=path, mode="r", zarr_format=3)
    return src, dst


def migrate(source: Location, target: Location, extra: ExtraArray) -> None:
    """Write the v3 form of one non-image array, values and attributes."""
    import zarr

    path = extra.path
    src = zarr.open_array(source.zarr_store(read_only=True), path=path, mode="r", zarr_format=2)
    dst = zarr.create_array(
        target.zarr_store(read_only=False),
        name=path,
        shape=src.shape,
        dtype=src.metadata.dtype,
        chunks=src.chunks,
        fill_value=src.fill_value,
        attributes=extra.attributes,
        overwrite=True,
        zarr_format=3,
    )
    for region in _blocks(src.shape, src.chunks, src.dtype.itemsize):
        dst[region] = src[region]
    LOG.info(
        "array %s migrated to Zarr v3 (%s, shape %s)", path, src.metadata.dtype, list(src.shape)
    )


def differences(source: Location, target: Location, extra: ExtraArray) -> str:
    """Empty when the migrated array reads back equal to the input (values, attributes);
    else the first difference."""
    src, dst = _open_pair(source, target, extra.path)
    if tuple(dst.shape) != tuple(src.shape):
        return f"shape {list(dst.shape)}, input {list(src.shape)}"
    if dict(dst.attrs) != extra.attributes:
        return "attributes differ from the input's .zattrs"
    numeric = np.dtype(src.dtype).kind in "biufc"
    for region in _blocks(src.shape, src.chunks, src.dtype.itemsize):
        want, got = src[region], dst[region]
        same = (
            np.array_equal(want, got, equal_nan=np.dtype(src.dtype).kind in "fc")
            if numeric
            else all(a == b for a, b in zip(np.ravel(want), np.ravel(got), strict=True))
        )
        if not same:
            where = ",".join(f"{r.start}:{r.stop}" for r in region)
            return f"values differ in [{where}]"
    return ""
