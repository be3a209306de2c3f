"""The ``pack`` rule: small datasets converted, finished and validated one after another in
one process; and the same sequence for one dataset from its settings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ngff_resave.arrays.convert import run_convert_job
from ngff_resave.arrays.resources import peak_memory_bytes
from ngff_resave.checks.results import Report
from ngff_resave.checks.validation import validate_dataset
from ngff_resave.model.plan import Failure, Plan, digest
from ngff_resave.ome.metadata import write_metadata
from ngff_resave.planning.dataset import PlanSettings
from ngff_resave.records import outcomes
from ngff_resave.records.originals import withdraw_root
from ngff_resave.records.outcomes import Outcome
from ngff_resave.records.ownership import Run, claim_plan_output
from ngff_resave.report.pictures import THUMBNAIL_FILE
from ngff_resave.sheet.plan import plan_row
from ngff_resave.steps import plan_of_step
from ngff_resave.steps.validate import record_thumbnail, validate_plan
from ngff_resave.storage import (
    delete_local,
    open_location,
    read_local_record,
    write_local_bytes,
    write_local_json,
)
from ngff_resave.storage.redaction import RedactingFilter

LOG = logging.getLogger(__name__)
PACKAGE_LOGGER = "ngff_resave"


@contextmanager
def dataset_log(path: Path) -> Iterator[None]:
    """Also send the package's log lines to one dataset's own log file while it runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger(PACKAGE_LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


def run_dataset(
    dataset: str,
    results: Path,
    logs: Path,
    threads: int,
    mode: str,
    sample_chunks: int,
    rule: str = "pack",
) -> Outcome:
    """Convert every job of one dataset's plan, write its metadata, validate it."""
    log = str(logs / dataset / f"{rule}.log")
    step = "convert"
    plan_digest = None
    try:
        with plan_of_step(results / dataset / "plan.json") as (plan, plan_digest):
            # Only where a job left a record to reuse: a plate's plan takes a while to digest.
            pixels = None
            target = open_location(plan.output, plan.output_storage)
            failed_arrays = (outcomes.read_outcome(results, dataset) or {}).get("failed_arrays", [])
            run = Run.current(results)
            claim_plan_output(plan, target, run)
            records = []
            for job in plan.jobs:
                path = results / dataset / "convert" / f"{job.id}.json"
                record = read_local_record(path)
                if record and pixels is None:
                    pixels = plan.pixels_digest()
                if record and outcomes.convert_record_reusable(
                    record, pixels, plan.output, failed_arrays
                ):
                    # Shards written for the same pixels and found good (a crate field changed, or
                    # the job was killed after this part): they stand.
                    LOG.info("dataset '%s': convert job %s kept (same pixels)", dataset, job.id)
                    withdraw_root(plan, target)
                else:
                    record = run_convert_job(plan, job.id, path, threads=threads, run=run)
                records.append(record)
            step = "metadata"
            metadata = write_metadata(plan, records, run)
            write_local_json(results / dataset / "metadata.json", metadata)
            step = "validate"
            outcome = validate_plan(
                plan, plan_digest, mode, sample_chunks, threads, rule, log, records
            )
            record_thumbnail(plan, outcome, results)
            return outcome
    except Exception as err:  # noqa: BLE001 - one dataset's failure must not stop the others
        LOG.error("dataset '%s': %s failed", dataset, step, exc_info=err)
        delete_local(results / dataset / THUMBNAIL_FILE)
        return Outcome.failed_with(
            dataset, err, Failure.CONVERSION, rule=rule, log=log, plan_digest=plan_digest
        )


def run_pack(
    datasets: list[str],
    record: Path,
    results: Path,
    logs: Path,
    threads: int,
    mode: str,
    sample_chunks: int,
) -> dict[str, Any]:
    """Each dataset of a pack in turn, each with its own log and outcome; the pack's record
    last, so a killed pack job leaves no record."""
    started = time.monotonic()
    summary = []
    for number, dataset in enumerate(datasets, start=1):
        LOG.info("pack %s: dataset %d/%d: %s", record.stem, number, len(datasets), dataset)
        begun = time.monotonic()
        with dataset_log(logs / dataset / "pack.log"):
            outcome = run_dataset(dataset, results, logs, threads, mode, sample_chunks)
        outcome.record = str(record)
        outcome.write(results)
        summary.append(
            {
                "dataset": dataset,
                "valid": outcome.valid,
                "error": outcome.error,
                "seconds": round(time.monotonic() - begun, 3),
            }
        )
    failed = [s["dataset"] for s in summary if not s["valid"]]
    value = {
        "pack": record.stem,
        "datasets": summary,
        "failed": failed,
        "seconds": round(time.monotonic() - started, 3),
        "threads": threads,
        # What the workflow reruns this job with while its datasets stay done.
        "validate": {"mode": mode, "sample_chunks": sample_chunks},
        "peak_memory_bytes": peak_memory_bytes(),
    }
    write_local_json(record, value)
    LOG.info(
        "pack %s: %d datasets, %d failed, %.1f s",
        record.stem,
        len(datasets),
        len(failed),
        value["seconds"],
    )
    return value


@dataclass
class DatasetRun:
    """What converting one dataset in one process made: its plan, the convert jobs' records,
    the metadata step's record and the validation report."""

    plan: Plan
    records: list[dict[str, Any]]
    metadata: dict[str, Any]
    report: Report


def convert_dataset(
    settings: PlanSettings,
    results: Path,
    threads: int = 2,
    mode: str = "full",
    sample_chunks: int = 8,
    seed: int | None = None,
    progress_interval: float = 2.0,
) -> DatasetRun:
    """One dataset through every step in this process, as the workflow runs them: planned
    (with the metadata and output checks of planning), converted job by job, its metadata
    written and validated. Records go below ``results/{dataset}``."""
    run = Run.current(results)
    plan, _ = plan_and_record(settings, results, run)
    records = convert_jobs(plan, results, run, threads, progress_interval)
    metadata = write_metadata(plan, records, run)
    report = validate_dataset(plan, mode, sample_chunks, seed, threads, records)
    report.log_summary()
    return DatasetRun(plan, records, metadata, report)


def plan_and_record(settings: PlanSettings, results: Path, run: Run) -> tuple[Plan, str]:
    """The dataset's plan (planning checks the input's metadata and the output's owner),
    written to ``results/{dataset}/plan.json``; and its digest."""
    plan = plan_row(settings, run)
    data = plan.to_bytes()
    write_local_bytes(results / plan.dataset / "plan.json", data)
    return plan, digest(data)


def convert_jobs(
    plan: Plan,
    results: Path,
    run: Run,
    threads: int,
    progress_interval: float,
    on_shard: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Every convert job of the plan, one after the other; their records."""
    return [
        run_convert_job(
            plan,
            job.id,
            results / plan.dataset / "convert" / f"{job.id}.json",
            threads=threads,
            progress_interval=progress_interval,
            run=run,
            on_shard=on_shard,
        )
        for job in plan.jobs
    ]


def convert_one(
    settings: PlanSettings,
    results: Path,
    logs: Path,
    threads: int,
    mode: str,
    sample_chunks: int,
    progress_interval: float = 2.0,
    on_plan: Callable[[Plan], Callable[[int], None] | None] | None = None,
) -> Outcome:
    """One dataset without a sheet (``ngff-resave convert``): the files a workflow row
    writes (plan, convert records, ``metadata.json``, outcome, thumbnail, log) from the same
    steps. A plan that cannot be made raises; a failure after it is the outcome. ``on_plan``
    may return a callback that is told the pixel bytes of each shard written."""
    run = Run.current(results)
    log = logs / settings.dataset / "convert.log"
    with dataset_log(log):
        plan, plan_digest = plan_and_record(settings, results, run)
        step = "convert"
        try:
            on_shard = on_plan(plan) if on_plan else None
            records = convert_jobs(plan, results, run, threads, progress_interval, on_shard)
            step = "metadata"
            metadata = write_metadata(plan, records, run)
            write_local_json(results / plan.dataset / "metadata.json", metadata)
            step = "validate"
            outcome = validate_plan(
                plan, plan_digest, mode, sample_chunks, threads, "convert", str(log), records
            )
            record_thumbnail(plan, outcome, results)
        except Exception as err:  # noqa: BLE001 - recorded as the dataset's outcome
            LOG.error("dataset '%s': %s failed", plan.dataset, step, exc_info=err)
            delete_local(results / plan.dataset / THUMBNAIL_FILE)
            outcome = Outcome.failed_with(
                plan.dataset,
                err,
                Failure.CONVERSION,
                rule="convert",
                log=str(log),
                plan_digest=plan_digest,
            )
        outcome.write(results)
    return outcome
