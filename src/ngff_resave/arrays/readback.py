"""Each shard proven as it is written: the bytes storage holds at its key known to be the bytes
written, those bytes decoded by zarr-python, and compared with the input it was made from,
which the job still holds, so the input is read once. The files proven are recorded (size and
CRC32C of the very bytes zarr-python decoded), for validation to check against storage later
without reading them again.

That storage holds the bytes written is known one of two ways, recorded per shard:

* ``read back``: the file read again from storage, and what zarr-python decodes is what it
  read (local disk, and servers that keep no checksum);
* ``server checksum``: the server's own checksum of the object at the key, asked right after
  the upload (a HEAD), equals the CRC32C of the bytes sent, and its size theirs (S3's
  additional checksums, :meth:`~ngff_resave.storage.Location.write_proven`); then zarr-python
  decodes the bytes written, from memory, and the shard is not downloaded again.

zarr-python finds each file by its own key and index and decodes every chunk with the
``zarr.json`` as stored, so a chunk that does not decode fails and a shard written at another
key is not found. A decoded shard (re-encoded) is read chunk by chunk (:class:`ShardDecoder`):
zarr-python's key, store, index and codecs, without its array machinery's per-chunk costs.
What it is compared with depends on how the shard was made:

* inner chunks copied as they are (``shard copy``): each inner chunk of the file zarr-python
  read is the input chunk's bytes (the codecs are the input's, which validation checks);
* files copied as they are (``file copy``): the files zarr-python read are the input's files;
* chunks transcoded (``chunk transcode``): the values zarr-python reads equal the input's as
  zarr-python reads it (:meth:`Readback.input_chunks`: its chunk keys, the input files the job
  read served from memory by :class:`HeldStore`, any other read from the input, its codecs),
  which is also what the transcoder encoded, so each input chunk is decoded once;
* regions re-encoded (the re-encoders): the values zarr-python reads equal the input's, as the
  re-encoder read them. The re-encoders write through zarr-python or tensorstore, so their
  shards are always read back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import google_crc32c
import numpy as np
import zarr
from zarr.abc.codec import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec, SupportsSyncCodec
from zarr.abc.store import (
    ByteRequest,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    SuffixByteRequest,
)
from zarr.codecs._v2 import V2Codec
from zarr.codecs.sharding import ShardingCodec, _ShardReader
from zarr.core.array_spec import ArrayConfig, ArraySpec
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.core.chunk_grids import RegularChunkGrid
from zarr.core.chunk_key_encodings import parse_chunk_key_encoding
from zarr.core.codec_pipeline import BatchedCodecPipeline, fill_value_or_default
from zarr.core.metadata import ArrayV3Metadata
from zarr.core.sync import sync
from zarr.storage import StorePath, WrapperStore

from ngff_resave.arrays.reencode import stored_keys, v3_compressor_to_numcodecs
from ngff_resave.arrays.shards import EMPTY, shard_entries
from ngff_resave.model.plan import PlannedArray
from ngff_resave.storage import READ_BACK, SERVER_CHECKSUM, Location

LOG = logging.getLogger(__name__)


def _cut(data: bytes, byte_range: ByteRequest | None) -> bytes:
    if byte_range is None:
        return data
    if isinstance(byte_range, RangeByteRequest):
        return data[byte_range.start : byte_range.end]
    if isinstance(byte_range, OffsetByteRequest):
        return data[byte_range.offset :]
    if isinstance(byte_range, SuffixByteRequest):
        return data[max(0, len(data) - byte_range.suffix) :]
    raise TypeError(f"byte range {byte_range!r}")


class HeldStore(WrapperStore[Store]):
    """The input's store, with the files a job already read served from memory. Any other key
    (metadata, a chunk the job found absent) is read from the input, so a chunk the job
    missed is still seen."""

    def __init__(self, store: Store, held: dict[str, bytes]) -> None:
        super().__init__(store)
        self.held = held

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        data = self.held.get(key)
        if data is None:
            return await super().get(key, prototype, byte_range)
        return prototype.buffer.from_bytes(_cut(data, byte_range))


class RecordingStore(WrapperStore[Store]):
    """A store that keeps every file zarr-python reads, whole (key: bytes).

    zarr-python reads a shard it decodes only in part (an edge shard: its index, then each
    chunk) in ranges; here the file is read whole once and the ranges are cut from those bytes.
    So what is recorded of a file (size, CRC32C) is of the bytes zarr-python decoded, not of a
    second read that could see another file, and each file costs one request."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.whole: dict[str, bytes] = {}
        self._absent: set[str] = set()
        # Per key, so that concurrent ranges of one file wait for its one read.
        self._reading: dict[str, asyncio.Lock] = {}

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        lock = self._reading.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self.whole and key not in self._absent:
                buffer = await super().get(key, prototype)
                if buffer is None:
                    self._absent.add(key)
                else:
                    self.whole[key] = buffer.to_bytes()
        data = self.whole.get(key)
        if data is None:
            return None
        return prototype.buffer.from_bytes(_cut(data, byte_range))


