"""Planning the whole sheet in one job: every row's plan, computed concurrently, and reused
without touching the input when the row's settings have not changed.

The job writes ``results/{dataset}/plan.json`` only when its content changes, so the steps that
read an unchanged plan are not redone, and ``results/plan.json`` (the sheet plan) last.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import posixpath
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ngff_resave import __version__
from ngff_resave.arrays.resources import collector_paused
from ngff_resave.model.plan import (
    METADATA_ONLY,
    PLAN_FORMAT,
    Failure,
    Mend,
    Plan,
    PlanError,
    Planner,
    SheetEntry,
    SheetPlan,
    digest,
    read_plan,
    read_sheet_plan,
)
from ngff_resave.planning.dataset import PlanSettings, digest_values, make_plan
from ngff_resave.records.ownership import CLAIM_FILE, CRATE_FILE, Run, check_output, read_claim
from ngff_resave.source.layout import SourceError, holds_zarr, read_source
from ngff_resave.source.mends import find_and_mend
from ngff_resave.storage import (
    Location,
    StorageError,
    delete_local,
    open_location,
    read_local_bytes,
    write_local_bytes,
)

LOG = logging.getLogger(__name__)

SHEET_PLAN = "plan.json"


def sheet_attempt(inputs_digest: str, latest: SheetPlan | None) -> str:
    """The name of this run's sheet plan: the latest one's while it was made from the same
    inputs and every row could be planned, else a new one."""
    if latest is not None and latest.inputs_digest == inputs_digest and latest.complete:
        return latest.attempt
    previous = latest.attempt if latest is not None else ""
    return digest(f"{inputs_digest} {previous}".encode())[:12]


def plan_path(results: Path, dataset: str) -> Path:
    return results / dataset / "plan.json"


def pixel_settings_digest(settings: PlanSettings) -> str:
    """What a row's pixels depend on: its settings but the crate fields, notes and origin."""
    values = {k: v for k, v in digest_values(settings).items() if k not in METADATA_ONLY}
    text = json.dumps(
        {"settings": values, "planner": __version__, "format": PLAN_FORMAT}, sort_keys=True
    )
    return digest(text.encode())


def settings_digest(settings: PlanSettings) -> str:
    """What a row's plan depends on: its settings, the planner version and the plan format."""
    text = json.dumps(
        {"settings": digest_values(settings), "planner": __version__, "format": PLAN_FORMAT},
        sort_keys=True,
    )
    return digest(text.encode())


def file_digest(path: Path) -> str | None:
    data = read_local_bytes(path)
    return None if data is None else digest(data)


def plan_row(settings: PlanSettings, run: Run) -> Plan:
    """One row's plan, its metadata checked by the OME-Zarr 0.5 models and its output by the
    ownership rules (read-only); raises naming the dataset and path."""
    source = open_location(settings.input, settings.input_storage)
    if not holds_zarr(source):
        raise SourceError(
            settings.dataset,
            settings.input,
            "does not exist or is not a Zarr root (no .zgroup, .zattrs or zarr.json there): "
            "point the row's input at the dataset's root folder or URL, or take the row out",
        )
    from ngff_resave.checks.hierarchy import planned_hierarchy_problems

    layout = read_source(source, settings.dataset)
    try:
        findings = find_and_mend(layout)
    except PlanError as err:
        # A form no version written can express, refused whether mending or not.
        raise PlanError(f"dataset '{settings.dataset}': {settings.input}: {err}") from err
    if findings and not settings.mend:
        raise PlanError(
            f"dataset '{settings.dataset}': {settings.input}: input defects that "
            f"OME-Zarr {settings.ngff_version} forbids (mend: false): "
            + "; ".join(f"{f.rule} at {source.child(f.path)}: {f.change}" for f in findings)
        )
    for finding in findings:
        LOG.warning("dataset '%s': mended: %s", settings.dataset, finding.line())
    plan = make_plan(
        layout, settings, [Mend(rule=f.rule, path=f.path, mend=f.mend) for f in findings]
    )
    problems = planned_hierarchy_problems(plan)
    if problems:
        raise PlanError(
            f"dataset '{settings.dataset}': {settings.input}: the converted metadata "
            f"would not be valid OME-Zarr {plan.ngff_version}: " + "; ".join(problems)
        )
    plan.settings_digest = settings_digest(settings)
    plan.pixel_settings_digest = pixel_settings_digest(settings)
    if settings.in_place:
        _check_no_foreign_metadata(plan, source)
    # Read-only: a conflict over the output is reported now, before any work; the jobs that
    # write claim it.
    check_output(
        settings.dataset,
        settings.input,
        open_location(settings.output, settings.output_storage),
        run,
        in_place=settings.in_place,
        keeps_documents=plan.replaces_input_documents,
    )
    LOG.info(
        "%s: %s, %d arrays, %d images, %d convert jobs, %.1f MB of pixels",
        plan.dataset,
        plan.kind,
        len(plan.arrays),
        len(plan.images),
        len(plan.jobs),
        plan.bytes / 1e6,
    )
    return plan


