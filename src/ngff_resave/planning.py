"""Planning: output chunks, shards and codecs for every array, and the convert jobs.

A plan is a typed model (:mod:`ngff_resave.models`), written as ``results/{dataset}/plan.json``:
every later step reads only the plan, never the sheet, so a plan can be inspected, edited
through a details file, and rerun.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ngff_resave import __version__
from ngff_resave.codecs import CodecError, output_codecs
from ngff_resave.details import match_details
from ngff_resave.models import (
    ConvertJob,
    ExtraArray,
    InputArray,
    JobPart,
    Mend,
    Mode,
    OutputArray,
    Plan,
    PlanError,
    PlannedArray,
    Planner,
)
from ngff_resave.shards import grid_of, shard_count

if TYPE_CHECKING:
    from ngff_resave.source import SourceArray, SourceLayout

LOG = logging.getLogger(__name__)

SPATIAL_AXES = ("x", "y", "z")


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
    grid = grid_of(shape, chunks)
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
) -> PlannedArray:
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
    mode = Mode.REENCODE if reasons else Mode.COPY
    if mode == Mode.COPY:
        compressor = (array.compressor or {}).get("id", "no compressor")
        reasons.append(f"{compressor} chunks are byte-identical v3 inner chunks")
    return PlannedArray(
        path=array.path,
        image=array.image,
        level=array.level,
        shape=array.shape,
        dtype=array.dtype,
        dimension_names=array.dimension_names,
        input=InputArray(
            chunks=array.chunks,
            compressor=array.compressor,
            filters=array.filters,
            order=array.order,
            fill_value=array.fill_value,
            dimension_separator=array.dimension_separator,
        ),
        output=OutputArray(
            chunks=chunks,
            shards=shards,
            codecs=codecs,
            # Chunks kept whole (copied or transcoded) keep their memory order; re-chunked
            # arrays are written C-ordered.
            order=array.order if chunks == array.chunks else "C",
        ),
        mode=mode,
        reason="; ".join(reasons),
        bytes=array.nbytes,
        shards=shard_count(array.shape, shards),
        shard_bytes=math.prod(shards) * array.itemsize,
        attributes=array.attributes,
        downsampled_from=array.downsampled_from,
    )


def plan_jobs(arrays: list[PlannedArray], part_target_bytes: int) -> list[ConvertJob]:
    """One job per resolution level, split into shard-aligned parts when a level is larger than
    ``part_target_bytes``. All images of a plate at one level share a job."""
    jobs: list[ConvertJob] = []
    for level in sorted({a.level for a in arrays}):
        members = [a for a in arrays if a.level == level]
        total = sum(a.bytes for a in members)
        n_parts = max(1, math.ceil(total / part_target_bytes))
        target = total / n_parts
        parts: list[list[JobPart]] = [[]]
        fill = 0.0
        for array in members:
            per_shard = array.bytes / array.shards
            lo = 0
            while lo < array.shards:
                if fill >= target and len(parts) < n_parts:
                    parts.append([])
                    fill = 0.0
                take = array.shards - lo
                if len(parts) < n_parts:
                    take = min(take, max(1, math.ceil((target - fill) / per_shard)))
                parts[-1].append(JobPart(path=array.path, shards=(lo, lo + take)))
                fill += take * per_shard
                lo += take
        by_path = {a.path: a for a in members}
        for number, part in enumerate(parts):
            share = sum(
                by_path[p.path].bytes * (p.shards[1] - p.shards[0]) / by_path[p.path].shards
                for p in part
            )
            jobs.append(
                ConvertJob(
                    id=f"{level}-{number}",
                    level=level,
                    part=number,
                    arrays=part,
                    bytes=int(share),
                    shard_bytes=max(by_path[p.path].shard_bytes for p in part),
                )
            )
    return jobs


def plan_extras(layout: SourceLayout, settings: PlanSettings) -> list[ExtraArray]:
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
    return list(layout.extras)


def make_plan(
    layout: SourceLayout, settings: PlanSettings, mends: list[Mend] | None = None
) -> Plan:
    entries: dict[str, dict[str, Any]] = {}
    if settings.details is not None:
        entries = match_details(settings.details, layout.arrays, settings.dataset)
    arrays = [plan_array(a, settings, entries.get(a.path)) for a in layout.arrays]
    images = [i for i in layout.images if not i.is_label]
    return Plan(
        planner=Planner(name="ngff-resave", version=__version__),
        dataset=settings.dataset,
        input=settings.input,
        output=settings.output,
        input_storage=settings.input_storage,
        output_storage=settings.output_storage,
        kind=layout.kind,
        name=layout.name,
        wells=layout.wells,
        images=[i.path for i in images],
        labels=[i.path for i in layout.images if i.is_label],
        groups=layout.groups,
        files=layout.files,
        arrays=arrays,
        extras=plan_extras(layout, settings),
        inventory=layout.inventory(),
        listed=layout.listed,
        mends=mends or [],
        jobs=plan_jobs(arrays, settings.part_target_bytes),
        bytes=sum(a.bytes for a in arrays),
        crate=settings.crate,
        notes=settings.notes,
        origin=settings.origin,
    )
