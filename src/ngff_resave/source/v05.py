"""OME-Zarr 0.5 (and 0.6) in Zarr v3: a group's ``attributes.ome`` into the model's
attributes, an array's ``zarr.json`` into how it is stored (inner chunks, shards, codecs, chunk
keys), and the encoded bytes of its chunks, read without decoding so that they can be moved
into other shards."""

from __future__ import annotations

import json
import math
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import google_crc32c

from ngff_resave.model.plan import InputArray
from ngff_resave.source import v06
from ngff_resave.source.keys import v2_chunk_key, v3_chunk_key
from ngff_resave.source.listing import ListedFiles

if TYPE_CHECKING:
    from ngff_resave.storage import Location

# The OME-Zarr versions read from Zarr v3: 0.5, and 0.6 with its pre-releases (see v06).
VERSIONS = ("0.5", *v06.VERSIONS)
OME_KEYS = ("multiscales", "plate", "well", "bioformats2raw.layout", "labels", "image-label")
# The keys of an ``ome`` block the model keeps beside its own (the metadata writer puts the
# model's OME keys under ``ome``); other keys of the block are listed under this model key, so
# that they go back under ``ome`` too, not beside it.
MODEL_OME_KEYS = (*OME_KEYS, "omero", "series")
OTHER_OME_KEYS = "_other_ome_keys"
EMPTY = 2**64 - 1
V3_KINDS = {"bool": "b", "int": "i", "uint": "u", "float": "f"}


def group_attributes(document: dict[str, Any]) -> tuple[dict[str, Any], str | None, bool]:
    """A v3 group's attributes in the model's form (its ``ome`` block opened, ``version`` out,
    beside the other keys), the version it states, and whether it holds OME metadata outside
    an ``ome`` block (OME-Zarr 0.4 keys over Zarr v3, as some writers made before 0.5)."""
    attributes = document.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise ValueError("attributes is not an object")
    ome = attributes.get("ome")
    if isinstance(ome, dict):
        model = {key: value for key, value in attributes.items() if key != "ome"}
        model.update({key: value for key, value in ome.items() if key != "version"})
        others = [k for k in ome if k not in (*MODEL_OME_KEYS, "version", "_creator")]
        if others:
            model[OTHER_OME_KEYS] = others
        version = ome.get("version")
        return model, None if version is None else str(version), False
    return dict(attributes), None, any(key in attributes for key in OME_KEYS)


def v3_version_problem(version: str) -> str | None:
    """Why an OME-Zarr version stated in Zarr v3 is not read, or None."""
    if version in VERSIONS:
        return None
    if version.startswith("0.6"):
        return (
            f"OME-Zarr version {version!r} in Zarr v3: a pre-release of 0.6 that is not read; "
            f"0.6 is read as released and as its pre-releases {', '.join(v06.PRE_RELEASES)}"
        )
    return (
        f"OME-Zarr version {version!r} in Zarr v3; versions 0.1 to 0.4 (Zarr v2), 0.5 and 0.6 "
        "(Zarr v3) can be converted"
    )


@dataclass
class V3Array:
    """How a Zarr v3 array is stored."""

    dtype: str
    # Its inner chunks (its chunks, when not sharded) and shards.
    chunks: list[int]
    shards: list[int] | None
    order: Literal["C", "F"]
    # The codecs after ``bytes`` of each (inner) chunk, when its chain is one this workflow
    # writes (an optional reversing transpose, bytes, then bytes codecs) and its shard index
    # can be read: then chunks can move into other shards as they are. Else None and why.
    compressor_codecs: list[dict[str, Any]] | None
    not_movable: str
    separator: Literal[".", "/"]
    # The zarr.json without its attributes.
    document: dict[str, Any]

    def input_array(self, fill_value: Any) -> InputArray:
        array = InputArray(
            chunks=self.chunks,
            compressor=None,
            filters=None,
            order=self.order,
            fill_value=fill_value,
            dimension_separator=self.separator,
            zarr_format=3,
            shards=self.shards,
            document=self.document,
        )
        # The document itself, not the copy validation made (the same keys and values): the
        # arrays whose zarr.json has the same bytes share it (the source reads those once), and
        # the plan numbers it once, by identity, instead of comparing each array's in full.
        array.document = self.document
        return array


def _dtype(data_type: Any, endian: str | None) -> str:
    if not isinstance(data_type, str):
        raise ValueError(f"data_type {data_type!r} is not a plain numeric type")
    name = data_type.rstrip("0123456789")
    bits = data_type[len(name) :]
    if name not in V3_KINDS or (name == "bool") != (bits == ""):
        raise ValueError(f"data_type {data_type!r} is not a plain numeric type")
    size = 1 if name == "bool" else int(bits) // 8
    order = "|" if size == 1 else (">" if endian == "big" else "<")
    return f"{order}{V3_KINDS[name]}{size}"


