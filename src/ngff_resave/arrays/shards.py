"""Writing shards from compressed chunks, without decoding them.

A Zarr v2 chunk compressed with blosc, zstd or gzip (or not at all) is byte for byte an inner
chunk of a v3 ``sharding_indexed`` array whose codecs are ``[bytes, <same compressor>]``, so a
shard is the chunks' bytes one after another followed by the index: one ``(offset, nbytes)``
pair of little-endian uint64 per inner chunk, in C order, then the CRC32C of the index
(``index_codecs: [bytes little-endian, crc32c]``, ``index_location: end``). A missing chunk is
the pair (2^64-1, 2^64-1) and reads as the fill value. No library writes shards from raw chunk
bytes, so this module does; the tests read its shards back with zarr-python and tensorstore.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Iterator

import google_crc32c

from ngff_resave.model.plan import PlannedArray
from ngff_resave.source.keys import v2_chunk_key
from ngff_resave.source.listing import parse
from ngff_resave.source.v05 import input_file_key

EMPTY = 2**64 - 1


def grid_of(shape: list[int], block: list[int]) -> list[int]:
    """How many blocks (chunks or shards) cover each axis."""
    return [-(-n // b) for n, b in zip(shape, block, strict=True)]


def unravel(index: int, grid: list[int]) -> list[int]:
    """C-order coordinates of a linear index (numpy's unravel_index, without numpy)."""
    coords = []
    for extent in reversed(grid):
        index, coord = divmod(index, extent)
        coords.append(coord)
    return coords[::-1]


def shard_count(shape: list[int], shards: list[int]) -> int:
    return math.prod(grid_of(shape, shards))


def shard_slices(shape: list[int], shards: list[int], index: int) -> tuple[slice, ...]:
    """The region of the shard with C-order linear ``index`` in the shard grid."""
    coords = unravel(index, grid_of(shape, shards))
    return tuple(
        slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(coords, shards, shape, strict=True)
    )


def inner_chunk_coords(
    shape: list[int], chunks: list[int], shards: list[int], shard_index: int
) -> Iterator[tuple[int, ...] | None]:
    """The global chunk coordinates of every inner chunk of one shard, in C order; None for
    inner chunks past the array's edge (an edge shard is still a whole shard)."""
    per_shard = [s // c for s, c in zip(shards, chunks, strict=True)]
    chunk_grid = grid_of(shape, chunks)
    shard_coord = unravel(shard_index, grid_of(shape, shards))
    first = [i * p for i, p in zip(shard_coord, per_shard, strict=True)]
    for local in itertools.product(*(range(p) for p in per_shard)):
        coord = tuple(f + offset for f, offset in zip(first, local, strict=True))
        yield coord if all(c < g for c, g in zip(coord, chunk_grid, strict=True)) else None


def input_files(array: PlannedArray, index: int) -> list[str]:
    """The input's files (keys below the array) that block or shard ``index`` of an array
    taken as it is consists of: v2 chunk files of a referenced array; a Zarr v3 input's chunk
    files, or its one shard file."""
    source, output = array.input, array.output
    if source.zarr_format == 3 and source.shards is not None:
        return [input_file_key(source, tuple(unravel(index, grid_of(array.shape, source.shards))))]
    coords = inner_chunk_coords(array.shape, output.chunks, output.shards, index)
    if source.zarr_format == 3:
        return [input_file_key(source, c) for c in coords if c is not None]
    return [v2_chunk_key(c, source.dimension_separator) for c in coords if c is not None]


def shards_with_files(array: PlannedArray) -> set[int] | None:
    """The output shards (blocks, for an array taken as it is) that overlap an input file the
    listing found; None when every input file is there or the input was not listed. The other
    shards hold only the fill value: no job reads or writes them."""
    source = array.input
    if source.present is None:
        return None
    files = source.shards if source.zarr_format == 3 and source.shards else source.chunks
    shards = array.output.shards
    grid = grid_of(array.shape, shards)
    found = set()
    for text in source.present:
        ranges = [
            range(c * n // s, (min((c + 1) * n, size) - 1) // s + 1)
            for c, n, s, size in zip(parse(text), files, shards, array.shape, strict=True)
        ]
        for coord in itertools.product(*ranges):
            index = 0
            for c, extent in zip(coord, grid, strict=True):
                index = index * extent + c
            found.add(index)
    return found


def v3_shard_key(shape: list[int], shards: list[int], shard_index: int) -> str:
    """The default v3 chunk key (``c/i/j/...``) of a shard."""
    return "/".join(["c", *map(str, unravel(shard_index, grid_of(shape, shards)))])


def assemble_shard(chunks: list[bytes | None]) -> list[bytes] | None:
    """A whole shard from inner chunks' encoded bytes (None = missing), as the parts to write
    one after another (no joined copy); None when all are missing, so no shard file is written
    and the region reads as the fill value."""
    if all(chunk is None for chunk in chunks):
        return None
    index = []
    offset = 0
    for chunk in chunks:
        if chunk is None:
            index += [EMPTY, EMPTY]
        else:
            index += [offset, len(chunk)]
            offset += len(chunk)
    index_bytes = struct.pack(f"<{len(index)}Q", *index)
    checksum = struct.pack("<I", google_crc32c.value(index_bytes))
    return [*(c for c in chunks if c is not None), index_bytes, checksum]


def index_bytes(count: int) -> int:
    """The size of the index at the end of a shard of ``count`` inner chunks (with its CRC32C)."""
    return 16 * count + 4


def shard_entries(data: bytes, count: int, where: str) -> list[tuple[int, int]]:
    """The ``(offset, nbytes)`` pairs of the index at the end of a shard this workflow wrote,
    after checking their CRC32C and that each lies within the chunk bytes."""
    return index_entries(data[-index_bytes(count) :], len(data), count, where)


def index_entries(tail: bytes, total: int, count: int, where: str) -> list[tuple[int, int]]:
    """:func:`shard_entries` from the shard's last bytes ``tail`` (at least its index) and its
    size ``total``, the rest of it unread."""
    size = index_bytes(count)
    if total < size or len(tail) < size:
        raise ValueError(f"{where}: {total} bytes, shorter than its index ({size} bytes)")
    index = tail[-size:-4]
    if struct.unpack("<I", tail[-4:])[0] != google_crc32c.value(index):
        raise ValueError(f"{where}: the CRC32C of the shard index does not match")
    values = struct.unpack(f"<{2 * count}Q", index)
    entries = list(zip(values[0::2], values[1::2], strict=True))
    end = total - size
    for number, (offset, nbytes) in enumerate(entries):
        if (offset, nbytes) != (EMPTY, EMPTY) and offset + nbytes > end:
            raise ValueError(f"{where}: inner chunk {number} lies outside the chunk bytes")
    return entries
