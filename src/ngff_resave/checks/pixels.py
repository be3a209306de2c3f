"""Every array of a converted dataset against its plan and its input: the ``zarr.json`` as
planned, and the pixels shard by shard.

At most ``threads`` shards are in flight, and in both modes every output chunk is decoded once
by zarr-python, so a chunk that does not decode fails. A ``copy`` array is compared with its
input byte for byte (each inner chunk of the shard index against the input chunk file, whose
codecs the zarr.json must name unchanged), never decoding the input; a ``reencode`` array is
compared by value with its decoded input. Sample mode compares only ``sample`` random input
chunks per array with the input.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import multiprocessing
import os
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import cached_property, lru_cache, partial
from typing import Any

import numpy as np
import zarr
from zarr.abc.codec import SupportsSyncCodec
from zarr.codecs.sharding import MAX_UINT_64 as SHARD_EMPTY
from zarr.codecs.sharding import ShardingCodec, ShardingCodecIndexLocation
from zarr.core.array_spec import parse_array_config
from zarr.core.buffer import default_buffer_prototype
from zarr.core.chunk_grids import RegularChunkGrid
from zarr.core.metadata import ArrayV2Metadata, ArrayV3Metadata
from zarr.core.sync import sync
from zarr.storage import StorePath

from ngff_resave.arrays.codecs import planned_array_metadata, v3_data_type
from ngff_resave.arrays.readback import RecordingStore, file_digest
from ngff_resave.arrays.reencode import open_source, stored_keys
from ngff_resave.arrays.resources import io_plan
from ngff_resave.arrays.shards import (
    EMPTY,
    grid_of,
    inner_chunk_coords,
    input_files,
    shard_entries,
    shard_slices,
    unravel,
    v3_shard_key,
)
from ngff_resave.checks.hierarchy import Nodes
from ngff_resave.checks.proofs import Proof, check_files, gather_proofs
from ngff_resave.checks.results import Report, content_key, join_path, spell_error
from ngff_resave.checks.spec_schemas import schema_view
from ngff_resave.model.plan import Mode, Plan, PlannedArray
from ngff_resave.source.listing import parse
from ngff_resave.source.v05 import EncodedChunks
from ngff_resave.storage import SERVER_CHECKSUM, Location

LOG = logging.getLogger("ngff_resave.checks.validation")
# From this many shards on, pixels are checked in worker processes (see _check_in_processes);
# below, starting them costs more than it saves.
WORTH_PROCESSES = 8
# Shards that are only decoded (see _ArrayCheck.decodes_only) go to zarr-python in batches of
# at most this many shards and decoded bytes: a plate's thousands of tiny arrays cost one call
# into zarr-python's event loop each, far more than their pixels (see _check_batch).
BATCH_SHARDS = 512
BATCH_BYTES = 16 * 2**20


def _spell(region: tuple[slice, ...]) -> str:
    return ",".join(f"{s.start}:{s.stop}" for s in region)


def _dig(value: Any, *keys: str | int) -> Any:
    """``value[k1][k2]...``, or None where the document does not have that shape."""
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


@dataclass(frozen=True)
class _Shard:
    """What zarr-python's sharding codec finds before decoding a shard: its index's size and
    place, and the chains that decode the index and the inner chunks."""

    index_size: int
    index_at_start: bool
    index: _Chain
    inner: _Chain


class _Chain:
    """A chain of zarr-python codecs that decode synchronously (see :func:`_decodes_directly`),
    ready to decode: each codec given the array spec its place in the chain resolves, as
    zarr-python's codec pipeline gives it; a sharding codec (first in the chain) as
    :class:`_Shard`. Built once per layout: building costs more than decoding a tiny shard."""

    def __init__(self, codecs: list[Any], spec: Any) -> None:
        specs = []
        for codec in codecs:
            specs.append(spec)
            spec = codec.resolve_metadata(spec)
        # In decoding order: the last codec first.
        self.steps = list(zip(reversed(codecs), reversed(specs), strict=True))
        self.shard: _Shard | None = None
        if codecs and isinstance(codecs[0], ShardingCodec):
            codec, shard_spec = self.steps.pop()
            per_shard = codec._get_chunks_per_shard(shard_spec)
            self.shard = _Shard(
                codec._shard_index_size(per_shard),
                codec.index_location == ShardingCodecIndexLocation.start,
                _Chain(list(codec.index_codecs), codec._get_index_chunk_spec(per_shard)),
                _Chain(list(codec.codecs), codec._get_chunk_spec(shard_spec)),
            )

    def decode(self, data: Any) -> Any:
        """``data`` decoded; a shard is decoded whole (nothing is returned)."""
        for codec, spec in self.steps:
            data = codec._decode_sync(data, spec)
        if self.shard is not None:
            _decode_shard(self.shard, data)
            return None
        return data


@dataclass
class _Layout:
    """An output array's ``zarr.json`` but its attributes (which no decoding reads) as
    zarr-python reads it: its metadata, and its codecs ready to decode a stored chunk."""

    metadata: ArrayV3Metadata
    _chain: _Chain | None = None

    @property
    def chunk_shape(self) -> tuple[int, ...]:
        """Of the stored chunks: their regular grid's (see :func:`_check_batch`)."""
        grid = self.metadata.chunk_grid
        assert isinstance(grid, RegularChunkGrid)
        return grid.chunk_shape

    def chain(self) -> _Chain:
        """The codecs that decode any stored chunk: zarr-python gives every chunk of a regular
        grid the same spec, that of the grid's chunk shape."""
        if self._chain is None:
            metadata = self.metadata
            spec = metadata.get_chunk_spec(
                (0,) * len(metadata.shape), parse_array_config(None), default_buffer_prototype()
            )
            self._chain = _Chain(list(metadata.codecs), spec)
        return self._chain


