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

import itertools
import logging
import multiprocessing
import os
import random
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import zarr
from zarr.core.metadata import ArrayV2Metadata, ArrayV3Metadata
from zarr.storage import StorePath

from ngff_resave.arrays.codecs import planned_array_metadata, v3_data_type
from ngff_resave.arrays.readback import RecordingStore, file_digest
from ngff_resave.arrays.reencode import open_source
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
from ngff_resave.checks.results import Report, join_path, spell_error
from ngff_resave.model.plan import Mode, Plan, PlannedArray
from ngff_resave.source.v05 import EncodedChunks
from ngff_resave.storage import Location

LOG = logging.getLogger("ngff_resave.checks.validation")
# From this many shards on, pixels are checked in worker processes (see _check_in_processes);
# below, starting them costs more than it saves.
WORTH_PROCESSES = 8


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

    @property
    def path(self) -> str:
        return self.array.path

    def _open(self, side: str) -> Any:
        with self._lock:
            if side not in self._opened:
                if side == "output":
                    if self.doc is None or self.doc.get("node_type") != "array":
                        raise FileNotFoundError(f"no array zarr.json at {self._out()}")
                    # zarr parses the already loaded zarr.json; it is not read again.
                    self._opened[side] = zarr.Array(
                        zarr.AsyncArray(
                            metadata=ArrayV3Metadata.from_dict(dict(self.doc)),
                            store_path=StorePath(self.target_store, self.path),
                        )
                    )
                else:
                    self._opened[side] = self._open_input()
            return self._opened[side]

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
                metadata=parse(document), store_path=StorePath(self.source_store, self.path)
            )
        )

    def shard_indices(self) -> list[int]:
        """The shards to check: every one; with ``sampled_decode``, those holding a sampled
        chunk (the output's bytes are the input's own files and its zarr.json names the
        input's codecs, grid, keys and fill value, checked apart, so the values are the
        input's; decoding samples shows the metadata reads them)."""
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

    def check_shard(self, index: int) -> None:
        region = shard_slices(self.array.shape, self.array.output.shards, index)
        try:
            if self.proof is not None:
                problem = self._proven_sample(index, region)
            elif self.sampled_decode:
                problem = self._decoded_samples(region)
            elif self.array.output.as_input or self.array.mode == Mode.REFERENCE:
                problem = self._input_files(index) or self._decoded(region, None)
            elif self.array.mode == Mode.COPY:
                problem = self._copied_bytes(index) or self._decoded(region, None)
            else:
                problem = self._reencoded(region)
        except Exception as err:  # noqa: BLE001 - an unreadable shard is a failed check
            problem = (
                f"cannot read [{_spell(region)}] of {self._out()} or "
                f"{self.source.child(self.path)}: {spell_error(err)}"
            )
        with self._lock:
            if problem:
                self.problems[index] = problem
            self._shards_done += 1
            if self._shards_done == len(self.shard_indices()):
                self._opened.clear()  # a plate has thousands of arrays: keep none open

    def _copied_bytes(self, index: int) -> str:
        """Each inner chunk of the shard (the sampled ones in sample mode) is the input chunk
        file byte for byte, and a missing input chunk is an empty index entry."""
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
        data = self.target.read_bytes(join_path(self.path, key))
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

    def _input_files(self, index: int) -> str:
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
            if self.source.read_bytes(key) != self.target.read_bytes(key):
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
        read = dict(recording.whole)
        for key in recording.partly - set(read):
            data = self.target.read_bytes(key)
            if data is not None:
                read[key] = data
        for key, data in sorted(read.items()):
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
            return self._input_files(index)
        if self.array.mode == Mode.COPY:
            return self._copied_bytes(index)
        expected = np.asarray(self._open("input")[box])
        equal_nan = np.dtype(self.array.dtype).kind in "fc"
        for part in parts:
            local = tuple(
                slice(p.start - b.start, p.stop - b.start) for p, b in zip(part, box, strict=True)
            )
            if not np.array_equal(expected[local], got[local], equal_nan=equal_nan):
                return f"first difference in [{_spell(part)}]"
        return ""

    def _decoded_samples(self, region: tuple[slice, ...]) -> str:
        """The sampled chunks within this shard's region, decoded by zarr-python."""
        output = self._open("output")
        for part in self._sampled_parts(region):
            output[part]
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
        return True, (
            f"{self.array.shards} shards read back by zarr-python and compared by value with "
            f"the input as written; every file as its job recorded; {len(self.sampled or ())} "
            "sampled input chunks re-read on both sides, equal"
        )


