"""What a job asks the scheduler for (memory and wall time, from the bytes the plan gives it),
and how it spends it on a remote store (shards and requests in flight)."""

from __future__ import annotations

import gc
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ngff_resave.storage import Location

# Bytes of shards a job with a remote side may hold in flight beyond its threads' own, so that
# it keeps many small shards moving at once (see ``io_plan``).
IO_BUFFER_BYTES = 256 * 2**20


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a step builds or walks a large tree of small objects
    (a plate's plan and documents): it would go over that tree again and again as it grows,
    measured at 45% of planning a 1,536-well plate. On again after, so cycles made meanwhile
    are collected as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def kept_from_collector() -> Iterator[None]:
    """Every object alive on entry (a loaded plan: a plate's is a million small objects) left
    out of the cycle collector's passes until exit. They live as long as the step anyway, and
    passes over them took 1.3 s of a plate's 12.5 s pack; on exit they may be freed again."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# Memory a loaded plan takes per byte of its plan.json: a 1,536-well plate's 19.4 MB plan
# took its pack from about 100 MB to 658 MB (29 times), with a margin.
PLAN_MEMORY_FACTOR = 40


def job_memory_mb(
    shard_bytes: int,
    threads: int,
    remote: bool = False,
    attempt: int = 1,
    plan_bytes: int = 0,
    base_mb: int = 500,
) -> int:
    """Memory a job asks for: two shards in flight per thread, each held decoded and encoded at
    once, plus the interpreter and libraries (``base_mb``), plus the shards in flight of a
    remote job, plus its datasets' plans as loaded (``plan_bytes``: the size of their
    plan.json); and as much again for each retry of a job that failed (killed for memory)."""
    buffer = IO_BUFFER_BYTES if remote else 0
    held = 4 * threads * shard_bytes + buffer + PLAN_MEMORY_FACTOR * plan_bytes
    return int(base_mb + held / 2**20) * attempt


def job_runtime_minutes(nbytes: int, attempt: int = 1) -> int:
    """Wall time a job asks for, at a cautious 20 MB/s, plus start-up; as much again for each
    retry of a job that failed (killed for time, say)."""
    return int(5 + nbytes / (20 * 2**20) / 60) * attempt


def peak_memory_bytes() -> int:
    """The largest resident memory of this process and of its children that ended (the
    validation workers), which is what a job's ``mem_mb`` must cover."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) * 1024


def io_plan(threads: int, source: Location, target: Location, shard_bytes: int) -> tuple[int, int]:
    """How many shards a job (convert or validate) works on at once, and how many input chunks
    each reads at once. Locally, ``threads`` shards reading one chunk at a time; with a remote
    side, enough shards and chunk reads to keep about ``io_concurrency`` requests in flight,
    within ``IO_BUFFER_BYTES`` of shards (which ``job_memory_mb`` counts)."""
    io = max(source.io_concurrency, target.io_concurrency)
    if io <= 1:
        return threads, 1
    by_memory = IO_BUFFER_BYTES // max(1, 2 * shard_bytes)
    workers = max(threads, min(io, by_memory))
    return workers, max(1, io // workers)
