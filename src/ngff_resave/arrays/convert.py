"""Convert jobs: write the shards of one resolution level (or one part of it).

Streaming with bounded concurrency: ``threads`` workers, at most ``2 x threads`` shards in
flight (the queued ones keep the workers fed), each read from the input region it covers and
written whole, so memory grows with threads x shard size and never with the array.
``copy`` arrays move compressed chunk bytes into shards (see :mod:`ngff_resave.arrays.shards`);
``reencode`` arrays are decoded and encoded (see :mod:`ngff_resave.arrays.reencode`).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ngff_resave.arrays.codecs import planned_array_metadata
from ngff_resave.arrays.readback import Readback
from ngff_resave.arrays.resources import io_plan, peak_memory_bytes
from ngff_resave.arrays.shards import (
    assemble_shard,
    grid_of,
    inner_chunk_coords,
    input_files,
    shard_slices,
    shards_with_files,
    v3_shard_key,
)
from ngff_resave.model.plan import Engine, Mode, Plan, PlannedArray
from ngff_resave.records.originals import withdraw_root
from ngff_resave.records.ownership import Run, claim_plan_output, confirm_claim
from ngff_resave.source.listing import ListedFiles, v3_key_pattern
from ngff_resave.source.v05 import EncodedChunks
from ngff_resave.storage import Location, encode_json, open_location, write_local_json

if TYPE_CHECKING:
    from ngff_resave.arrays.linking import ChunkLinker
    from ngff_resave.arrays.reencode import ChunkTranscoder, Reencoder

LOG = logging.getLogger(__name__)


class Progress:
    """Logs done/total, throughput and ETA at most every ``interval`` seconds."""

    def __init__(
        self,
        label: str,
        total_shards: int,
        total_bytes: int,
        interval: float,
        on_shard: Callable[[int], None] | None = None,
    ) -> None:
        self.label = label
        self.on_shard = on_shard
        self.total_shards = total_shards
        self.total_bytes = total_bytes
        self.interval = interval
        self.start = time.monotonic()
        self.last = self.start
        self.shards = 0
        self.bytes = 0

    def advance(self, nbytes: int, shards: int = 1) -> None:
        self.shards += shards
        self.bytes += nbytes
        if self.on_shard is not None:
            self.on_shard(nbytes)
        self.tick(final=self.shards == self.total_shards)

    def tick(self, final: bool = False) -> None:
        """Log a line when ``interval`` has passed, even if no shard finished meanwhile."""
        now = time.monotonic()
        if final or now - self.last >= self.interval:
            self.last = now
            LOG.info("%s", self.line(now))

    def line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        rate = self.bytes / elapsed
        left = (self.total_bytes - self.bytes) / rate if rate else float("nan")
        return (
            f"{self.label}: {self.shards}/{self.total_shards} shards "
            f"({100 * self.shards / max(self.total_shards, 1):.0f}%), "
            f"{rate / 1e6:.1f} MB/s, ETA {left:.0f} s"
        )


class ConvertError(RuntimeError):
    """A shard could not be written; the message names the dataset, the array and the region."""


@dataclass
class ShardResult:
    pixel_bytes: int
    bytes_read: int = 0
    bytes_written: int = 0

    def add(self, other: ShardResult) -> None:
        self.pixel_bytes += other.pixel_bytes
        self.bytes_read += other.bytes_read
        self.bytes_written += other.bytes_written


def _shard_pixel_bytes(array: PlannedArray, index: int) -> int:
    region = shard_slices(array.shape, array.output.shards, index)
    return int(array.dtype[2:]) * math.prod(s.stop - s.start for s in region)


def _pixel_bytes_of(array: PlannedArray, shards: list[int]) -> int:
    """The pixel bytes of these shards of ``array``: the array's own when they are all."""
    if len(shards) == array.shards:
        return array.bytes
    return sum(_shard_pixel_bytes(array, index) for index in shards)