def _chain(
    codecs: list[dict[str, Any]], ndim: int
) -> tuple[str | None, Literal["C", "F"], list[dict[str, Any]] | None]:
    """The endian of a codec chain's ``bytes`` codec, its memory order, and the codecs after
    ``bytes`` (None when something before ``bytes`` is not a reversing transpose)."""
    names = [codec.get("name") for codec in codecs]
    if "bytes" not in names:
        raise ValueError(f"codecs {names} have no 'bytes' codec")
    position = names.index("bytes")
    endian = (codecs[position].get("configuration") or {}).get("endian")
    before = codecs[:position]
    if not before:
        return endian, "C", codecs[position + 1 :]
    order = (before[0].get("configuration") or {}).get("order")
    if len(before) == 1 and names[0] == "transpose" and order == list(reversed(range(ndim))):
        return endian, "F", codecs[position + 1 :]
    return endian, "C", None


def read_array(meta: dict[str, Any]) -> V3Array:
    """How a v3 array ``zarr.json`` stores its array; raises ValueError saying what it cannot
    be read as."""
    if meta.get("node_type") != "array":
        raise ValueError(f"node_type {meta.get('node_type')!r}, expected an array")
    if meta.get("storage_transformers"):
        raise ValueError("storage_transformers are not read")
    grid = meta.get("chunk_grid") or {}
    if grid.get("name") != "regular":
        raise ValueError(f"chunk grid {grid.get('name')!r}; only 'regular' is read")
    ndim = len(integer_sizes(meta.get("shape"), "shape", 0))
    outer = integer_sizes(grid["configuration"].get("chunk_shape"), "chunk_grid chunk_shape", 1)
    codecs = list(meta["codecs"])
    shards = None
    chunks = outer
    problem = ""
    if codecs and codecs[0].get("name") == "sharding_indexed":
        if len(codecs) > 1:
            raise ValueError("codecs after sharding_indexed are not read")
        configuration = codecs[0]["configuration"]
        shards = outer
        chunks = integer_sizes(configuration.get("chunk_shape"), "sharding_indexed chunk_shape", 1)
        index = [c.get("name") for c in configuration.get("index_codecs", [])]
        little = (configuration.get("index_codecs", [{}])[0].get("configuration") or {}).get(
            "endian", "little"
        ) == "little"
        if index not in (["bytes"], ["bytes", "crc32c"]) or not little:
            problem = f"shard index codecs {index} are not read without zarr"
        codecs = list(configuration["codecs"])
        if any(s % c for s, c in zip(shards, chunks, strict=True)):
            raise ValueError(f"shards {shards} are not a whole multiple of chunks {chunks}")
    endian, order, after = _chain(codecs, ndim)
    if after is None:
        problem = problem or "codecs before 'bytes' other than a reversing transpose"
    encoding = meta.get("chunk_key_encoding") or {"name": "default"}
    if encoding.get("name") not in ("default", "v2"):
        raise ValueError(f"chunk_key_encoding {encoding.get('name')!r}")
    default_separator = "/" if encoding["name"] == "default" else "."
    separator = (encoding.get("configuration") or {}).get("separator", default_separator)
    return V3Array(
        dtype=_dtype(meta.get("data_type"), endian),
        chunks=chunks,
        shards=shards,
        order=order,
        compressor_codecs=None if problem else after,
        not_movable=problem,
        separator=separator,
        document={key: value for key, value in meta.items() if key != "attributes"},
    )


def integer_sizes(values: Any, key: str, least: int) -> list[int]:
    """``values`` when a list of integers of at least ``least``, as both Zarr formats have
    shapes and chunk shapes; else a ValueError naming ``key``. A float (even 64.0) would size
    the work and the grid wrongly, or fail only at validation."""
    if not isinstance(values, list) or not all(type(v) is int and v >= least for v in values):
        raise ValueError(f"{key} {json.dumps(values)}: not a list of integers of at least {least}")
    return list(values)


def input_file_key(array: InputArray, coord: tuple[int, ...]) -> str:
    """The key (below the array) of a v3 input's file at ``coord`` of its file grid: its
    shards when sharded, else its chunks."""
    assert array.document is not None
    return v3_chunk_key(array.document.get("chunk_key_encoding") or {"name": "default"}, coord)


