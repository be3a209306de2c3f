"""What a job asks the scheduler for: memory and wall time, from the bytes the plan gives it."""

from __future__ import annotations


def job_memory_mb(shard_bytes: int, threads: int) -> int:
    """Memory a job asks for: two shards in flight per thread, each held decoded and encoded at
    once, plus the interpreter and libraries."""
    return int(500 + 4 * threads * shard_bytes / 2**20)


def job_runtime_minutes(nbytes: int) -> int:
    """Wall time a job asks for, at a cautious 20 MB/s, plus start-up."""
    return int(5 + nbytes / (20 * 2**20) / 60)