def _sample(array: PlannedArray, rng: random.Random, sample: int) -> set[tuple[int, ...]]:
    """``sample`` random input chunks (drawn as before, so a seed picks the same chunks)."""
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


def _check_shards(checks: list[_ArrayCheck], tasks: list[tuple[int, int]], send: Any) -> None:
    """In a worker process: these (array, shard) checks one after another; the problems found
    go back through the pipe."""
    try:
        for check_index, shard in tasks:
            checks[check_index].check_shard(shard)
        send.send({i: checks[i].problems for i in {i for i, _ in tasks}})
    finally:
        send.close()


def _check_in_processes(checks: list[_ArrayCheck], workers: int) -> None:
    """Decoding and comparing costs Python time per shard and per array, which threads do not
    share out: split the shards over forked worker processes."""
    tasks = [(i, shard) for i, check in enumerate(checks) for shard in check.shard_indices()]
    context = multiprocessing.get_context("fork")
    running = []
    for worker in range(workers):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_check_shards, args=(checks, tasks[worker::workers], send), daemon=True
        )
        process.start()
        send.close()
        running.append((receive, process))
    for receive, process in running:
        try:
            found = receive.recv()
        except EOFError as err:
            raise RuntimeError(f"a validation worker died (exit code {process.exitcode})") from err
        finally:
            process.join()
        for check_index, problems in found.items():
            checks[check_index].problems.update(problems)


def compare_arrays(
    plan: Plan,
    nodes: Nodes,
    source: Location,
    target: Location,
    mode: str,
    sample: int,
    seed: int,
    threads: int,
    report: Report,
    records: Iterable[dict[str, Any]] = (),
) -> None:
    """Every array against its input. ``full``/``sample``: an array its convert jobs read back
    whole (``records``) has its recorded files listed on storage and ``sample`` input chunks
    re-read on both sides; any other array is read whole (full) or at the sample (sample).
    ``reread``: every array read whole on both sides."""
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
    checks = []
    for array in plan.arrays:
        proof = proofs.get(array.path)
        sampled = proof is not None or mode == "sample"
        checks.append(
            _ArrayCheck(
                array,
                nodes.doc(array.path),
                _sample(array, rng, sample) if sampled else None,
                source,
                target,
                source_store,
                target_store,
                sampled_decode=mode == "sample" and array.output.as_input and plan.in_place,
                proof=proof,
            )
        )
    shards = sum(len(check.shard_indices()) for check in checks)
    workers, reads = io_plan(threads, source, target, max(a.shard_bytes for a in plan.arrays))
    for check in checks:
        check.reads_in_flight = reads
    # Remote stores hold an event loop a forked process cannot use; their checks wait on
    # requests more than on Python, so threads, enough to keep the requests in flight.
    local = source.local_path is not None and target.local_path is not None
    if local and threads > 1 and shards >= WORTH_PROCESSES:
        _check_in_processes(checks, threads)
    else:
        _run_bounded(
            (
                partial(check.check_shard, index)
                for check in checks
                for index in check.shard_indices()
            ),
            workers,
        )
    for check in checks:
        for name, ok, detail in _metadata_checks(check.array, check.doc, nodes.where(check.path)):
            report.add(name, ok, detail, array=check.path)
        ok, detail = check.result()
        report.add(
            f"array {check.path}: values equal the input ({mode})", ok, detail, array=check.path
        )