class EncodedChunks:
    """The encoded bytes of an input array's chunks, by chunk grid coordinate: a Zarr v2
    array's chunk files; a v3 array's chunk files or the inner chunks of its shards. A few
    shards read last are kept, since neighbouring output shards ask for the same ones."""

    KEPT_SHARDS = 4

    def __init__(self, location: Location, path: str, array: InputArray, reads: int = 1) -> None:
        self.location = location
        self.path = path
        self.array = array
        self.reads = reads
        self.listed = ListedFiles(array)
        # Distinct input files found, for the job's record (validation compares the listing's).
        self.files_found: set[str] = set()
        self._shards: OrderedDict[str, tuple[bytes, list[tuple[int, int]]] | None] = OrderedDict()
        self._lock = threading.Lock()

    def file_coord(self, coord: tuple[int, ...]) -> tuple[int, ...]:
        """The input file grid coordinate of a chunk: its own, or its shard's."""
        array = self.array
        if array.zarr_format == 3 and array.shards is not None:
            per_shard = [s // c for s, c in zip(array.shards, array.chunks, strict=True)]
            return tuple(c // p for c, p in zip(coord, per_shard, strict=True))
        return coord

    def key(self, coord: tuple[int, ...]) -> str:
        """The input file's key (below the array) of a chunk, or for a sharded one its shard."""
        array = self.array
        if array.zarr_format == 2:
            return v2_chunk_key(coord, array.dimension_separator)
        return input_file_key(array, self.file_coord(coord))

    def _read_listed(self, keys: list[str], listed: list[bool]) -> list[bytes | None]:
        """The files at ``keys``, those not listed taken as absent without a request; a listed
        one that reads as absent raises."""
        wanted = [key for key, holds in zip(keys, listed, strict=True) if holds]
        found = iter(self.location.read_many(wanted, self.reads))
        files = []
        for key, holds in zip(keys, listed, strict=True):
            data = next(found) if holds else None
            if holds:
                self.listed.check_found(self.location.child(key), data)
            files.append(data)
        with self._lock:
            self.files_found.update(k for k, d in zip(keys, files, strict=True) if d is not None)
        return files

    def read(
        self, coords: list[tuple[int, ...]], held: dict[str, bytes] | None = None
    ) -> list[bytes | None]:
        """The chunks' bytes (None: not stored, the fill value). ``held`` is given the files
        read (key below the array: bytes), for the shard's read-back to decode."""
        names = [self.key(coord) for coord in coords]
        keys = [f"{self.path}/{name}" for name in names]
        if self.array.shards is None:
            chunks = self._read_listed(keys, [self.listed.holds(c) for c in coords])
            if held is not None:
                held.update((n, c) for n, c in zip(names, chunks, strict=True) if c is not None)
            return chunks
        wanted = list(dict.fromkeys(keys))
        missing = [k for k in wanted if k not in self._shards]
        holds = {
            key: self.listed.holds(self.file_coord(c)) for key, c in zip(keys, coords, strict=True)
        }
        read = self._read_listed(missing, [holds[key] for key in missing])
        found = dict(zip(missing, read, strict=True))
        shards = {}
        for key in wanted:
            shard = shards[key] = self._shard(key, found)
            if held is not None and shard is not None:
                held[key.removeprefix(f"{self.path}/")] = shard[0]
        return [self._inner(shards[key], coord) for key, coord in zip(keys, coords, strict=True)]

    def _shard(
        self, key: str, found: dict[str, bytes | None]
    ) -> tuple[bytes, list[tuple[int, int]]] | None:
        with self._lock:
            if key in self._shards:
                self._shards.move_to_end(key)
                return self._shards[key]
        data = found[key]
        shard = None if data is None else (data, self._index(data, key))
        with self._lock:
            self._shards[key] = shard
            while len(self._shards) > self.KEPT_SHARDS:
                self._shards.popitem(last=False)
        return shard

    def _index(self, data: bytes, key: str) -> list[tuple[int, int]]:
        array = self.array
        assert array.document is not None and array.shards is not None
        configuration = array.document["codecs"][0]["configuration"]
        count = math.prod(s // c for s, c in zip(array.shards, array.chunks, strict=True))
        names = [c.get("name") for c in configuration.get("index_codecs", [])]
        size = 16 * count + (4 if "crc32c" in names else 0)
        if len(data) < size:
            raise ValueError(f"{self.location.child(key)}: shorter than its shard index")
        at_start = configuration.get("index_location", "end") == "start"
        index = data[:size] if at_start else data[len(data) - size :]
        if "crc32c" in names:
            if struct.unpack("<I", index[-4:])[0] != google_crc32c.value(index[:-4]):
                raise ValueError(f"{self.location.child(key)}: the shard index CRC32C differs")
            index = index[:-4]
        values = struct.unpack(f"<{2 * count}Q", index)
        return list(zip(values[0::2], values[1::2], strict=True))

    def _inner(
        self, shard: tuple[bytes, list[tuple[int, int]]] | None, coord: tuple[int, ...]
    ) -> bytes | None:
        if shard is None:
            return None
        data, index = shard
        array = self.array
        assert array.shards is not None
        per_shard = [s // c for s, c in zip(array.shards, array.chunks, strict=True)]
        position = 0
        for c, p in zip(coord, per_shard, strict=True):
            position = position * p + c % p
        offset, nbytes = index[position]
        if (offset, nbytes) == (EMPTY, EMPTY):
            return None
        if offset + nbytes > len(data):
            raise ValueError(f"inner chunk {position} lies outside its shard")
        return data[offset : offset + nbytes]