@dataclass
class ShardTask:
    """One output shard: where it comes from and how it is made."""

    dataset: str
    array: PlannedArray
    index: int
    source_loc: Location
    target_loc: Location
    engine: Engine
    reencoder: Reencoder | None = None
    transcoder: ChunkTranscoder | None = None
    # Input chunks of this shard read at once (remote inputs; one at a time locally).
    reads_in_flight: int = 1
    # Referenced arrays in a new location: links to the input's chunk files (None in place).
    linker: ChunkLinker | None = None
    # Copied arrays: the input's encoded chunks.
    encoded: EncodedChunks | None = None
    # Reads each shard back once written (every engine that reads the input).
    readback: Readback | None = None

    @property
    def region(self) -> tuple[slice, ...]:
        return shard_slices(self.array.shape, self.array.output.shards, self.index)

    def describe(self) -> str:
        region = ",".join(f"{s.start}:{s.stop}" for s in self.region)
        return f"dataset '{self.dataset}': {self.source_loc.child(self.array.path)} [{region}]"

    def run(self) -> tuple[str, ShardResult]:
        try:
            return self.array.path, self._run()
        except Exception as err:
            raise ConvertError(f"{self.describe()}: {type(err).__name__}: {err}") from err

    def _run(self) -> ShardResult:
        if self.engine in (Engine.SHARD_COPY, Engine.CHUNK_TRANSCODE):
            return self._assemble()
        if self.engine == Engine.LINK:
            return self._link()
        if self.engine == Engine.FILE_COPY:
            return self._copy_files()
        return self._reencode()

    def _pixel_bytes(self) -> int:
        return _shard_pixel_bytes(self.array, self.index)

    def _reencode(self) -> ShardResult:
        assert self.reencoder is not None
        values = self.reencoder.copy(self.array.path, self.region)
        if self.readback is not None:
            self.readback.values(self.array, self.index, self.region, expected=values)
        return ShardResult(self._pixel_bytes())

    def _link(self) -> ShardResult:
        """A block of a referenced array: each input chunk (or shard) file linked at its key;
        in place there is nothing to do, the metadata points at the files where they are."""
        if self.linker is not None:
            source, target = self.source_loc.local_path, self.target_loc.local_path
            assert source is not None and target is not None  # the sheet check makes sure
            listed = ListedFiles(self.array.input)
            for key in input_files(self.array, self.index):
                path = f"{self.array.path}/{key}"
                if not self.linker.link(f"{source}/{path}", f"{target}/{path}"):
                    if listed.holds_file(key):
                        listed.check_found(f"{source}/{path}", None)
        return ShardResult(self._pixel_bytes())

    def _copy_files(self) -> ShardResult:
        """A shard (or block of chunk files) of a Zarr v3 input taken as it is: its files
        copied byte for byte; one the input lacks is not left from an earlier run either."""
        listed = ListedFiles(self.array.input)
        names = input_files(self.array, self.index)
        keys = [f"{self.array.path}/{name}" for name in names]
        wanted = [listed.holds_file(name) for name in names]
        found = iter(
            self.source_loc.read_many(
                [key for key, holds in zip(keys, wanted, strict=True) if holds],
                self.reads_in_flight,
            )
        )
        held = {}
        written: dict[str, bytes] | None = {}
        for name, key, holds in zip(names, keys, wanted, strict=True):
            data = next(found) if holds else None
            if holds:
                listed.check_found(self.source_loc.child(key), data)
            if data is None:
                self.target_loc.delete(key)
                continue
            held[name] = data
            proven = self.target_loc.write_proven(key, [data])
            if written is not None and proven is not None:
                written[name] = proven
            else:
                # One file storage did not vouch for: the block is read back.
                written = None
        if self.readback is not None:
            self.readback.copied_files(self.array, self.index, self.region, held, written or None)
        read = sum(len(data) for data in held.values())
        return ShardResult(self._pixel_bytes(), read, read)

    def _assemble(self) -> ShardResult:
        """The shard from its input chunks' bytes, copied or transcoded one by one."""
        array = self.array
        assert self.encoded is not None
        coords = list(
            inner_chunk_coords(array.shape, array.output.chunks, array.output.shards, self.index)
        )
        held: dict[str, bytes] = {}
        found = iter(self.encoded.read([c for c in coords if c is not None], held))
        inner = [None if coord is None else next(found) for coord in coords]
        read = sum(len(data) for data in inner if data is not None)
        chunks = inner
        decoded = None
        if self.transcoder is not None and self.readback is not None:
            # The input as zarr-python reads it, decoded once: encoded, and compared with the
            # shard read back.
            decoded = self.readback.input_chunks(array, self.region, held)
            chunks = self.transcoder.encode_many(
                [None if coord is None else decoded.chunk(coord) for coord in coords]
            )
        elif self.transcoder is not None:
            chunks = self.transcoder.many(inner)
        parts = assemble_shard(chunks)
        name = v3_shard_key(array.shape, array.output.shards, self.index)
        key = f"{array.path}/{name}"
        written = None
        if parts is None:
            # No chunk, no shard: and none left over from an earlier run, which would be read.
            self.target_loc.delete(key)
        else:
            written = self.target_loc.write_proven(key, parts)
        if self.readback is not None and decoded is not None:
            self.readback.values(
                self.array,
                self.index,
                self.region,
                decoded=decoded,
                written=None if written is None else {name: written},
            )
        elif self.readback is not None:
            self.readback.copied_chunks(self.array, self.index, self.region, inner, written)
        return ShardResult(self._pixel_bytes(), read, sum(len(p) for p in parts or ()))