def file_digest(data: bytes) -> tuple[int, int]:
    """What a proof records of an output file: its size and CRC32C."""
    return len(data), google_crc32c.value(data)


@dataclass
class ArrayProof:
    """What one job proved of one array: the shards it compared, the files they consist of
    (key below the array: size and CRC32C) and the first difference found."""

    shards: int = 0
    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    problems: dict[int, str] = field(default_factory=dict)
    # How storage was known to hold each shard written: shard indices by way.
    stored: dict[str, list[int]] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        first = min(self.problems) if self.problems else None
        return {
            "shards_compared": self.shards,
            "files": {key: list(value) for key, value in sorted(self.files.items())},
            "problem": None if first is None else self.problems[first],
            "shards_differing": len(self.problems),
            "stored_proven_by": {way: sorted(shards) for way, shards in self.stored.items()},
        }


def same_values(wanted: Any, got: Any, nan: bool) -> bool:
    """Whether two arrays of one shape hold the same values (NaN equal to NaN when ``nan``),
    compared a slab of the first axis at a time that is not 1: no temporary the size of the
    arrays (a 16 MB shard's comparison made one, and the kernel zeroed its pages each time)."""
    wanted, got = np.asanyarray(wanted), np.asanyarray(got)
    if wanted.shape != got.shape:
        return False
    if wanted.dtype == got.dtype and wanted.dtype.kind in "iu" and _wordy(wanted) and _wordy(got):
        # Integers of one type and byte order are equal as their bytes: compared as 8-byte
        # words, where the rows of both allow, it takes half the time of item by item.
        wanted, got = wanted.view(np.uint64), got.view(np.uint64)
    axis = next((n for n, extent in enumerate(wanted.shape) if extent > 1), None)
    if axis is None or wanted.size <= _SLAB_ITEMS:
        return bool(np.array_equal(wanted, got, equal_nan=nan))
    step = max(1, _SLAB_ITEMS * wanted.shape[axis] // wanted.size)
    for start in range(0, wanted.shape[axis], step):
        part = (slice(None),) * axis + (slice(start, start + step),)
        if not np.array_equal(wanted[part], got[part], equal_nan=nan):
            return False
    return True


_SLAB_ITEMS = 2**18


def _wordy(values: Any) -> bool:
    """Whether ``values`` can be viewed as 8-byte words along their last axis: it is contiguous
    and a whole number of words long."""
    return bool(
        values.ndim
        and values.strides[-1] == values.itemsize
        and (values.shape[-1] * values.itemsize) % 8 == 0
    )


class ShardDecoder:
    """zarr-python's read of one sharded array's shards, chunk by chunk: the shard's key by its
    chunk key encoding, fetched through a zarr store, its index decoded by its sharding codec
    (CRC32C checked), each inner chunk decoded by the codecs its ``zarr.json`` names, each
    with its ``SupportsSyncCodec`` method (the synchronous form of its decode, the same work).
    What zarr's array machinery adds, an event loop hop per inner chunk and a copy of each into
    one shard-sized array, costs as much again as the decoding (measured: 22 ms against 13 for
    a 16 MB shard of blosc-zstd-5) and proves nothing more.

    Usable (:meth:`usable`) for arrays of one regular grid of shards whose only codec is the
    sharding codec and whose inner codecs all decode synchronously: every output this package
    writes by re-encoding. Relies on zarr-python's ``_ShardReader`` (zarr is pinned)."""

    def __init__(self, metadata: ArrayV3Metadata) -> None:
        (sharding,) = metadata.codecs
        assert isinstance(sharding, ShardingCodec)
        assert isinstance(metadata.chunk_grid, RegularChunkGrid)
        self.metadata = metadata
        self.sharding = sharding
        self.prototype = default_buffer_prototype()
        shard_spec = metadata.get_chunk_spec(
            (0,) * metadata.ndim, ArrayConfig.from_dict({}), self.prototype
        )
        self.shard_shape = tuple(shard_spec.shape)
        self.chunk_shape = tuple(sharding.chunk_shape)
        self.chunks_per_shard = tuple(
            s // c for s, c in zip(self.shard_shape, self.chunk_shape, strict=True)
        )
        spec = replace(shard_spec, shape=self.chunk_shape)
        # Each codec with the spec of what it decodes to, as zarr's codec pipeline resolves
        # them (array to array codecs first, in order).
        self.array_array: list[tuple[Any, ArraySpec]] = []
        self.array_bytes: tuple[Any, ArraySpec] | None = None
        self.bytes_bytes: list[tuple[Any, ArraySpec]] = []
        for codec in sharding.codecs:
            if isinstance(codec, ArrayArrayCodec):
                self.array_array.append((codec, spec))
            elif isinstance(codec, ArrayBytesCodec):
                self.array_bytes = (codec, spec)
            else:
                self.bytes_bytes.append((codec, spec))
            spec = codec.resolve_metadata(spec)
        self.fill_value = shard_spec.fill_value
        self.dtype = shard_spec.dtype.to_native_dtype()

    @staticmethod
    def usable(metadata: ArrayV3Metadata) -> bool:
        codecs = metadata.codecs
        if len(codecs) != 1 or not isinstance(codecs[0], ShardingCodec):
            return False
        if not isinstance(metadata.chunk_grid, RegularChunkGrid):
            return False
        inner = codecs[0].codecs
        kinds = [isinstance(c, (ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec)) for c in inner]
        return all(kinds) and all(isinstance(c, SupportsSyncCodec) for c in inner)

    def key(self, region: tuple[slice, ...]) -> str:
        """The key of the shard holding ``region`` (a shard's whole region, clipped to the
        array), by the array's chunk key encoding."""
        grid = tuple(s.start // n for s, n in zip(region, self.shard_shape, strict=True))
        return str(self.metadata.encode_chunk_key(grid))

    def fetch(self, store: Store, key: str) -> tuple[bytes | None, Any]:
        """The file at ``key`` (None when absent) and its decoded index; one request, whole."""

        async def fetch() -> tuple[bytes | None, Any]:
            buffer = await store.get(key, self.prototype)
            if buffer is None:
                return None, None
            return buffer.to_bytes(), await _ShardReader.from_bytes(
                buffer, self.sharding, self.chunks_per_shard
            )

        return sync(fetch())

    def decode(self, data: Buffer) -> Any:
        """One inner chunk's values, from its bytes, by its codecs."""
        for codec, spec in reversed(self.bytes_bytes):
            data = codec._decode_sync(data, spec)
        assert self.array_bytes is not None
        codec, spec = self.array_bytes
        values = codec._decode_sync(data, spec)
        for codec, spec in reversed(self.array_array):
            values = codec._decode_sync(values, spec)
        return values.as_numpy_array()

    def chunks(
        self, reader: Any, region: tuple[slice, ...]
    ) -> Iterator[tuple[tuple[slice, ...], Any]]:
        """Each inner chunk of the shard that ``region`` overlaps: where its part lies in the
        region, and its values there (the fill value where the index has no chunk)."""
        extents = [s.stop - s.start for s in region]
        counts = [-(-e // c) for e, c in zip(extents, self.chunk_shape, strict=True)]
        for local in itertools.product(*(range(n) for n in counts)):
            place = tuple(
                slice(i * c, min((i + 1) * c, e))
                for i, c, e in zip(local, self.chunk_shape, extents, strict=True)
            )
            part = tuple(slice(0, p.stop - p.start) for p in place)
            data = None if reader is None else reader.get(local)
            if data is None:
                shape = tuple(p.stop for p in part)
                yield place, np.full(shape, self.fill_value, dtype=self.dtype)
            else:
                yield place, self.decode(data)[part]


@dataclass
class DecodedInput:
    """The input chunks overlapping a shard's region as zarr-python reads them (its chunk key
    encoding, its store, its codecs), decoded once: what a chunk transcode encodes and what
    its read-back compares with. ``chunks``: each chunk's values by grid coordinate (whole
    chunks, in the input's byte and memory order; None where the input has no chunk, which
    reads as ``fill``)."""

    region: tuple[slice, ...]
    chunk_shape: tuple[int, ...]
    chunks: dict[tuple[int, ...], Any]
    fill: Any
    dtype: Any

    def chunk(self, coord: tuple[int, ...]) -> Any:
        """The values of the chunk at grid coordinate ``coord`` (None: the input has none)."""
        return self.chunks[coord]

    def part(self, place: tuple[slice, ...]) -> Any:
        """The input's values in ``place`` (relative to the region)."""
        start = [s.start + p.start for s, p in zip(self.region, place, strict=True)]
        coord = tuple(a // c for a, c in zip(start, self.chunk_shape, strict=True))
        within = all(
            p.stop - p.start <= c - a % c
            for p, a, c in zip(place, start, self.chunk_shape, strict=True)
        )
        if not within:
            return self._assembled()[place]
        offset = tuple(
            slice(a % c, a % c + p.stop - p.start)
            for p, a, c in zip(place, start, self.chunk_shape, strict=True)
        )
        values = self.chunks[coord]
        if values is None:
            return np.full(tuple(p.stop - p.start for p in place), self.fill, dtype=self.dtype)
        return values[offset]

    def _assembled(self) -> Any:
        out = np.full(tuple(s.stop - s.start for s in self.region), self.fill, dtype=self.dtype)
        for coord, values in self.chunks.items():
            if values is None:
                continue
            lo = [c * n for c, n in zip(coord, self.chunk_shape, strict=True)]
            into, take = [], []
            for a, n, s in zip(lo, self.chunk_shape, self.region, strict=True):
                first, last = max(a, s.start), min(a + n, s.stop)
                into.append(slice(first - s.start, last - s.start))
                take.append(slice(first - a, last - a))
            out[tuple(into)] = values[tuple(take)]
        return out


@dataclass(frozen=True)
class _CopiedChunks:
    key: Callable[[tuple[int, ...]], str]
    decode: Callable[[bytes], Any]
    chunk_bytes: int


class _Differs(Exception):
    """A shard that reads back other than its input (the message says where)."""


def _spell(region: tuple[slice, ...]) -> str:
    return ",".join(f"{s.start}:{s.stop}" for s in region)


class Readback:
    """Reads each written shard back and compares it with what it was made from; one per
    convert job, given the ``zarr.json`` bytes it writes for each array."""

    def __init__(
        self, source: Location, target: Location, documents: Callable[[PlannedArray], bytes]
    ) -> None:
        self.source = source
        self.target = target
        self.documents = documents
        self.source_store = source.zarr_store(read_only=True)
        self.target_store = target.zarr_store(read_only=True)
        self.proofs: dict[str, ArrayProof] = {}
        self._opened: dict[tuple[str, str], Any] = {}
        self._copies: dict[str, _CopiedChunks] = {}
        self._decoders: dict[str, ShardDecoder | None] = {}
        self._input_codecs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _metadata(self, side: str, array: PlannedArray) -> Any:
        """The array's zarr-python metadata: the input's read from storage, the output's
        parsed from the document this job writes (validation checks the one stored); once
        per job."""
        key = (side, array.path)
        with self._lock:
            if key not in self._opened:
                if side == "output":
                    self._opened[key] = ArrayV3Metadata.from_dict(json.loads(self.documents(array)))
                else:
                    self._opened[key] = stored_keys(
                        zarr.open_array(
                            self.source_store,
                            path=array.path,
                            mode="r",
                            zarr_format=array.input.zarr_format,
                        ).metadata,
                        array,
                    )
            return self._opened[key]

    def _open(self, side: str, array: PlannedArray, store: Store) -> zarr.Array:
        metadata = self._metadata(side, array)
        return zarr.Array(
            zarr.AsyncArray(metadata=metadata, store_path=StorePath(store, array.path))
        )

    def _copied(self, array: PlannedArray) -> _CopiedChunks:
        """From the ``zarr.json`` the job writes: zarr-python's chunk key encoding, the codec
        that decodes one inner chunk, and a decoded chunk's size."""
        with self._lock:
            if array.path not in self._copies:
                document = json.loads(self.documents(array))
                inner = document["codecs"][0]["configuration"]["codecs"]
                names = [codec["name"] for codec in inner]
                codec = v3_compressor_to_numcodecs(inner[names.index("bytes") + 1 :])
                self._copies[array.path] = _CopiedChunks(
                    parse_chunk_key_encoding(document["chunk_key_encoding"]).encode_chunk_key,
                    (lambda data: data) if codec is None else codec.decode,
                    math.prod(array.output.chunks) * np.dtype(array.dtype).itemsize,
                )
            return self._copies[array.path]

    def _read_back(
        self, array: PlannedArray, region: tuple[slice, ...], written: dict[str, bytes] | None
    ) -> tuple[Any, dict[str, bytes]]:
        """The region decoded by zarr-python from storage, and the files it read (key below
        the array: the bytes it decoded, whole); the files ``written`` (storage vouched that it
        holds them) from memory."""
        store: Store = self.target_store
        if written:
            store = HeldStore(store, {f"{array.path}/{key}": data for key, data in written.items()})
        recording = RecordingStore(store)
        values = self._open("output", array, recording)[region]
        prefix = f"{array.path}/"
        return values, {key.removeprefix(prefix): data for key, data in recording.whole.items()}

    def _decoder(self, array: PlannedArray) -> ShardDecoder | None:
        """The array's :class:`ShardDecoder`, None where it cannot read the output."""
        with self._lock:
            if array.path not in self._decoders:
                metadata = None
                if array.output.shards is not None:
                    metadata = ArrayV3Metadata.from_dict(json.loads(self.documents(array)))
                self._decoders[array.path] = (
                    ShardDecoder(metadata)
                    if metadata is not None and ShardDecoder.usable(metadata)
                    else None
                )
            return self._decoders[array.path]

    def _compare_shard(
        self,
        array: PlannedArray,
        decoder: ShardDecoder,
        region: tuple[slice, ...],
        wanted: Any,
        written: dict[str, bytes] | None,
    ) -> dict[str, bytes]:
        """The shard holding ``region`` read and decoded by ``decoder`` chunk by chunk, each
        chunk compared with its part of ``wanted``; the file it read (key below the array: the
        bytes it decoded); the files ``written`` (storage vouched that it holds) from memory."""
        store: Store = self.target_store
        if written:
            store = HeldStore(store, {f"{array.path}/{key}": data for key, data in written.items()})
        key = decoder.key(region)
        data, reader = decoder.fetch(store, f"{array.path}/{key}")
        nan = np.dtype(array.dtype).kind in "fc"
        for place, got in decoder.chunks(reader, region):
            part = wanted.part(place) if isinstance(wanted, DecodedInput) else wanted[place]
            if not same_values(part, got, nan):
                where = tuple(
                    slice(s.start + p.start, s.start + p.stop)
                    for s, p in zip(region, place, strict=True)
                )
                raise _Differs(
                    f"{self._where(array, region)} read back differs from the input "
                    f"in [{_spell(where)}]"
                )
        return {} if data is None else {key: data}

    def input_chunks(
        self, array: PlannedArray, region: tuple[slice, ...], held: dict[str, bytes]
    ) -> DecodedInput:
        """The input chunks overlapping ``region`` as zarr-python reads them: each at the key
        its chunk key encoding gives (the mended separator where the plan mended it), the
        files the job read (``held``, keys below the array) from memory, any other from the
        input; decoded by zarr-python's codecs for the input's ``.zarray`` (compressor and
        filters). Raises :class:`ValueError` naming the input where a chunk does not decode."""
        metadata = self._metadata("input", array)
        with self._lock:
            if array.path not in self._input_codecs:
                pipeline = BatchedCodecPipeline.from_codecs(
                    [V2Codec(filters=metadata.filters, compressor=metadata.compressor)]
                )
                spec = metadata.get_chunk_spec(
                    (0,) * metadata.ndim,
                    ArrayConfig(order=metadata.order, write_empty_chunks=False),
                    default_buffer_prototype(),
                )
                self._input_codecs[array.path] = (pipeline, spec)
            pipeline, spec = self._input_codecs[array.path]
        chunk_shape = tuple(metadata.chunks)
        coords = list(
            itertools.product(
                *(
                    range(s.start // c, -(-s.stop // c))
                    for s, c in zip(region, chunk_shape, strict=True)
                )
            )
        )
        store = HeldStore(
            self.source_store, {f"{array.path}/{key}": data for key, data in held.items()}
        )

        async def read() -> dict[tuple[int, ...], Any]:
            found = await asyncio.gather(
                *(
                    store.get(f"{array.path}/{metadata.encode_chunk_key(c)}", spec.prototype)
                    for c in coords
                )
            )
            present = [(c, b) for c, b in zip(coords, found, strict=True) if b is not None]
            decoded = await pipeline.decode([(b, spec) for _, b in present])
            values: dict[tuple[int, ...], Any] = dict.fromkeys(coords)
            for (c, _), chunk in zip(present, decoded, strict=True):
                values[c] = chunk.as_numpy_array()
            return values

        try:
            chunks = sync(read())
        except Exception as err:
            raise ValueError(
                f"the input {self.source.child(array.path)} does not decode in "
                f"[{_spell(region)}]: {type(err).__name__}: {err}"
            ) from err
        return DecodedInput(
            region,
            chunk_shape,
            chunks,
            fill_value_or_default(spec),
            spec.dtype.to_native_dtype(),
        )

    def _held_input(
        self, array: PlannedArray, region: tuple[slice, ...], held: dict[str, bytes]
    ) -> Any:
        store = HeldStore(
            self.source_store, {f"{array.path}/{key}": data for key, data in held.items()}
        )
        try:
            return self._open("input", array, store)[region]
        except Exception as err:
            raise _Differs(
                f"the input {self.source.child(array.path)} does not decode in "
                f"[{_spell(region)}]: {type(err).__name__}: {err}"
            ) from err

    def _where(self, array: PlannedArray, region: tuple[slice, ...]) -> str:
        return f"{self.target.child(array.path)} [{_spell(region)}]"

    def values(
        self,
        array: PlannedArray,
        index: int,
        region: tuple[slice, ...],
        expected: Any = None,
        held: dict[str, bytes] | None = None,
        written: dict[str, bytes] | None = None,
        decoded: DecodedInput | None = None,
    ) -> None:
        """Shard ``index`` read back equals ``expected``, or the input as zarr-python read it
        (``decoded``: :meth:`input_chunks`), or else the input decoded from the ``held`` files
        (keys below the array); the files ``written`` (keys below the array), which storage
        vouched that it holds, decoded from memory."""

        def compare() -> dict[str, bytes]:
            decoder = self._decoder(array)
            if decoded is not None and decoder is not None:
                return self._compare_shard(array, decoder, region, decoded, written)
            if decoded is not None:
                wanted = decoded.part(tuple(slice(0, s.stop - s.start) for s in region))
            elif expected is None:
                wanted = self._held_input(array, region, held or {})
            else:
                wanted = expected
            if decoder is not None:
                return self._compare_shard(array, decoder, region, np.asanyarray(wanted), written)
            got, files = self._read_back(array, region, written)
            if not same_values(wanted, got, np.dtype(array.dtype).kind in "fc"):
                raise _Differs(f"{self._where(array, region)} read back differs from the input")
            return files

        self._run(array, index, region, compare, written)

    def copied_chunks(
        self,
        array: PlannedArray,
        index: int,
        region: tuple[slice, ...],
        inner: list[bytes | None],
        written: bytes | None = None,
    ) -> None:
        """Shard ``index``, whose inner chunks are the input chunks' bytes ``inner`` (in the
        shard's order; None: absent), read back from the key zarr-python's chunk key encoding
        gives it: each inner chunk equal to the input chunk, byte for byte, and decoded by the
        codecs its ``zarr.json`` names into a whole chunk. (Decoding them through zarr-python's
        array machinery costs several times as much and proves no more.) ``written``: the
        shard's bytes, which storage vouched that it holds, compared instead of a read."""

        def compare() -> dict[str, bytes]:
            copied = self._copied(array)
            grid = tuple(s.start // n for s, n in zip(region, array.output.shards, strict=True))
            key = copied.key(grid)
            where = self.target.child(f"{array.path}/{key}")
            data = written if written is not None else self.target.read_bytes(f"{array.path}/{key}")
            if all(chunk is None for chunk in inner):
                if data is not None:
                    raise _Differs(f"{where}: a shard where the input has no chunk")
                return {}
            if data is None:
                raise _Differs(f"{where} is missing: zarr-python finds no shard there")
            entries = shard_entries(data, len(inner), where)
            stored = np.frombuffer(data, np.uint8)
            for number, (chunk, (offset, nbytes)) in enumerate(zip(inner, entries, strict=True)):
                empty = (offset, nbytes) == (EMPTY, EMPTY)
                if chunk is None or empty or nbytes != len(chunk):
                    same = chunk is None and empty
                else:
                    found = stored[offset : offset + nbytes]
                    same = bool(np.array_equal(found, np.frombuffer(chunk, np.uint8)))
                if not same:
                    raise _Differs(f"{where}: inner chunk {number} is not the input chunk's bytes")
                if chunk is not None and len(copied.decode(chunk)) != copied.chunk_bytes:
                    raise _Differs(f"{where}: inner chunk {number} decodes to another size")
            return {key: data}

        self._run(array, index, region, compare, None if written is None else {"": written})

    def copied_files(
        self,
        array: PlannedArray,
        index: int,
        region: tuple[slice, ...],
        held: dict[str, bytes],
        written: dict[str, bytes] | None = None,
    ) -> None:
        """Block or shard ``index``, copied as the input's files ``held``, read back and
        decoded, and the files zarr-python read are those, byte for byte; the files
        ``written``, which storage vouched that it holds, decoded from memory."""

        def compare() -> dict[str, bytes]:
            _, files = self._read_back(array, region, written)
            if files != held:
                differing = sorted(set(files) ^ set(held)) or sorted(
                    key for key in files if files[key] != held[key]
                )
                raise _Differs(
                    f"{self._where(array, region)}: {self.target.child(array.path)}/"
                    f"{differing[0]} is not the input's file"
                )
            return files

        self._run(array, index, region, compare, written)

    def nothing_stored(self, array: PlannedArray, shards: int) -> None:
        """``shards`` shards overlap no input file the listing found, so no job writes them:
        counted as compared (validation's listing of the output shows no file is there)."""
        with self._lock:
            self.proofs.setdefault(array.path, ArrayProof()).shards += shards

    def _run(
        self,
        array: PlannedArray,
        index: int,
        region: tuple[slice, ...],
        compare: Any,
        written: dict[str, bytes] | None = None,
    ) -> None:
        """``compare`` the shard, and record it: the files it proved, how storage was known
        to hold them (every one ``written``, vouched for by storage: by the server's
        checksum), the difference it found."""
        files: dict[str, bytes] = {}
        try:
            files = compare()
            problem = ""
        except _Differs as err:
            problem = str(err)
        except Exception as err:  # noqa: BLE001 - a shard that does not read back is recorded
            problem = (
                f"{self._where(array, region)} cannot be read back: {type(err).__name__}: {err}"
            )
        digests = {key: file_digest(data) for key, data in files.items()}
        with self._lock:
            proof = self.proofs.setdefault(array.path, ArrayProof())
            proof.shards += 1
            proof.files.update(digests)
            proof.stored.setdefault(SERVER_CHECKSUM if written else READ_BACK, []).append(index)
            if problem:
                proof.problems[index] = problem[:2000]