def _check_no_foreign_metadata(plan: Plan, source: Location) -> None:
    """In place, the workflow writes a ``zarr.json`` at every group and array of the input,
    and its claim and crate at the root: one already there that it did not write (no claim of
    an in-place row) would be lost; but not over a Zarr v3 input, whose own documents (its
    crate and a finished output's claim among them) are kept."""
    claim = read_claim(source)
    if (claim is not None and claim.get("in_place")) or plan.replaces_input_documents:
        # A Zarr v3 input's own documents are replaced, copies of them kept (records.originals).
        return
    nodes = dict.fromkeys(["", *plan.groups, *(a.path for a in plan.arrays)])
    paths = [posixpath.join(node, "zarr.json") for node in nodes] + [CLAIM_FILE]
    if plan.crate:
        paths.append(CRATE_FILE)
    found = [p for p, there in zip(paths, source.exists_many(paths), strict=True) if there]
    if found:
        raise PlanError(
            f"dataset '{plan.dataset}': in_place: {source.url} already holds "
            f"{', '.join(found[:8])}{f' and {len(found) - 8} more' if len(found) > 8 else ''}, "
            "which this workflow did not write and would replace: convert to a new output "
            "instead"
        )


def plan_dataset(settings: PlanSettings, run: Run) -> dict[str, Any]:
    """One row's plan as the bytes of its ``plan.json`` (bytes cross processes cheaply) and
    what the sheet plan says of it: a plate's plan is tens of MB, not parsed twice."""
    with collector_paused():
        return _planned(plan_row(settings, run))


def _planned(plan: Plan, data: bytes | None = None) -> dict[str, Any]:
    """``data``: the plan's bytes as on file, when it was read from there."""
    data = plan.to_bytes() if data is None else data
    summary = {
        "plan_digest": digest(data),
        "kind": plan.kind,
        "bytes": plan.bytes,
        "shard_bytes": plan.shard_bytes,
        "jobs": [job.id for job in plan.jobs],
        "pixels_digest": plan.pixels_digest(),
    }
    return {"plan": data, "summary": summary}


def _plan_row(task: tuple[PlanSettings, Run]) -> dict[str, Any]:
    """Runs in a worker process: the plan's bytes, or the error (exceptions do not cross
    processes reliably, so failures come back as values)."""
    settings, run = task
    try:
        return plan_dataset(settings, run)
    except (SourceError, PlanError, PermissionError) as err:
        failure, message = Failure.INPUT_DEFECT, str(err)
    except (OSError, ValueError, RuntimeError, StorageError) as err:
        failure, message = (
            Failure.CONVERSION,
            f"dataset '{settings.dataset}': {type(err).__name__}: {err}",
        )
    LOG.error("%s", message)
    return {"error": message, "failure": failure}


