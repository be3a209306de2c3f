"""Planning: output chunks, shards and codecs for every array, and the convert jobs.

A plan is a typed model (:mod:`ngff_resave.model.plan`), written as ``results/{dataset}/plan.json``:
every later step reads only the plan, never the sheet, so a plan can be inspected, edited
through a details file, and rerun.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ngff_resave import __version__
from ngff_resave.arrays.codecs import (
    DEFAULT_REENCODE,
    CodecError,
    compressor_to_v3,
    named_codec,
    output_codecs,
)
from ngff_resave.arrays.shards import grid_of, shard_count
from ngff_resave.model.plan import (
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
from ngff_resave.planning.details import match_details
from ngff_resave.records.ownership import CRATE_FILE
from ngff_resave.source.listing import spell

if TYPE_CHECKING:
    from ngff_resave.model.plan import InventoryItem
    from ngff_resave.source.layout import SourceArray, SourceLayout

LOG = logging.getLogger(__name__)

SPATIAL_AXES = ("x", "y", "z")
# What linking one chunk file costs a job, counted as bytes of copying (about 3 ms at the
# cautious 20 MB/s of ``job_runtime_minutes``: a link on a network filesystem is slow).
LINK_WORK_BYTES = 64 * 2**10
# Arrays named in a refusal; the message says how many more there are.
NAMED_ARRAYS = 8


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
    # "auto": copy or re-encode into shards; "reference": read the input's chunk files where
    # they are, through v3 metadata naming them the v2 way.
    mode: str = "auto"
    # Reference mode only: write that metadata into the input itself.
    in_place: bool = False
    # Reference mode only: arrays that cannot be referenced are converted as in auto mode.
    fallback: bool = False
    # The OME-Zarr version written (metadata only: the arrays are the same for every version).
    ngff_version: str = "0.5"


# Settings added after plans were first made, and their defaults: left out of the digests when
# at their default, so that rows that do not use them keep their plans.
LATER_SETTINGS = {"mode": "auto", "in_place": False, "fallback": False, "ngff_version": "0.5"}


def digest_values(settings: PlanSettings) -> dict[str, Any]:
    """The settings as the plan digests see them."""
    return {
        key: value
        for key, value in asdict(settings).items()
        if key not in LATER_SETTINGS or value != LATER_SETTINGS[key]
    }


# A reader loads a shard's whole index (16 bytes an inner chunk) to read any chunk of it: tiny
# chunks must not make it megabytes (4 x 4 chunks in a 64 MB shard would index 4 million).
MAX_INNER_CHUNKS = 2**15


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
                if math.prod(trial) > MAX_INNER_CHUNKS:
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


def reference_problem(array: SourceArray) -> str | None:
    """Why an array's chunk files cannot be read as they are through Zarr v3 metadata (the
    rules of copy mode), or None when they can."""
    if array.downsampled_from:
        return f"a label level the input lacks (computed from {array.downsampled_from})"
    if array.stored is not None:
        return None
    if array.filters:
        return "v2 filters have no v3 form"
    try:
        compressor_to_v3(array.compressor, array.itemsize)
    except CodecError as err:
        return str(err)
    return None


def referenced_array(array: SourceArray, settings: PlanSettings) -> PlannedArray:
    """An array whose chunk files stay as they are: same chunks, same codecs, no shards. Its
    block, the unit of linking and of validation, grows like a shard would."""
    if array.stored is not None:
        return as_input(array, settings, Mode.REFERENCE)
    block = grow_shards(
        array.shape,
        array.chunks,
        array.itemsize,
        settings.shard_target_bytes,
        array.dimension_names,
    )
    compressor = (array.compressor or {}).get("id", "no compressor")
    return _planned(
        array,
        OutputArray(
            chunks=array.chunks,
            shards=block,
            codecs=compressor_to_v3(array.compressor, array.itemsize),
            order=array.order,
        ),
        Mode.REFERENCE,
        f"{compressor} chunk files read where they are (v2 chunk keys, separator "
        f"'{array.dimension_separator}')",
    )


def as_input(array: SourceArray, settings: PlanSettings, mode: Mode) -> PlannedArray:
    """A Zarr v3 input array taken as it is: its chunks, shards and codecs, its chunk or shard
    files copied (``mode`` copy), linked or left where they are (reference)."""
    stored = array.stored
    assert stored is not None
    # Unsharded, the blocks of chunk files a job copies or links grow like shards would.
    unit = stored.shards or grow_shards(
        array.shape,
        array.chunks,
        array.itemsize,
        settings.shard_target_bytes,
        array.dimension_names,
    )
    files = "shard" if stored.shards else "chunk"
    how = "copied" if mode == Mode.COPY else "read where they are"
    return _planned(
        array,
        OutputArray(
            chunks=array.chunks,
            shards=unit,
            codecs=stored.document["codecs"],
            order=stored.order,
            as_input=True,
        ),
        mode,
        f"Zarr v3 already: its {files} files {how}, byte for byte (metadata only)",
    )


def plan_v3_array(
    array: SourceArray, settings: PlanSettings, entry: dict[str, Any] | None
) -> PlannedArray:
    """A Zarr v3 input array: taken as it is when its chunks, shards and codecs are asked
    again (the default); re-sharded by moving its encoded inner chunks when only the shards
    change; else decoded and encoded again."""
    stored = array.stored
    assert stored is not None
    where = f"dataset '{settings.dataset}', array {array.path}"
    ndim = len(array.shape)
    chunks, shards = list(array.chunks), stored.shards
    asked = entry if entry is not None else {"chunks": settings.chunks, "shards": settings.shards}
    if asked.get("chunks") is not None:
        chunks = _check_shape_list(asked["chunks"], ndim, "chunks", where)
    if asked.get("shards") is not None:
        shards = _check_shape_list(asked["shards"], ndim, "shards", where)
    keep = settings.codec == "keep"
    if keep and not array.downsampled_from and chunks == array.chunks and shards == stored.shards:
        return as_input(array, settings, Mode.COPY)
    if shards is None:
        shards = grow_shards(
            array.shape, chunks, array.itemsize, settings.shard_target_bytes, array.dimension_names
        )
    _check_multiple(shards, chunks, array, where)
    movable = keep and chunks == array.chunks and not array.downsampled_from
    if movable and stored.compressor_codecs is not None:
        return _planned(
            array,
            OutputArray(
                chunks=chunks, shards=shards, codecs=stored.compressor_codecs, order=stored.order
            ),
            Mode.COPY,
            f"inner chunks moved as they are into shards of {shards} "
            f"(the input's: {stored.shards or 'none'})",
        )
    reasons = [f"codec {settings.codec} asked for"] if not keep else []
    if chunks != array.chunks:
        reasons.append(f"chunk shape changes from {array.chunks} to {chunks}")
    if movable:
        reasons.append(f"inner chunks cannot be moved without decoding: {stored.not_movable}")
    if array.downsampled_from:
        reasons.append(
            f"a missing label level, computed by nearest-neighbour downsampling of "
            f"{array.downsampled_from} (a mend)"
        )
    try:
        codecs = (
            named_codec(settings.codec, array.itemsize)
            if not keep
            else stored.compressor_codecs
            if stored.compressor_codecs is not None
            else named_codec(DEFAULT_REENCODE, array.itemsize)
        )
    except CodecError as err:
        raise PlanError(f"{where}: {err}") from err
    return _planned(
        array,
        OutputArray(chunks=chunks, shards=shards, codecs=codecs, order="C"),
        Mode.REENCODE,
        "; ".join(reasons),
    )


def _check_multiple(shards: list[int], chunks: list[int], array: SourceArray, where: str) -> None:
    bad = [i for i, (s, c) in enumerate(zip(shards, chunks, strict=True)) if s % c]
    if bad:
        raise PlanError(
            f"{where}: shards {shards} are not a whole multiple of chunks {chunks} "
            f"on axis {', '.join(array.dimension_names[i] for i in bad)}"
        )


def _input_array(array: SourceArray) -> InputArray:
    """How the input stores the array, with the chunk files its listing found."""
    stored = (
        array.stored.input_array(array.fill_value)
        if array.stored is not None
        else InputArray(
            chunks=array.chunks,
            compressor=array.compressor,
            filters=array.filters,
            order=array.order,
            fill_value=array.fill_value,
            dimension_separator=array.dimension_separator,
            declared_separator=array.declared_separator,
        )
    )
    listing = array.listing
    if listing is not None:
        stored.files_found = len(listing.found)
        if not listing.complete:
            stored.present = sorted(map(spell, listing.found))
    return stored


def _planned(array: SourceArray, output: OutputArray, mode: Mode, reason: str) -> PlannedArray:
    return PlannedArray(
        path=array.path,
        image=array.image,
        level=array.level,
        shape=array.shape,
        dtype=array.dtype,
        dimension_names=array.dimension_names,
        input=_input_array(array),
        output=output,
        mode=mode,
        reason=reason,
        bytes=array.nbytes,
        shards=shard_count(array.shape, output.shards),
        shard_bytes=math.prod(output.shards) * array.itemsize,
        attributes=array.attributes,
        downsampled_from=array.downsampled_from,
    )


def plan_array(
    array: SourceArray, settings: PlanSettings, entry: dict[str, Any] | None
) -> PlannedArray:
    if array.stored is not None:
        return plan_v3_array(array, settings, entry)
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
    _check_multiple(shards, chunks, array, where)
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
    output = OutputArray(
        chunks=chunks,
        shards=shards,
        codecs=codecs,
        # Chunks kept whole (copied or transcoded) keep their memory order; re-chunked
        # arrays are written C-ordered.
        order=array.order if chunks == array.chunks else "C",
    )
    return _planned(array, output, mode, "; ".join(reasons))


def plan_arrays(
    arrays: list[SourceArray], settings: PlanSettings, entries: dict[str, dict[str, Any]]
) -> list[PlannedArray]:
    """Every image array planned; in reference mode, each one referenced when it can be, else
    converted as in auto mode where the row allows that (``fallback``), else the plan fails
    naming the arrays and why."""
    if settings.mode != "reference":
        return [plan_array(a, settings, entries.get(a.path)) for a in arrays]
    problems = {a.path: problem for a in arrays if (problem := reference_problem(a))}
    if problems and (settings.in_place or not settings.fallback):
        named = "; ".join(f"array {p}: {why}" for p, why in list(problems.items())[:NAMED_ARRAYS])
        more = len(problems) - NAMED_ARRAYS
        hint = (
            "in_place writes metadata only, so these arrays cannot be converted in place: "
            "give the row a new output (in_place: false) with fallback: true, or use mode: auto"
            if settings.in_place
            else "set fallback: true to convert these arrays into shards of the output, or "
            "use mode: auto"
        )
        raise PlanError(
            f"dataset '{settings.dataset}': {settings.input}: mode reference: "
            f"{len(problems)} arrays cannot be read as they are ({named}"
            f"{f' and {more} more' if more > 0 else ''}); {hint}"
        )
    planned = []
    for array in arrays:
        if array.path not in problems:
            planned.append(referenced_array(array, settings))
            continue
        fallback = plan_array(array, settings, entries.get(array.path))
        fallback.reason = f"cannot be referenced ({problems[array.path]}): {fallback.reason}"
        planned.append(fallback)
    return planned


def work_bytes(array: PlannedArray, in_place: bool) -> int:
    """What a convert job's share of an array costs, as bytes: the pixels copied or
    re-encoded; for a referenced array, its chunk files linked, or nothing in place. A sparse
    array costs the share of its chunk files the listing found."""
    if array.mode != Mode.REFERENCE:
        source = array.input
        if source.present is None or source.files_found is None:
            return array.bytes
        grid = grid_of(array.shape, source.shards if source.shards else source.chunks)
        return array.bytes * source.files_found // math.prod(grid)
    if in_place:
        return 0
    files = array.input.shards if array.output.as_input and array.sharded else array.output.chunks
    return math.prod(grid_of(array.shape, files or array.output.chunks)) * LINK_WORK_BYTES


def plan_jobs(
    arrays: list[PlannedArray], part_target_bytes: int, in_place: bool = False
) -> list[ConvertJob]:
    """One job per resolution level, split into shard-aligned parts when a level's work is
    more than ``part_target_bytes``. All images of a plate at one level share a job."""
    jobs: list[ConvertJob] = []
    work = {a.path: work_bytes(a, in_place) for a in arrays}
    for level in sorted({a.level for a in arrays}):
        members = [a for a in arrays if a.level == level]
        total = sum(work[a.path] for a in members)
        n_parts = max(1, math.ceil(total / part_target_bytes))
        target = total / n_parts
        parts: list[list[JobPart]] = [[]]
        fill = 0.0
        for array in members:
            per_shard = work[array.path] / array.shards
            lo = 0
            while lo < array.shards:
                if fill >= target and len(parts) < n_parts:
                    parts.append([])
                    fill = 0.0
                take = array.shards - lo
                if len(parts) < n_parts and per_shard:
                    take = min(take, max(1, math.ceil((target - fill) / per_shard)))
                parts[-1].append(JobPart(path=array.path, shards=(lo, lo + take)))
                fill += take * per_shard
                lo += take
        by_path = {a.path: a for a in members}
        for number, part in enumerate(parts):
            share = sum(
                work[p.path] * (p.shards[1] - p.shards[0]) / by_path[p.path].shards for p in part
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
    migrated = [e.path for e in layout.extras if e.action == "migrate"]
    if migrated and settings.in_place:
        # Migrating writes an array's values as Zarr v3, replacing what is at its path.
        raise PlanError(
            f"dataset '{settings.dataset}': {settings.input}: in_place writes metadata only, "
            f"but {len(migrated)} arrays that are not image levels would have their values "
            f"written as Zarr v3 ({', '.join(migrated[:NAMED_ARRAYS])}"
            f"{' and more' if len(migrated) > NAMED_ARRAYS else ''}); convert this row to a "
            "new output (in_place: false)"
        )
    unsupported = [e for e in layout.extras if e.action == "skip"]
    if unsupported and not settings.skip_unsupported:
        raise PlanError(
            f"dataset '{settings.dataset}': {settings.input}: cannot be converted whole: "
            + "; ".join(f"array {e.path}: {e.reason}" for e in unsupported)
            + " (set skip_unsupported: true in the config to convert the rest and list these "
            "in the catalog's skipped column)"
        )
    return list(layout.extras)


def carried_forward(item: InventoryItem) -> InventoryItem:
    """The input's root RO-Crate as the plan names it: carried forward into the output's crate
    (its entities kept, the conversion added), where a plain file would be copied."""
    if item.kind == "file" and item.path == CRATE_FILE and item.action == "copy":
        return item.model_copy(
            update={
                "action": "carry forward",
                "reason": "the input's RO-Crate, carried forward into the output's crate",
            }
        )
    return item


def make_plan(
    layout: SourceLayout, settings: PlanSettings, mends: list[Mend] | None = None
) -> Plan:
    entries: dict[str, dict[str, Any]] = {}
    if settings.details is not None:
        entries = match_details(settings.details, layout.arrays, settings.dataset)
    arrays = plan_arrays(layout.arrays, settings, entries)
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
        # The input's RO-Crate is merged into the output's by the metadata step, not copied.
        files=[path for path in layout.files if path != CRATE_FILE],
        arrays=arrays,
        extras=plan_extras(layout, settings),
        inventory=[carried_forward(item) for item in layout.inventory()],
        listed=layout.listed,
        mends=mends or [],
        jobs=plan_jobs(arrays, settings.part_target_bytes, settings.in_place),
        bytes=sum(a.bytes for a in arrays),
        in_place=settings.in_place,
        crate=settings.crate,
        notes=settings.notes,
        origin=settings.origin,
        ngff_version=settings.ngff_version,
        input_version=layout.version or "0.4",
        input_zarr_format=layout.zarr_format,
    )
