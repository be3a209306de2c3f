"""Planning: output chunks, shards and codecs for every array, and the convert jobs.

A plan is a typed model (:mod:`ngff_resave.models`), written as ``results/{dataset}/plan.json``:
every later step reads only the plan, never the sheet, so a plan can be inspected, edited
through a details file, and rerun.
"""

from __future__ import annotations

import logging
import math
import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ngff_resave import __version__
from ngff_resave.codecs import CodecError, output_codecs
from ngff_resave.models import PLAN_FORMAT, Plan
from ngff_resave.shards import shard_count

if TYPE_CHECKING:
    from ngff_resave.source import SourceArray, SourceLayout

LOG = logging.getLogger(__name__)

SPATIAL_AXES = ("x", "y", "z")


class PlanError(ValueError):
    """The settings of a dataset cannot be planned; the message names dataset and array."""


@dataclass
class PlanSettings:
    dataset: str
    input: str
    output: str
    codec: str = "keep"
    chunks: list[int] | None = None
    shards: list[int] | None = None
    details: dict[str, Any] | None = None
    shard_target_bytes: int = 64 * 2**20
    part_target_bytes: int = 16 * 2**30
    input_storage: dict[str, Any] = field(default_factory=dict)
    output_storage: dict[str, Any] = field(default_factory=dict)
    crate: dict[str, Any] | None = None
    notes: str | None = None
    origin: str | None = None
    mend: bool = True
    skip_unsupported: bool = False