def _clear_empty_shards(
    array: PlannedArray,
    shards: tuple[int, int],
    with_files: set[int],
    engine: Engine,
    target: Location,
    readback: Readback,
) -> None:
    """The shards of ``shards`` in which the input's listing found no file: nothing to read or
    write (they read as the fill value), but whatever an earlier run wrote there is removed,
    found by one listing of the array's output files. Counted as compared: validation's
    listing of the output shows that no file is there."""
    if engine == Engine.LINK:
        return
    grid = grid_of(array.shape, array.output.shards)
    for name in target.list_files(array.path):
        coord = _block_of(array, name, engine)
        if coord is None:
            continue
        index = 0
        for c, extent in zip(coord, grid, strict=True):
            index = index * extent + c
        if shards[0] <= index < shards[1] and index not in with_files:
            target.delete(f"{array.path}/{name}")
    empty = shards[1] - shards[0] - sum(1 for i in with_files if shards[0] <= i < shards[1])
    readback.nothing_stored(array, empty)


def _block_of(array: PlannedArray, name: str, engine: Engine) -> tuple[int, ...] | None:
    """The shard (or, for a file copy, the block of files) a written file belongs to, from its
    key; None for a file that is neither (``zarr.json``)."""
    ndim = len(array.shape)
    if engine != Engine.FILE_COPY:
        found = re.fullmatch("c" + r"/(\d+)" * ndim, name)
        return None if found is None else tuple(int(g) for g in found.groups())
    source = array.input
    encoding = (source.document or {}).get("chunk_key_encoding") or {"name": "default"}
    found = v3_key_pattern(encoding, ndim).fullmatch(name)
    if found is None:
        return None
    files = source.shards or source.chunks
    return tuple(
        int(c) * f // b for c, f, b in zip(found.groups(), files, array.output.shards, strict=True)
    )


def choose_engine(array: PlannedArray, source: Location, target: Location) -> Engine:
    """Copy when the plan says so; transcode chunk by chunk when only the codec changes;
    otherwise re-encode regions, with tensorstore where it can read the input."""
    from ngff_resave.arrays.reencode import TensorstoreEngine

    if array.mode == Mode.COPY:
        return Engine.FILE_COPY if array.output.as_input else Engine.SHARD_COPY
    if array.mode == Mode.REFERENCE:
        return Engine.LINK
    if array.downsampled_from:
        return Engine.NEAREST
    if array.output.chunks == array.input.chunks and array.input.zarr_format == 2:
        return Engine.CHUNK_TRANSCODE
    if TensorstoreEngine.usable(source, target, array):
        return Engine.TENSORSTORE
    return Engine.ZARR_PYTHON


# The engines that move encoded bytes; the others decode and encode.
COPYING = (Engine.SHARD_COPY, Engine.CHUNK_TRANSCODE, Engine.FILE_COPY)


class _MetadataBytes:
    """The fields of a plate share their array metadata: each distinct one is encoded once."""

    def __init__(self) -> None:
        self.encoded: dict[str, bytes] = {}

    def __call__(self, array: PlannedArray) -> bytes:
        meta = planned_array_metadata(array)
        key = json.dumps(meta, sort_keys=True)
        if key not in self.encoded:
            self.encoded[key] = encode_json(meta)
        return self.encoded[key]


