"""What a job asks the scheduler for: memory and wall time, from the bytes the plan gives it."""

from __future__ import annotations

# Bytes of shards a job with a remote side may hold in flight beyond its threads' own, so that
# it keeps many small shards moving at once (see ``convert.io_plan``).
IO_BUFFER_BYTES = 256 * 2**20


def job_memory_mb(shard_bytes: int, threads: int, remote: bool = False) -> int:
    """Memory a job asks for: two shards in flight per thread, each held decoded and encoded at
    once, plus the interpreter and libraries, plus the shards in flight of a remote job."""
    buffer = IO_BUFFER_BYTES if remote else 0
    return int(500 + (4 * threads * shard_bytes + buffer) / 2**20)


def job_runtime_minutes(nbytes: int) -> int:
    """Wall time a job asks for, at a cautious 20 MB/s, plus start-up."""
    return int(5 + nbytes / (20 * 2**20) / 60)