def grow_shards(
    shape: list[int], chunks: list[int], itemsize: int, target_bytes: int, axes: list[str]
) -> list[int]:
    """Grow a shard from the chunk shape toward ``target_bytes``, doubling one axis at a time
    (x, y, z first, then the others). A shard is always a whole multiple of the chunk and never
    larger than the chunks that cover the array, so small low levels get one-chunk shards."""
    grid = [-(-s // c) for s, c in zip(shape, chunks, strict=True)]
    factors = [1] * len(shape)
    chunk_bytes = math.prod(chunks) * itemsize
    dims = list(reversed(range(len(shape))))
    spatial = [d for d in dims if axes[d].lower() in SPATIAL_AXES]
    for phase in (spatial, dims):
        grown = True
        while grown:
            grown = False
            for d in phase:
                if factors[d] >= grid[d]:
                    continue
                wanted = min(factors[d] * 2, grid[d])
                trial = factors[:d] + [wanted] + factors[d + 1 :]
                if chunk_bytes * math.prod(trial) > target_bytes:
                    continue
                factors = trial
                grown = True
    return [c * f for c, f in zip(chunks, factors, strict=True)]


def details_key(input_url: str, array_path: str) -> str:
    """The key of an array in the challenge's ``--output-write-details`` JSON."""
    return posixpath.join(input_url.rstrip("/"), array_path)


def match_details(
    details: dict[str, Any], arrays: list[SourceArray], dataset: str
) -> dict[str, dict[str, Any]]:
    """Map details entries to arrays. Keys name the array's input path; they may be absolute,
    relative, or written on another machine, so the longest array path that ends a key wins."""
    by_path: dict[str, dict[str, Any]] = {}
    paths = sorted((a.path for a in arrays), key=len, reverse=True)
    for key, entry in details.items():
        norm = key.rstrip("/")
        hit = next((p for p in paths if norm == p or norm.endswith("/" + p)), None)
        if hit is None:
            raise PlanError(
                f"dataset '{dataset}': details entry {key!r} names no array of the input"
            )
        by_path[hit] = entry
    return by_path


def _check_shape_list(value: Any, ndim: int, what: str, where: str) -> list[int]:
    if (
        not isinstance(value, list)
        or len(value) != ndim
        or not all(isinstance(v, int) and v > 0 for v in value)
    ):
        raise PlanError(f"{where}: {what} {value!r} is not {ndim} positive integers")
    return value


def plan_array(
    array: SourceArray, settings: PlanSettings, entry: dict[str, Any] | None
) -> dict[str, Any]:
    where = f"dataset '{settings.dataset}', array {array.path}"
    ndim = len(array.shape)
    chunks = list(array.chunks)
    shards: list[int] | None = None
    if entry is not None:
        chunks = _check_shape_list(entry.get("chunks", chunks), ndim, "details chunks", where)
        if "shards" in entry:
            shards = _check_shape_list(entry["shards"], ndim, "details shards", where)
    else:
        if settings.chunks is not None:
            chunks = _check_shape_list(settings.chunks, ndim, "chunks", where)
        if settings.shards is not None:
            shards = _check_shape_list(settings.shards, ndim, "shards", where)
    if shards is None:
        shards = grow_shards(
            array.shape, chunks, array.itemsize, settings.shard_target_bytes, array.dimension_names
        )
    bad = [i for i, (s, c) in enumerate(zip(shards, chunks, strict=True)) if s % c]
    if bad:
        raise PlanError(
            f"{where}: shards {shards} are not a whole multiple of chunks {chunks} "
            f"on axis {', '.join(array.dimension_names[i] for i in bad)}"
        )
    try:
        codecs, codec_note = output_codecs(
            array.compressor, array.filters, array.itemsize, settings.codec
        )
    except CodecError as err:
        raise PlanError(f"{where}: {err}") from err
    reasons = [r for r in [codec_note] if r]
    if array.downsampled_from:
        reasons.append(
            f"a missing label level, computed by nearest-neighbour downsampling of "
            f"{array.downsampled_from} (a mend)"
        )
    if chunks != array.chunks:
        reasons.append(f"chunk shape changes from {array.chunks} to {chunks}")
    mode = "reencode" if reasons else "copy"
    if mode == "copy":
        compressor = (array.compressor or {}).get("id", "no compressor")
        reasons.append(f"{compressor} chunks are byte-identical v3 inner chunks")
    shard_bytes = math.prod(shards) * array.itemsize
    return {
        "path": array.path,
        "image": array.image,
        "level": array.level,
        "shape": array.shape,
        "dtype": array.dtype,
        "dimension_names": array.dimension_names,
        "input": {
            "chunks": array.chunks,
            "compressor": array.compressor,
            "filters": array.filters,
            "order": array.order,
            "fill_value": array.fill_value,
            "dimension_separator": array.dimension_separator,
        },
        "output": {
            "chunks": chunks,
            "shards": shards,
            "codecs": codecs,
            # Chunks kept whole (copied or transcoded) keep their memory order; re-chunked
            # arrays are written C-ordered.
            "order": array.order if chunks == array.chunks else "C",
        },
        "mode": mode,
        "reason": "; ".join(reasons),
        "bytes": array.nbytes,
        "shards": shard_count(array.shape, shards),
        "shard_bytes": shard_bytes,
        "attributes": array.attributes,
        "downsampled_from": array.downsampled_from,
    }


def plan_jobs(arrays: list[dict[str, Any]], part_target_bytes: int) -> list[dict[str, Any]]:
    """One job per resolution level, split into shard-aligned parts when a level is larger than
    ``part_target_bytes``. All images of a plate at one level share a job."""
    jobs: list[dict[str, Any]] = []
    for level in sorted({a["level"] for a in arrays}):
        members = [a for a in arrays if a["level"] == level]
        total = sum(a["bytes"] for a in members)
        n_parts = max(1, math.ceil(total / part_target_bytes))
        target = total / n_parts
        parts: list[list[dict[str, Any]]] = [[]]
        fill = 0.0
        for array in members:
            per_shard = array["bytes"] / array["shards"]
            lo = 0
            while lo < array["shards"]:
                if fill >= target and len(parts) < n_parts:
                    parts.append([])
                    fill = 0.0
                take = array["shards"] - lo
                if len(parts) < n_parts:
                    take = min(take, max(1, math.ceil((target - fill) / per_shard)))
                parts[-1].append({"path": array["path"], "shards": [lo, lo + take]})
                fill += take * per_shard
                lo += take
        by_path = {a["path"]: a for a in members}
        for number, part in enumerate(parts):
            jobs.append(
                {
                    "id": f"{level}-{number}",
                    "level": level,
                    "part": number,
                    "arrays": part,
                    "bytes": int(
                        sum(
                            by_path[p["path"]]["bytes"]
                            * (p["shards"][1] - p["shards"][0])
                            / by_path[p["path"]]["shards"]
                            for p in part
                        )
                    ),
                    "shard_bytes": max(by_path[p["path"]]["shard_bytes"] for p in part),
                }
            )
    return jobs


def plan_extras(layout: SourceLayout, settings: PlanSettings) -> list[dict[str, Any]]:
    """The arrays that are not image levels: migrated, or skipped when the config allows it;
    one without a Zarr v3 form fails the plan, naming it."""
    unsupported = [e for e in layout.extras if e.action == "skip"]
    if unsupported and not settings.skip_unsupported:
        raise PlanError(
            f"dataset '{settings.dataset}': {settings.input}: cannot be converted whole: "
            + "; ".join(f"array {e.path}: {e.reason}" for e in unsupported)
            + " (set skip_unsupported: true in the config to convert the rest and list these "
            "in the catalog's skipped column)"
        )
    return [e.model_dump() for e in layout.extras]


def make_plan(
    layout: SourceLayout, settings: PlanSettings, mends: list[dict[str, str]] | None = None
) -> Plan:
    entries: dict[str, dict[str, Any]] = {}
    if settings.details is not None:
        entries = match_details(settings.details, layout.arrays, settings.dataset)
    arrays = [plan_array(a, settings, entries.get(a.path)) for a in layout.arrays]
    jobs = plan_jobs(arrays, settings.part_target_bytes)
    images = [i for i in layout.images if not i.is_label]
    return Plan.model_validate(
        {
            "format": PLAN_FORMAT,
            "planner": {"name": "ngff-resave", "version": __version__},
            "dataset": settings.dataset,
            "input": settings.input,
            "output": settings.output,
            "input_storage": settings.input_storage,
            "output_storage": settings.output_storage,
            "kind": layout.kind,
            "name": layout.name,
            "wells": layout.wells,
            "images": [i.path for i in images],
            "labels": [i.path for i in layout.images if i.is_label],
            "groups": layout.groups,
            "files": layout.files,
            "arrays": arrays,
            "extras": plan_extras(layout, settings),
            "inventory": [item.model_dump() for item in layout.inventory()],
            "listed": layout.listed,
            "mends": mends or [],
            "jobs": jobs,
            "bytes": int(sum(a["bytes"] for a in arrays)),
            "crate": settings.crate,
            "notes": settings.notes,
            "origin": settings.origin,
        }
    )


def write_details(plan: Plan) -> dict[str, Any]:
    """The plan's chunks and shards in the challenge's ``--output-write-details`` format, so a
    user can edit them and hand the file back through the sheet's ``details`` column."""
    return {
        details_key(plan.input, a.path): {
            "shape": a.shape,
            "chunks": a.output.chunks,
            "shards": a.output.shards,
        }
        for a in plan.arrays
    }


def job_by_id(plan: dict[str, Any], job_id: str) -> dict[str, Any]:
    for job in plan["jobs"]:
        if job["id"] == job_id:
            return job
    raise PlanError(f"dataset '{plan['dataset']}': the plan has no convert job {job_id}")


def job_memory_mb(shard_bytes: int, threads: int) -> int:
    """Memory a job asks for: two shards in flight per thread, each held decoded and encoded at
    once, plus the interpreter and libraries."""
    return int(500 + 4 * threads * shard_bytes / 2**20)


def job_runtime_minutes(nbytes: int) -> int:
    """Wall time a job asks for, at a cautious 20 MB/s, plus start-up."""
    return int(5 + nbytes / (20 * 2**20) / 60)