# Layouts by content (see _layout); a long-lived process sees many: it keeps the last ones.
_LAYOUTS: dict[bytes, _Layout] = {}


def _layout(doc: dict[str, Any]) -> _Layout:
    """The layout of an output array from its stored ``zarr.json``, parsed once per layout:
    the thousands of arrays of a plate have a few layouts, and parsing costs more than decoding
    a small array."""
    layout = {key: value for key, value in doc.items() if key != "attributes"}
    key = content_key(layout)
    found = _LAYOUTS.get(key)
    if found is None:
        if len(_LAYOUTS) >= 256:
            _LAYOUTS.clear()
        found = _LAYOUTS[key] = _Layout(ArrayV3Metadata.from_dict(copy.deepcopy(layout)))
    return found


@lru_cache(maxsize=4096)
def _shard_region(shape: tuple[int, ...], shards: tuple[int, ...], index: int) -> tuple[slice, ...]:
    return shard_slices(list(shape), list(shards), index)


def _region(array: PlannedArray, index: int) -> tuple[slice, ...]:
    """The region of shard ``index``, found once per shape and shard: a plate's thousands of
    arrays have a few."""
    return _shard_region(tuple(array.shape), tuple(array.output.shards), index)


def _metadata_checks(
    array: PlannedArray, doc: dict[str, Any] | None, where: str
) -> list[tuple[str, bool, str]]:
    """The array's zarr.json against the plan: layout, dimension names, and the codec chain,
    fill value and chunk keys the converter writes (so copied chunk bytes mean the same)."""
    path = array.path
    names = [
        f"array {path}: shape, dtype, chunks, shards as planned",
        f"array {path}: dimension_names equal the axes",
        f"array {path}: codecs, fill value and chunk keys as planned",
    ]
    if doc is None or doc.get("node_type") != "array":
        detail = where if doc is None else f"node_type {doc.get('node_type')!r}"
        return [(name, False, detail) for name in names]
    expected = planned_array_metadata(array)
    shards = _dig(doc, "chunk_grid", "configuration", "chunk_shape")
    chunks = _dig(doc, "codecs", 0, "configuration", "chunk_shape")
    if not array.sharded:
        # Not sharded: the grid's chunks are the input's chunk files.
        chunks, shards = shards, chunks
    layout_ok = (
        doc.get("shape") == array.shape
        and doc.get("data_type") == v3_data_type(array.dtype)[0]
        and shards == (array.output.shards if array.sharded else None)
        and chunks == array.output.chunks
    )
    names_found = doc.get("dimension_names")
    dimension_names = list(names_found) if isinstance(names_found, list) else []
    wrong = [
        key
        for key in ("codecs", "fill_value", "chunk_key_encoding")
        if doc.get(key) != expected[key]
    ]
    return [
        (
            names[0],
            layout_ok,
            f"shape {doc.get('shape')}, dtype {doc.get('data_type')}, "
            f"chunks {chunks}, shards {shards}",
        ),
        (
            names[1],
            dimension_names == array.dimension_names,
            ",".join(map(str, dimension_names)),
        ),
        (
            names[2],
            not wrong,
            "; ".join(f"{key} {doc.get(key)!r}, planned {expected[key]!r}" for key in wrong)[:2000],
        ),
    ]


