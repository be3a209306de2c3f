"""The per-array statistics the 2024 OME-NGFF challenge's converter writes into each output
array's ``zarr.json`` (``attributes._ome2024_ngff_challenge_stats``), which the challenge's
catalog script sums per image for its ``written`` column. Ours are taken from the convert
jobs' records, so the challenge's tools read our outputs' sizes instead of zero."""

from __future__ import annotations

import multiprocessing
import os
from typing import Any
from urllib.parse import urlsplit

from ngff_resave.models import Plan

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


def array_stats(
    plan: Plan, records: list[dict[str, Any]], file_sizes: dict[str, int]
) -> dict[str, dict[str, Any]]:
    """Each planned array's statistics. ``written`` is what its shards take on the output
    (``file_sizes``: the output's files, as listed after conversion), as the challenge counts
    it; ``read``, times and threads come from the records of the convert jobs that wrote it
    (a level split into parts adds up its parts)."""
    machine: dict[str, Any] = {"cpu_count": multiprocessing.cpu_count()}
    if hasattr(os, "sched_getaffinity"):
        machine["sched_affinity"] = len(os.sched_getaffinity(0))
    written: dict[str, int] = {}
    paths = {array.path for array in plan.arrays}
    for name, size in file_sizes.items():
        folder, _, leaf = name.rpartition("/")
        while folder and folder not in paths:
            folder = folder.rpartition("/")[0]
        if folder and leaf != "zarr.json":
            written[folder] = written.get(folder, 0) + size
    totals: dict[str, dict[str, Any]] = {}
    for record in records:
        entries = record.get("arrays", [])
        for entry in entries:
            stats = totals.setdefault(
                entry["path"],
                {
                    "input": endpoint_label(plan.input, plan.input_storage),
                    "output": endpoint_label(plan.output, plan.output_storage),
                    "read": 0,
                    "written": written.get(entry["path"], 0),
                    "threads": 0,
                    "elapsed": 0.0,
                },
            )
            # Records of an earlier version count bytes per job only.
            job_read = record.get("bytes_read", 0) if len(entries) == 1 else 0
            stats["read"] += int(entry.get("bytes_read", job_read))
            stats["threads"] = max(stats["threads"], int(record.get("threads", 0)))
            stats["elapsed"] = round(stats["elapsed"] + float(record.get("seconds", 0)), 6)
            if "started_at" in record:
                stats["start"] = min(stats.get("start", record["started_at"]), record["started_at"])
                stats["stop"] = max(stats.get("stop", record["finished_at"]), record["finished_at"])
    return {path: {**stats, **machine} for path, stats in totals.items()}
