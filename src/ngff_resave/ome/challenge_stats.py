"""The per-array statistics the 2024 OME-NGFF challenge's converter writes into each output
array's ``zarr.json`` (``attributes._ome2024_ngff_challenge_stats``), which the challenge's
catalog script sums per image for its ``written`` column. Ours are taken from the convert
jobs' records, so the challenge's tools read our outputs' sizes instead of zero."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ngff_resave.model.plan import Engine, Plan

STATS_KEY = "_ome2024_ngff_challenge_stats"


def endpoint_label(url: str, storage_options: dict[str, Any]) -> str:
    """Where the bytes came from or went, as the challenge names it: empty for a local path,
    the endpoint of an S3 store (``default`` for AWS), the host of an HTTP(S) address."""
    scheme = urlsplit(url).scheme
    if scheme == "s3":
        return str(storage_options.get("endpoint_url") or "default")
    if scheme in ("http", "https"):
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return ""


# Engines whose per-array byte counts in a convert record are exact: they write shard by
# shard, each counted, or (links) write no pixel bytes at all. The re-encoders count per job.
EXACT_COUNTS = {
    Engine.SHARD_COPY.value,
    Engine.CHUNK_TRANSCODE.value,
    Engine.FILE_COPY.value,
    Engine.LINK.value,
}


def array_stats(
    plan: Plan, records: list[dict[str, Any]], shard_bytes: Callable[[str], int]
) -> dict[str, dict[str, Any]]:
    """Each planned array's statistics, from the records of the convert jobs that wrote it (a
    level split into parts adds up its parts). ``written`` is what its shards take on the
    output, as the challenge counts it: the records' count where it is exact, else
    ``shard_bytes(path)``, measured on the output."""
    machine: dict[str, Any] = {"cpu_count": multiprocessing.cpu_count()}
    if hasattr(os, "sched_getaffinity"):
        machine["sched_affinity"] = len(os.sched_getaffinity(0))
    endpoints = {
        "input": endpoint_label(plan.input, plan.input_storage),
        "output": endpoint_label(plan.output, plan.output_storage),
    }
    totals: dict[str, dict[str, Any]] = {}
    measure: set[str] = set()
    for record in records:
        entries = record.get("arrays", [])
        for entry in entries:
            stats = totals.setdefault(
                entry["path"],
                {
                    **endpoints,
                    "read": 0,
                    "written": 0,
                    "threads": 0,
                    "elapsed": 0.0,
                },
            )
            if entry.get("engine") in EXACT_COUNTS and "bytes_written" in entry:
                stats["written"] += int(entry["bytes_written"])
            else:
                measure.add(entry["path"])
            # Records of an earlier version count bytes per job only.
            job_read = record.get("bytes_read", 0) if len(entries) == 1 else 0
            stats["read"] += int(entry.get("bytes_read", job_read))
            stats["threads"] = max(stats["threads"], int(record.get("threads", 0)))
            stats["elapsed"] = round(stats["elapsed"] + float(record.get("seconds", 0)), 6)
            if "started_at" in record:
                stats["start"] = min(stats.get("start", record["started_at"]), record["started_at"])
                stats["stop"] = max(stats.get("stop", record["finished_at"]), record["finished_at"])
    for path in measure:
        totals[path]["written"] = shard_bytes(path)
    return {path: {**stats, **machine} for path, stats in totals.items()}