@dataclass
class _ArrayCheck:
    """One array's pixel comparison: shards are checked by worker threads, problems gathered."""

    array: PlannedArray
    doc: dict[str, Any] | None
    sampled: set[tuple[int, ...]] | None  # input chunk coordinates compared; None: all
    source: Location
    target: Location
    source_store: Any
    target_store: Any
    # Input chunks of a shard read at once (remote inputs; one at a time locally).
    reads_in_flight: int = 1
    problems: dict[int, str] = field(default_factory=dict)
    # Sample mode over an array whose files are the input's own (in place, taken as it is):
    # only the sampled chunks are decoded (see :meth:`shard_indices`).
    sampled_decode: bool = False
    # An array its convert jobs read back and compared whole: the files they recorded (key
    # below the array: size and CRC32C); only the sampled chunks are re-read here.
    proof: Proof | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _opened: dict[str, Any] = field(default_factory=dict)
    _shards_done: int = 0
    _indices: list[int] | None = None

    @property
    def path(self) -> str:
        return self.array.path

    def _open(self, side: str) -> Any:
        with self._lock:
            if side not in self._opened:
                if side == "output":
                    # zarr parses the already loaded zarr.json; it is not read again.
                    self._opened[side] = zarr.Array(
                        zarr.AsyncArray(
                            metadata=self.layout().metadata,
                            store_path=StorePath(self.target_store, self.path),
                        )
                    )
                else:
                    self._opened[side] = self._open_input()
            return self._opened[side]

    def layout(self) -> _Layout:
        """The layout its ``zarr.json`` gives the output array."""
        if self.doc is None or self.doc.get("node_type") != "array":
            raise FileNotFoundError(f"no array zarr.json at {self._out()}")
        return _layout(self.doc)

    def _open_input(self) -> Any:
        """The input array; from its metadata document read as it is (zarr's own opening
        costs more than the check of a small array)."""
        array = self.array
        if array.downsampled_from:
            return open_source(self.source_store, array)
        name, parse = (
            (".zarray", ArrayV2Metadata.from_dict)
            if array.input.zarr_format == 2
            else ("zarr.json", ArrayV3Metadata.from_dict)
        )
        document = self.source.read_json(join_path(self.path, name))
        if document is None:
            raise FileNotFoundError(f"no {self.source.child(join_path(self.path, name))}")
        return zarr.Array(
            zarr.AsyncArray(
                metadata=stored_keys(parse(document), array),
                store_path=StorePath(self.source_store, self.path),
            )
        )

    def shard_indices(self) -> list[int]:
        """The shards to check: every one; with ``sampled_decode``, those holding a sampled
        chunk (the output's bytes are the input's own files and its zarr.json names the
        input's codecs, grid, keys and fill value, checked apart, so the values are the
        input's; decoding samples shows the metadata reads them). Found once: each shard
        checked asks how many there are."""
        if self._indices is None:
            self._indices = self._shard_indices()
        return self._indices

    def _shard_indices(self) -> list[int]:
        if self.sampled is None or not (self.sampled_decode or self.proof is not None):
            return list(range(self.array.shards))
        if self.proof is not None and self.proof.problem:
            return []
        array = self.array
        shards, chunks = array.output.shards, array.input.chunks
        grid = grid_of(array.shape, shards)
        indices = set()
        for coord in self.sampled:
            # The shards the sampled input chunk overlaps.
            ranges = [
                range(c * n // s, (min((c + 1) * n, size) - 1) // s + 1)
                for c, n, s, size in zip(coord, chunks, shards, array.shape, strict=True)
            ]
            for shard in itertools.product(*ranges):
                indices.add(int(np.ravel_multi_index(shard, grid)))
        return sorted(indices)

    def _out(self, key: str = "") -> str:
        return self.target.child(join_path(self.path, key))

    @cached_property
    def decodes_only(self) -> bool:
        """Whether its shards are checked apart from their values (bytes or files against the
        input's, see :meth:`before_decoding`), then decoded by zarr-python with nothing more to
        compare; such shards can be decoded in batches (:func:`_check_batch`)."""
        return self.proof is None and (
            self.sampled_decode
            or self.array.output.as_input
            or self.array.mode in (Mode.REFERENCE, Mode.COPY)
        )

    def before_decoding(
        self, index: int, region: tuple[slice, ...]
    ) -> tuple[str, list[tuple[slice, ...]]]:
        """Of a shard of a :attr:`decodes_only` array: the problem found before decoding
        (then nothing is decoded), and the regions zarr-python decodes (the whole shard; the
        sampled chunks with ``sampled_decode``)."""
        if self.sampled_decode:
            parts = self._sampled_parts(region)
            # Every chunk of the shard sampled: the shard is decoded whole, at once.
            covered = sum(int(np.prod([p.stop - p.start for p in part])) for part in parts)
            whole = int(np.prod([r.stop - r.start for r in region]))
            return "", [region] if covered == whole else parts
        if self.array.output.as_input or self.array.mode == Mode.REFERENCE:
            return self._input_files(index), [region]
        return self._copied_bytes(index), [region]

    def check_shard(self, index: int) -> None:
        region = _region(self.array, index)
        try:
            if self.proof is not None:
                problem = self._proven_sample(index, region)
            elif self.decodes_only:
                problem, parts = self.before_decoding(index, region)
                output = self._open("output")
                for part in [] if problem else parts:
                    output[part]
            else:
                problem = self._reencoded(region)
        except Exception as err:  # noqa: BLE001 - an unreadable shard is a failed check
            problem = self.unreadable(region, err)
        self.finish(index, problem)

    def unreadable(self, region: tuple[slice, ...], err: BaseException) -> str:
        return (
            f"cannot read [{_spell(region)}] of {self._out()} or "
            f"{self.source.child(self.path)}: {spell_error(err)}"
        )

    def finish(self, index: int, problem: str) -> None:
        """Shard ``index`` checked: its problem (empty: none) recorded."""
        with self._lock:
            if problem:
                self.problems[index] = problem
            self._shards_done += 1
            if self._shards_done == len(self.shard_indices()):
                self._opened.clear()  # a plate has thousands of arrays: keep none open

    def _output_bytes(self, key: str, stored: dict[str, bytes] | None) -> bytes | None:
        """The output file ``key`` (below the array): as just read whole (``stored``, keys
        below the root), or read now."""
        path = join_path(self.path, key)
        if stored is not None and path in stored:
            return stored[path]
        return self.target.read_bytes(path)

    def _copied_bytes(self, index: int, stored: dict[str, bytes] | None = None) -> str:
        """Each inner chunk of the shard (the sampled ones in sample mode) is the input chunk
        file byte for byte, and a missing input chunk is an empty index entry; the shard as
        ``stored`` when it was just read whole (not downloaded twice)."""
        array = self.array
        shape, shards = array.shape, array.output.shards
        coords = list(inner_chunk_coords(shape, array.output.chunks, shards, index))
        wanted = [
            i
            for i, c in enumerate(coords)
            if self.sampled is None or (c is not None and c in self.sampled)
        ]
        if not wanted:
            return ""
        key = v3_shard_key(shape, shards, index)
        data = self._output_bytes(key, stored)
        entries = None if data is None else shard_entries(data, len(coords), self._out(key))
        present = [c for i in wanted if (c := coords[i]) is not None]
        encoded = EncodedChunks(self.source, self.path, array.input, self.reads_in_flight)
        found = iter(encoded.read(present))
        for i in wanted:
            coord = coords[i]
            expected = None if coord is None else next(found)
            chunk_key = "" if coord is None else encoded.key(coord)
            offset, nbytes = (EMPTY, EMPTY) if entries is None else entries[i]
            where = f"inner chunk {i} of {self._out(key)}"
            if (offset, nbytes) == (EMPTY, EMPTY):
                if expected is not None:
                    return (
                        f"{where} is missing; the input has {self.source.child(self.path)}"
                        f"/{chunk_key}"
                    )
                continue
            if expected is None:
                return (
                    f"{where} holds {nbytes} bytes; the input has no chunk "
                    f"{'past the edge' if coord is None else chunk_key}"
                )
            # A bytes slice compares by memcmp; a memoryview compares item by item.
            if data is None or data[offset : offset + nbytes] != expected:
                return f"{where} differs from {self.source.child(self.path)}/{chunk_key}"
        return ""

    def _input_files(self, index: int, stored: dict[str, bytes] | None = None) -> str:
        """Each input file of the block or shard (those holding sampled chunks in sample mode)
        is in the output as it is: the same file (a link; in place, trivially) or the same
        bytes; and a file the input lacks is not there either."""
        if self.target.url == self.source.url:
            return ""
        array = self.array
        coords = [
            c
            for c in inner_chunk_coords(
                array.shape, array.output.chunks, array.output.shards, index
            )
            if c is not None
        ]
        keys = input_files(array, index)
        # A shard file holds all the chunks; else one chunk file each.
        files = (
            [(set(coords), keys[0])]
            if len(keys) == 1
            else [({c}, k) for c, k in zip(coords, keys, strict=True)]
        )
        source_root, target_root = self.source.local_path, self.target.local_path
        for held, name in files:
            if self.sampled is not None and not held & self.sampled:
                continue
            key = join_path(self.path, name)
            if source_root is not None and target_root is not None:
                found = os.path.exists(f"{source_root}/{key}")
                if found != os.path.exists(f"{target_root}/{key}"):
                    return (
                        f"{self._out(key)} is {'missing' if found else 'there'}; the input "
                        f"{'has' if found else 'has no'} {self.source.child(key)}"
                    )
                if not found or os.path.samefile(f"{source_root}/{key}", f"{target_root}/{key}"):
                    continue
            if self.source.read_bytes(key) != self._output_bytes(name, stored):
                return f"{self._out(key)} differs from {self.source.child(key)}"
        return ""

    def _decoded(self, region: tuple[slice, ...], compare: Callable[[Any], str] | None) -> str:
        """The whole shard decoded by zarr-python (every chunk once), then compared."""
        got = self._open("output")[region]
        return compare(got) if compare is not None else ""

    def _proven_sample(self, index: int, region: tuple[slice, ...]) -> str:
        """The sampled input chunks in this shard re-read from storage on both sides: the
        output's decoded, each output file read the one its convert job recorded, and compared
        with the input's as the full check does (bytes, files or values)."""
        assert self.proof is not None
        recording = RecordingStore(self.target_store)
        metadata = self._open("output").metadata
        output = zarr.Array(
            zarr.AsyncArray(metadata=metadata, store_path=StorePath(recording, self.path))
        )
        parts = self._sampled_parts(region)
        if not parts:
            return ""
        # One read of the box around the sampled chunks: a small shard is read whole, once.
        box = tuple(
            slice(min(p[d].start for p in parts), max(p[d].stop for p in parts))
            for d in range(len(region))
        )
        try:
            got = np.asarray(output[box])
        except Exception as err:  # noqa: BLE001 - reported after the files' own check
            failed: Exception | None = err
        else:
            failed = None
        prefix = f"{self.path}/"
        # Each file whole as zarr-python decoded it (see RecordingStore), read once.
        for key, data in sorted(recording.whole.items()):
            name = key.removeprefix(prefix)
            recorded = self.proof.files.get(name)
            if recorded != file_digest(data):
                return (
                    f"{self._out(name)} is not the file its convert job wrote and read back "
                    f"(size and CRC32C {list(file_digest(data))}; recorded "
                    f"{None if recorded is None else list(recorded)})"
                )
        if failed is not None:
            raise failed
        if self.array.output.as_input or self.array.mode == Mode.REFERENCE:
            return self._input_files(index, recording.whole)
        if self.array.mode == Mode.COPY:
            return self._copied_bytes(index, recording.whole)
        expected = np.asarray(self._open("input")[box])
        equal_nan = np.dtype(self.array.dtype).kind in "fc"
        for part in parts:
            local = tuple(
                slice(p.start - b.start, p.stop - b.start) for p, b in zip(part, box, strict=True)
            )
            if not np.array_equal(expected[local], got[local], equal_nan=equal_nan):
                return f"first difference in [{_spell(part)}]"
        return ""

    def _sampled_parts(self, region: tuple[slice, ...]) -> list[tuple[slice, ...]]:
        """The regions of the sampled input chunks, cut to ``region``."""
        assert self.sampled is not None
        chunks = self.array.input.chunks
        parts = []
        for coord in sorted(self.sampled):
            part = tuple(
                slice(max(r.start, c * n), min(r.stop, (c + 1) * n))
                for r, c, n in zip(region, coord, chunks, strict=True)
            )
            if all(p.start < p.stop for p in part):
                parts.append(part)
        return parts

    def _reencoded(self, region: tuple[slice, ...]) -> str:
        expected_array = self._open("input")
        equal_nan = np.dtype(expected_array.dtype).kind == "f"
        if self.sampled is None:

            def whole(got: Any) -> str:
                same = np.array_equal(expected_array[region], got, equal_nan=equal_nan)
                return "" if same else f"first difference in [{_spell(region)}]"

            return self._decoded(region, whole)
        parts = self._sampled_parts(region)

        def sampled(got: Any) -> str:
            for part in parts:
                local = tuple(
                    slice(p.start - r.start, p.stop - r.start)
                    for p, r in zip(part, region, strict=True)
                )
                if not np.array_equal(expected_array[part], got[local], equal_nan=equal_nan):
                    return f"first difference in [{_spell(part)}]"
            return ""

        return self._decoded(region, sampled)

    def result(self) -> tuple[bool, str]:
        shards = self.array.shards
        if self.proof is not None:
            return self._proof_result()
        if self.problems:
            first = min(self.problems)
            more = len(self.problems) - 1
            return False, self.problems[first] + (f" (and {more} more shards)" if more else "")
        how = {
            Mode.COPY: "every inner chunk byte-identical to its input chunk",
            Mode.REFERENCE: "every chunk file the input's own (a link, or in place)",
        }.get(Mode(self.array.mode), "values equal the decoded input")
        if self.array.output.as_input:
            how = "every file the input's own, " + (
                "byte for byte" if self.array.mode == Mode.COPY else "a link, or in place"
            )
        unit = "shards" if self.array.sharded else "blocks of chunks"
        if self.sampled_decode:
            return True, (
                f"the input's own files under the input's codecs, grid, keys and fill value; "
                f"{len(self.sampled or ())} sampled chunks decoded"
            )
        if self.sampled is not None:
            how = f"{len(self.sampled)} sampled input chunks: {how}"
        return True, f"{shards} {unit} decoded; {how}"

    def _proof_result(self) -> tuple[bool, str]:
        assert self.proof is not None
        first = (
            self.proof.problem
            or self.proof.files_problem
            or (self.problems[min(self.problems)] if self.problems else "")
        )
        if first:
            return False, first
        by_checksum = self.proof.stored.get(SERVER_CHECKSUM, 0)
        if by_checksum:
            # The others: read back, or no file (validation's listing shows none is there).
            how = (
                f"{by_checksum} of them held by storage as written (the server's checksum of "
                "each object, asked after its upload, that of the bytes sent) and decoded by "
                "zarr-python from those bytes, the others read back by zarr-python; "
            )
            shards = f"{self.array.shards} shards compared by value with the input as written, "
        else:
            how = ""
            shards = (
                f"{self.array.shards} shards read back by zarr-python and compared by value with "
                "the input as written; "
            )
        return True, (
            f"{shards}{how}every file as its job recorded; {len(self.sampled or ())} "
            "sampled input chunks re-read on both sides, equal"
        )


def _sample(array: PlannedArray, rng: random.Random, sample: int) -> set[tuple[int, ...]]:
    """``sample`` random input chunks (drawn as before, so a seed picks the same chunks); of a
    sparse array, among the chunk files its listing found (the rest read as the fill value,
    which validation's listing of the output shows)."""
    if array.input.present is not None and array.input.zarr_format == 2:
        present = sorted(array.input.present)
        return {parse(text) for text in rng.sample(present, min(sample, len(present)))}
    grid = grid_of(array.shape, array.input.chunks)
    total = int(np.prod(grid))
    return {tuple(unravel(i, grid)) for i in rng.sample(range(total), min(sample, total))}


def _run_bounded(tasks: Iterable[Callable[[], None]], threads: int) -> None:
    """Run tasks on ``threads`` workers with at most ``threads`` of them in flight."""
    threads = max(1, threads)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: set[Future[None]] = set()
        for task in tasks:
            if len(pending) >= threads:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
            pending.add(pool.submit(task))
        for future in pending:
            future.result()


def _batches(
    shards: Iterable[tuple[_ArrayCheck, int]],
) -> Iterator[list[tuple[_ArrayCheck, int]]]:
    """(array, shard) checks in batches for :func:`_check_batch`: the shards of
    :attr:`~_ArrayCheck.decodes_only` arrays together, up to ``BATCH_SHARDS`` shards and
    ``BATCH_BYTES`` decoded; any other shard alone."""
    batch: list[tuple[_ArrayCheck, int]] = []
    size = 0
    for check, index in shards:
        if not check.decodes_only:
            yield [(check, index)]
            continue
        nbytes = check.array.shard_bytes
        if batch and (len(batch) >= BATCH_SHARDS or size + nbytes > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((check, index))
        size += nbytes
    if batch:
        yield batch


def _check_batch(shards: list[tuple[_ArrayCheck, int]]) -> None:
    """Shards checked as :meth:`_ArrayCheck.check_shard` checks them, with the same problems;
    those of :attr:`~_ArrayCheck.decodes_only` arrays decoded by zarr-python all in one call
    into its event loop, not one call each."""
    # Whole shards whose codecs zarr-python decodes synchronously are read, then decoded here
    # by its codecs (_decode_stored); other regions through its arrays (``output``).
    decoding: list[tuple[_ArrayCheck, int, tuple[slice, ...], _Layout, Any, list[Any]]] = []
    for check, index in shards:
        if not check.decodes_only:
            check.check_shard(index)
            continue
        region = _region(check.array, index)
        try:
            problem, parts = check.before_decoding(index, region)
            if problem or not parts:
                check.finish(index, problem)
                continue
            layout = check.layout()
            metadata = layout.metadata
            direct = (
                parts == [region]
                and len(metadata.shape) == len(region)
                and isinstance(metadata.chunk_grid, RegularChunkGrid)
                and _decodes_directly(metadata.codecs)
            )
            output = None if direct else check._open("output")
            decoding.append((check, index, region, layout, output, parts))
        except Exception as err:  # noqa: BLE001 - an unreadable shard is a failed check
            check.finish(index, check.unreadable(region, err))

    # The stored chunks of each shard decoded here: keys below the root, by zarr-python's
    # chunk key encoding.
    stored = [
        []
        if output is not None
        else [
            join_path(check.path, layout.metadata.encode_chunk_key(coords))
            for coords in _grid_chunks(layout.chunk_shape, region)
        ]
        for check, _, region, layout, output, _ in decoding
    ]

    async def decode(output: Any, parts: list[tuple[slice, ...]]) -> None:
        async with in_flight:
            for part in parts:
                await output._async_array.getitem(part)

    async def get(store: Any, key: str) -> Any:
        async with in_flight:
            return await store.get(key, prototype)

    prototype = default_buffer_prototype()
    places = [
        (check, key) for (check, *_), keys in zip(decoding, stored, strict=True) for key in keys
    ]
    # Local files are read here, at once (zarr-python's local store would hand each read to a
    # thread of its own); remote ones through its store, all in flight together.
    remote = any(check.target.local_path is None for check, _ in places)
    arrays = [(output, parts) for *_, output, parts in decoding if output is not None]

    # As many requests in flight as zarr-python allows one array's reads.
    in_flight = asyncio.Semaphore(max(1, int(zarr.config.get("async.concurrency"))))

    async def read_all() -> tuple[list[Any], list[Any]]:
        fetched = asyncio.gather(
            *(get(check.target_store, key) for check, key in places if remote),
            return_exceptions=True,
        )
        decoded = asyncio.gather(
            *(decode(output, parts) for output, parts in arrays), return_exceptions=True
        )
        return list(await fetched), list(await decoded)

    fetched, decoded = ([], []) if not remote and not arrays else sync(read_all())
    files = iter(fetched if remote else [_read_local(prototype, place) for place in places])
    results = iter(decoded)
    for (check, index, region, layout, output, _), keys in zip(decoding, stored, strict=True):
        if output is None:
            result: Any = None
            for _ in keys:
                data = next(files)
                if result is None:
                    result = _decode_stored(layout, data)
        else:
            result = next(results)
        failed = isinstance(result, BaseException)
        check.finish(index, check.unreadable(region, result) if failed else "")


def _read_local(prototype: Any, place: tuple[_ArrayCheck, str]) -> Any:
    """The local file ``key`` below its array's output root, or the error."""
    check, key = place
    try:
        data = check.target.read_bytes(key)
    except Exception as err:  # noqa: BLE001 - reported as the shard's problem
        return err
    return None if data is None else prototype.buffer.from_bytes(data)


def _grid_chunks(
    chunk_shape: tuple[int, ...], region: tuple[slice, ...]
) -> Iterator[tuple[int, ...]]:
    """The chunks of a regular grid (a stored array's: its shards) that ``region`` overlaps."""
    if any(s.start >= s.stop for s in region):
        return iter(())
    ranges = [
        range(s.start // n, (s.stop - 1) // n + 1) for s, n in zip(region, chunk_shape, strict=True)
    ]
    return itertools.product(*ranges)


# Chains of codecs already asked, by identity (an array's metadata is parsed once per layout)
# and place (a sharding codec's own chains are inner).
_DIRECT: dict[tuple[int, bool], tuple[Any, bool]] = {}


def _decodes_directly(codecs: Any, inner: bool = False) -> bool:
    """Whether every codec of a chain decodes synchronously (zarr-python's own codecs do, but
    its sharding codec, whose inner and index chains :class:`_Chain` decodes instead when it
    comes first)."""
    known = _DIRECT.get((id(codecs), inner))
    if known is not None and known[0] is codecs:
        return known[1]
    found = _chain_decodes_directly(list(codecs), inner)
    if len(_DIRECT) > 4096:  # a long-lived process sees many layouts: keep the last ones
        _DIRECT.clear()
    _DIRECT[id(codecs), inner] = (codecs, found)
    return found


def _chain_decodes_directly(codecs: list[Any], inner: bool) -> bool:
    for position, codec in enumerate(codecs):
        if isinstance(codec, ShardingCodec):
            if inner or position != 0:
                return False
            inner_chains = (codec.codecs, codec.index_codecs)
            if not all(_decodes_directly(chain, True) for chain in inner_chains):
                return False
        elif not isinstance(codec, SupportsSyncCodec):
            return False
    return True


def _decode_stored(layout: _Layout, data: Any) -> BaseException | None:
    """A stored chunk of the output (a shard: its index and every inner chunk) decoded by
    zarr-python's codecs as its arrays decode it, without their event loop: each of the
    thousands of tiny arrays of a plate costs far more there than its pixels. What failed to
    read or decode; None when it decodes (an absent file reads as the fill value)."""
    if isinstance(data, BaseException):
        return data
    if data is None:
        return None
    try:
        layout.chain().decode(data)
    except Exception as err:  # noqa: BLE001 - a chunk that does not decode is a failed check
        return err
    return None


def _decode_shard(shard: _Shard, data: Any) -> None:
    """A shard decoded as zarr-python's sharding codec decodes it: its index through the index
    codecs (their CRC32C checked), then every chunk the index names through the inner codecs."""
    size = shard.index_size
    if len(data) < size:
        raise ValueError(f"a shard of {len(data)} bytes has no index of {size} bytes")
    index_bytes = data[:size] if shard.index_at_start else data[len(data) - size :]
    index = shard.index.decode(index_bytes).as_numpy_array()
    for offset, nbytes in index.reshape(-1, 2).tolist():
        if (offset, nbytes) == (SHARD_EMPTY, SHARD_EMPTY):
            continue
        if offset + nbytes > len(data):
            raise ValueError(f"an inner chunk at {offset}+{nbytes} past the shard's {len(data)}")
        shard.inner.decode(data[offset : offset + nbytes])


# Of an array whose zarr.json a worker process read: its checks against the plan (see
# _metadata_checks) and its document as the 0.6 schemas read it (see schema_view).
_Described = tuple[list[tuple[str, bool, str]], dict[str, Any] | None]


def _check_shards(
    checks: list[_ArrayCheck], tasks: list[tuple[int, int]], described: range, send: Any
) -> None:
    """In a worker process: the zarr.json of the arrays of these (array, shard) checks and of
    the ``described`` arrays read here, and the latter described through the pipe; then the
    shards checked in batches, and the problems found sent after."""
    try:
        reads = sorted({i for i, _ in tasks}.union(described))
        nodes = Nodes(checks[0].target, [checks[i].path for i in reads], 1)
        for i in reads:
            checks[i].doc = nodes.doc(checks[i].path)
        found: dict[int, _Described] = {}
        for i in described:
            check = checks[i]
            where = "" if check.doc is not None else nodes.where(check.path)
            found[i] = (_metadata_checks(check.array, check.doc, where), schema_view(check.doc))
        # Sent meanwhile: the parent checks the groups against them while the shards are.
        sending = threading.Thread(target=send.send, args=(found,))
        sending.start()
        try:
            for batch in _batches((checks[check_index], shard) for check_index, shard in tasks):
                _check_batch(batch)
        finally:
            sending.join()  # the pipe carries one message at a time
        send.send({i: checks[i].problems for i in {i for i, _ in tasks}})
    finally:
        send.close()


def _start_processes(checks: list[_ArrayCheck], workers: int) -> list[tuple[Any, Any]]:
    """Decoding and comparing costs Python time per shard and per array, which threads do not
    share out: the shards split over forked worker processes, started here. Each reads its
    arrays' zarr.json itself, not the parent before starting them (a plate's 12,288 took it
    0.25 s, the other core idle), and sends back first, of its share of the arrays, their checks
    against the plan and what the 0.6 schemas read of them; then its shards' problems."""
    tasks = [(i, shard) for i, check in enumerate(checks) for shard in check.shard_indices()]
    context = multiprocessing.get_context("fork")
    running = []
    for worker in range(workers):
        receive, send = context.Pipe(duplex=False)
        described = range(worker, len(checks), workers)
        process = context.Process(
            target=_check_shards,
            args=(checks, tasks[worker::workers], described, send),
            daemon=True,
        )
        process.start()
        send.close()
        running.append((receive, process))
    return running


def _receive(running: list[tuple[Any, Any]], last: bool) -> list[Any]:
    """The next message of each worker process; with ``last``, each is then joined."""
    found = []
    for receive, process in running:
        try:
            found.append(receive.recv())
        except EOFError as err:
            process.join()
            raise RuntimeError(f"a validation worker died (exit code {process.exitcode})") from err
        if last:
            process.join()
    return found


def _described(running: list[tuple[Any, Any]]) -> dict[int, _Described]:
    """Each array as the worker processes described it, once they have read them all."""
    return {i: found for part in _receive(running, False) for i, found in part.items()}


def _gather(checks: list[_ArrayCheck], running: list[tuple[Any, Any]]) -> None:
    """The problems the worker processes found, once they are done (after :func:`_described`)."""
    for found in _receive(running, True):
        for check_index, problems in found.items():
            checks[check_index].problems.update(problems)


class ArrayComparison:
    """Every array against its input. ``full``/``sample``: an array its convert jobs read back
    whole (``records``) has its recorded files listed on storage and ``sample`` input chunks
    re-read on both sides; any other array is read whole (full) or at the sample (sample).
    ``reread``: every array read whole on both sides.

    Begun, then finished into a report: the shards of a local dataset are checked by worker
    processes from the start, which read the arrays' zarr.json themselves, while the caller
    checks the rest; any other dataset's arrays' zarr.json are read into ``nodes`` here."""

    def __init__(
        self,
        plan: Plan,
        nodes: Nodes,
        source: Location,
        target: Location,
        mode: str,
        sample: int,
        seed: int,
        threads: int,
        records: Iterable[dict[str, Any]] = (),
    ) -> None:
        rng = random.Random(seed)
        proofs = {} if mode == "reread" else gather_proofs(plan, records)
        check_files(proofs, target)
        LOG.info(
            "%s mode: %d of %d arrays read back by their convert jobs; %d random input chunks "
            "re-read per array, seed %d",
            mode,
            len(proofs),
            len(plan.arrays),
            sample,
            seed,
        )
        source_store = source.zarr_store(read_only=True)
        target_store = target.zarr_store(read_only=True)
        self.mode = mode
        self.nodes = nodes
        self.checks = []
        for array in plan.arrays:
            proof = proofs.get(array.path)
            sampled = proof is not None or mode == "sample"
            self.checks.append(
                _ArrayCheck(
                    array,
                    None,  # read below, or by the worker processes
                    _sample(array, rng, sample) if sampled else None,
                    source,
                    target,
                    source_store,
                    target_store,
                    sampled_decode=mode == "sample" and array.output.as_input and plan.in_place,
                    proof=proof,
                )
            )
        shards = sum(len(check.shard_indices()) for check in self.checks)
        self.workers, reads = io_plan(
            threads, source, target, max(a.shard_bytes for a in plan.arrays)
        )
        for check in self.checks:
            check.reads_in_flight = reads
        # Remote stores hold an event loop a forked process cannot use; their checks wait on
        # requests more than on Python, so threads, enough to keep the requests in flight.
        local = source.local_path is not None and target.local_path is not None
        self.running = (
            _start_processes(self.checks, threads)
            if local and threads > 1 and shards >= WORTH_PROCESSES
            else None
        )
        self._descriptions: dict[int, _Described] | None = None
        if self.running is None:
            nodes.load(check.path for check in self.checks)
            for check in self.checks:
                check.doc = nodes.doc(check.path)

    def _described(self) -> dict[int, _Described]:
        """Each array as the worker processes described it, waited for once."""
        assert self.running is not None
        if self._descriptions is None:
            self._descriptions = _described(self.running)
        return self._descriptions

    def documents(self) -> dict[str, dict[str, Any] | None]:
        """The arrays' zarr.json: as read into ``nodes``, or as the worker processes described
        them for the 0.6 schemas (see :func:`~.spec_schemas.schema_view`), once they have read
        them all."""
        if self.running is None:
            return {check.path: check.doc for check in self.checks}
        described = self._described()
        return {check.path: described[i][1] for i, check in enumerate(self.checks)}

    def finish(self, report: Report) -> None:
        """Every array's checks into ``report``: its zarr.json against the plan, then its
        values."""
        if self.running is not None:
            described = self._described()
            metadata = [described[i][0] for i in range(len(self.checks))]
            _gather(self.checks, self.running)
        else:
            metadata = [
                _metadata_checks(
                    check.array,
                    check.doc,
                    self.nodes.where(check.path) if check.doc is None else "",
                )
                for check in self.checks
            ]
            pending = ((check, index) for check in self.checks for index in check.shard_indices())
            _run_bounded(
                (partial(_check_batch, batch) for batch in _batches(pending)), self.workers
            )
        for check, found in zip(self.checks, metadata, strict=True):
            for name, ok, detail in found:
                report.add(name, ok, detail, array=check.path)
            ok, detail = check.result()
            report.add(
                f"array {check.path}: values equal the input ({self.mode})",
                ok,
                detail,
                array=check.path,
            )