def _map(tasks: list[tuple[PlanSettings, Run]], workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1 or len(tasks) <= 1:
        yield from map(_plan_row, tasks)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(_plan_row, tasks, chunksize=max(1, len(tasks) // (8 * workers)))


def plan_sheet(
    rows: Iterable[PlanSettings], results: Path, run: Run | None = None, workers: int = 1
) -> SheetPlan:
    """Plan every row, reusing the plan of a row whose settings digest is unchanged."""
    rows = list(rows)
    run = run or Run.current(results)
    previous = read_sheet_plan(results / SHEET_PLAN)
    known = {e.dataset: e for e in previous.entries} if previous else {}
    entries: dict[str, SheetEntry] = {}
    todo: list[tuple[PlanSettings, str]] = []
    for settings in rows:
        wanted = settings_digest(settings)
        old = known.get(settings.dataset)
        path = plan_path(results, settings.dataset)
        if (
            old is not None
            and old.settings_digest == wanted
            and old.plan_digest is not None
            and file_digest(path) == old.plan_digest
        ):
            entries[settings.dataset] = old
        elif (reused := _reusable_plan(path, settings, wanted)) is not None:
            entries[settings.dataset] = _entry(settings, wanted, reused, results)
        else:
            todo.append((settings, wanted))
    LOG.info(
        "%d rows: %d plans reused, %d to plan with %d workers",
        len(rows),
        len(rows) - len(todo),
        len(todo),
        workers,
    )
    outcomes = _map([(settings, run) for settings, _ in todo], workers)
    for (settings, wanted), outcome in zip(todo, outcomes, strict=True):
        entries[settings.dataset] = _entry(settings, wanted, outcome, results)
    failed = sum(1 for e in entries.values() if e.error)
    if failed:
        LOG.warning("%d of %d rows could not be planned", failed, len(rows))
    return SheetPlan(
        planner=Planner(name="ngff-resave", version=__version__),
        entries=[entries[s.dataset] for s in rows],
    )


def _reusable_plan(path: Path, settings: PlanSettings, wanted: str) -> dict[str, Any] | None:
    """The plan on file when it was made from these settings (the sheet plan may not list it:
    removed, or the row failed last time); or, when only crate fields, notes, origin or the
    OME-Zarr version written changed, that plan with them replaced: the input is not read again
    and the output, this row's own, is not in the way."""
    plan = read_plan(path)
    if plan is None:
        return None
    if plan.settings_digest == wanted:
        return _planned(plan, read_local_bytes(path))
    if plan.pixel_settings_digest != pixel_settings_digest(settings):
        return None
    if plan.ngff_version != settings.ngff_version:
        from ngff_resave.checks.hierarchy import planned_hierarchy_problems

        # Not every input can be written in every version (a 0.6 affine has no 0.5 form):
        # where it cannot, the row is planned again, and refused there saying why.
        if planned_hierarchy_problems(
            plan.model_copy(update={"ngff_version": settings.ngff_version})
        ):
            return None
    plan.crate, plan.notes, plan.origin = settings.crate, settings.notes, settings.origin
    plan.ngff_version = settings.ngff_version
    plan.settings_digest = wanted
    LOG.info(
        "%s: only crate fields, notes, origin or ngff_version changed: plan kept, its metadata "
        "redone",
        settings.dataset,
    )
    return _planned(plan)


def _entry(
    settings: PlanSettings, wanted: str, outcome: dict[str, Any], results: Path
) -> SheetEntry:
    path = plan_path(results, settings.dataset)
    base: dict[str, Any] = {
        "dataset": settings.dataset,
        "input": settings.input,
        "output": settings.output,
        "settings_digest": wanted,
    }
    if "plan" not in outcome:
        # A row that cannot be planned has no plan: an old one would describe other settings.
        delete_local(path)
        return SheetEntry(**base, error=outcome["error"], failure=outcome["failure"])
    data: bytes = outcome["plan"]
    write_local_bytes(path, data, only_if_changed=True)
    return SheetEntry(**base, **outcome["summary"])