def run_convert_job(
    plan: Plan,
    job_id: str,
    record_path: str | Path,
    threads: int = 1,
    progress_interval: float = 2.0,
    run: Run | None = None,
    on_shard: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write every shard of one convert job, then its record (last, so a crash leaves none).
    ``on_shard`` is called with the pixel bytes of each shard written (a progress bar)."""
    job = plan.job(job_id)
    started = time.monotonic()
    started_at = time.time()
    arrays = {a.path: a for a in plan.arrays}
    source_loc = open_location(plan.input, plan.input_storage)
    target_loc = open_location(plan.output, plan.output_storage)
    run = run or Run.current(Path("results"))
    claim_plan_output(plan, target_loc, run)
    # Whatever an earlier run left, a dataset being written must not look complete.
    withdraw_root(plan, target_loc)
    engines = {p.path: choose_engine(arrays[p.path], source_loc, target_loc) for p in job.arrays}
    reencoder = None
    if set(engines.values()) - {*COPYING, Engine.LINK}:
        from ngff_resave.arrays.reencode import Reencoder

        reencoder = Reencoder(source_loc, target_loc, threads)
    linker = None
    if Engine.LINK in engines.values() and not plan.in_place:
        from ngff_resave.arrays.linking import ChunkLinker

        linker = ChunkLinker()
    metadata_bytes = _MetadataBytes()
    workers, reads = io_plan(threads, source_loc, target_loc, job.shard_bytes)
    readback = Readback(source_loc, target_loc, metadata_bytes)

    # Sparse arrays: the shards holding anything (None: all of them).
    with_files_of = {p.path: shards_with_files(arrays[p.path]) for p in job.arrays}
    # The input files the copying engines found, by array (validation checks the count).
    found_files: dict[str, EncodedChunks] = {}

    def tasks() -> Iterator[ShardTask]:
        for part in job.arrays:
            array = arrays[part.path]
            # Every part of a level writes the same metadata bytes, so order does not matter.
            # In place over Zarr v3 they are the input's own: the metadata step replaces them,
            # after keeping copies.
            if not plan.replaces_input_documents:
                target_loc.write_bytes(f"{array.path}/zarr.json", metadata_bytes(array))
            engine = engines[array.path]
            encoded = None
            if engine in (Engine.SHARD_COPY, Engine.CHUNK_TRANSCODE):
                encoded = EncodedChunks(source_loc, array.path, array.input, reads)
                if array.input.zarr_format == 2 or array.input.shards is None:
                    # A file per chunk: each is found by exactly one output shard.
                    found_files[array.path] = encoded
            transcoder = None
            if engine == Engine.CHUNK_TRANSCODE:
                from ngff_resave.arrays.reencode import ChunkTranscoder

                transcoder = ChunkTranscoder(array, threads)
            elif engine not in (*COPYING, Engine.LINK):
                assert reencoder is not None
                reencoder.open(array, engine)
            with_files = with_files_of[array.path]
            indices: Iterable[int] = range(*part.shards)
            if with_files is not None:
                _clear_empty_shards(array, part.shards, with_files, engine, target_loc, readback)
                indices = sorted(i for i in with_files if part.shards[0] <= i < part.shards[1])
            if engine == Engine.LINK and linker is None:
                # In place the files are where they are: no shard has anything to do, and a
                # plate's thousands of them are not worth a task each.
                shards = list(indices)
                nbytes = _pixel_bytes_of(array, shards)
                left_in_place.setdefault(array.path, ShardResult(0)).add(ShardResult(nbytes))
                progress.advance(nbytes, len(shards))
                continue
            for index in indices:
                yield ShardTask(
                    plan.dataset,
                    array,
                    index,
                    source_loc,
                    target_loc,
                    engine,
                    reencoder,
                    transcoder,
                    reads,
                    linker,
                    encoded,
                    None if engine == Engine.LINK else readback,
                )

    total_shards = sum(_shards_to_write(p.shards, with_files_of[p.path]) for p in job.arrays)
    # Of the shards written (a sparse array's others are not), so that rates and ETAs hold.
    pixel_bytes = sum(
        arrays[p.path].bytes
        * _shards_to_write(p.shards, with_files_of[p.path])
        // arrays[p.path].shards
        for p in job.arrays
    )
    progress = Progress(
        f"{plan.dataset} level {job.level} part {job.part}",
        total_shards,
        pixel_bytes,
        progress_interval,
        on_shard,
    )
    LOG.info(
        "%s: %d arrays, %d shards, %.1f MB of pixels, %d threads, %d shards at once",
        progress.label,
        len(job.arrays),
        total_shards,
        pixel_bytes / 1e6,
        threads,
        workers,
    )
    left_in_place: dict[str, ShardResult] = {}
    per_array = _write_shards(tasks(), workers, progress) | left_in_place
    # Another run that took the output over meanwhile would have mixed its shards with these.
    confirm_claim(plan.dataset, target_loc, run)
    if reencoder:
        _share_reencoded_bytes(per_array, reencoder.counts(), engines)
    record: dict[str, Any] = {
        "dataset": plan.dataset,
        "job": job_id,
        "pixels_digest": plan.pixels_digest(),
        "level": job.level,
        "part": job.part,
        "arrays": [
            {
                "path": p.path,
                "shards": list(p.shards),
                **(
                    {"files_found": len(found_files[p.path].files_found)}
                    if p.path in found_files
                    else {}
                ),
                "mode": arrays[p.path].mode,
                "engine": engines[p.path],
                "bytes_read": per_array.get(p.path, ShardResult(0)).bytes_read,
                "bytes_written": per_array.get(p.path, ShardResult(0)).bytes_written,
                **(
                    {"proof": readback.proofs[p.path].as_record()}
                    if p.path in readback.proofs
                    else {}
                ),
            }
            for p in job.arrays
        ],
        "shards_written": total_shards,
        # Shards in which the input's listing found no file: nothing to write (fill value).
        "shards_empty": sum(p.shards[1] - p.shards[0] for p in job.arrays) - total_shards,
        "pixel_bytes": progress.bytes,
        "bytes_read": sum(r.bytes_read for r in per_array.values()),
        "bytes_written": sum(r.bytes_written for r in per_array.values()),
        "seconds": round(time.monotonic() - started, 3),
        "started_at": started_at,
        "finished_at": time.time(),
        "peak_memory_bytes": peak_memory_bytes(),
        "threads": threads,
        "shard_workers": workers,
        "retries": source_loc.retry_count.retries + target_loc.retry_count.retries,
        "links": dict(linker.counts) if linker else None,
    }
    write_local_json(record_path, record)
    LOG.info(
        "%s: done in %.1f s, read %d bytes, wrote %d bytes, peak memory %.0f MB",
        progress.label,
        record["seconds"],
        record["bytes_read"],
        record["bytes_written"],
        record["peak_memory_bytes"] / 1e6,
    )
    return record


def _shards_to_write(shards: tuple[int, int], with_files: set[int] | None) -> int:
    """How many shards of the range ``shards`` a job writes (those holding anything)."""
    if with_files is None:
        return shards[1] - shards[0]
    return sum(1 for index in with_files if shards[0] <= index < shards[1])


def _share_reencoded_bytes(
    per_array: dict[str, ShardResult], counts: dict[str, int], engines: dict[str, Engine]
) -> None:
    """Add the re-encoders' byte counts to their arrays. They are counted per job (tensorstore
    counts per process), so a job re-encoding several arrays shares them by pixel bytes."""
    reencoded = {
        path: result
        for path, result in per_array.items()
        if engines[path] not in (*COPYING, Engine.LINK)
    }
    pixels = sum(r.pixel_bytes for r in reencoded.values()) or 1
    for key in ("bytes_read", "bytes_written"):
        left = counts[key]
        for number, result in enumerate(reencoded.values(), start=1):
            share = left if number == len(reencoded) else counts[key] * result.pixel_bytes // pixels
            setattr(result, key, getattr(result, key) + share)
            left -= share


def _write_shards(
    tasks: Iterator[ShardTask], threads: int, progress: Progress
) -> dict[str, ShardResult]:
    """Run the shard tasks on ``threads`` workers, ``2 x threads`` in flight; the totals of
    each array."""
    totals: dict[str, ShardResult] = {}

    def finish(future: Future[tuple[str, ShardResult]]) -> None:
        path, result = future.result()
        totals.setdefault(path, ShardResult(0)).add(result)
        progress.advance(result.pixel_bytes)

    # No interval (0) or an endless one (a progress bar shows the rest): wait for shards.
    timeout = progress.interval if 0 < progress.interval < math.inf else None
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: set[Future[tuple[str, ShardResult]]] = set()
        for task in tasks:
            while len(pending) >= 2 * threads:
                done, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    finish(future)
                progress.tick()
            pending.add(pool.submit(task.run))
        while pending:
            done, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                finish(future)
            progress.tick()
    return totals
