"""The ``validate`` rule: a converted dataset checked, and its outcome recorded."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ngff_resave.arrays.resources import peak_memory_bytes
from ngff_resave.checks.results import Report
from ngff_resave.checks.validation import validate_dataset
from ngff_resave.model.plan import Failure, Plan, PlanSummary
from ngff_resave.records.originals import withdraw_root
from ngff_resave.records.outcomes import Outcome
from ngff_resave.report.pictures import THUMBNAIL_FILE
from ngff_resave.report.thumbnails import render_dataset
from ngff_resave.steps import plan_of_step
from ngff_resave.storage import (
    delete_local,
    open_location,
    read_local_record,
    write_local_bytes,
    write_local_json,
)

LOG = logging.getLogger(__name__)


def outcome_of_validation(
    report: Report, plan_digest: str, mode: str, rule: str, log: str
) -> Outcome:
    outcome = Outcome(
        dataset=report.dataset,
        valid=report.valid,
        plan_digest=plan_digest,
        validated=mode,
        rule=rule,
        log=log,
        failed=report.failed,
        failed_arrays=report.failed_arrays,
        checks=report.recorded_checks(),
    )
    if not outcome.valid:
        first = next((c for c in outcome.checks if not c["ok"]), {})
        outcome.error = " ".join(
            f"dataset '{outcome.dataset}': not valid: {first.get('check', '')}"
            f"{': ' + first['detail'] if first.get('detail') else ''}".split()
        )[:1000]
        outcome.failure = Failure.CONVERSION.value
    return outcome


def validate_plan(
    plan: Plan,
    plan_digest: str,
    mode: str,
    sample_chunks: int,
    threads: int,
    rule: str,
    log: str,
    records: Iterable[dict[str, Any]] = (),
) -> Outcome:
    report = validate_dataset(plan, mode, sample_chunks, None, threads, records)
    report.log_summary()
    outcome = outcome_of_validation(report, plan_digest, mode, rule, log)
    outcome.summary = PlanSummary.of(plan).model_dump(mode="json")
    if not outcome.valid:
        # An invalid output must not look complete to a reader or to the next run.
        withdraw_root(plan, open_location(plan.output, plan.output_storage))
        LOG.error("%s", outcome.error)
    else:
        LOG.info("dataset '%s' is valid (%d checks)", plan.dataset, len(report.checks))
    return outcome


def convert_records(plan: Plan, results: Path) -> list[dict[str, Any]]:
    """The records the plan's convert jobs left (those that did not finish left none)."""
    found = (
        read_local_record(results / plan.dataset / "convert" / f"{job.id}.json")
        for job in plan.jobs
    )
    return [record for record in found if record]


def record_thumbnail(plan: Plan, outcome: Outcome, results: Path) -> None:
    """A valid dataset's thumbnail beside its outcome; an older one goes when the dataset is
    not valid (it would show what is no longer there). A thumbnail that cannot be drawn is a
    warning, not a failure of the dataset."""
    path = results / plan.dataset / THUMBNAIL_FILE
    delete_local(path)
    if not outcome.valid:
        return
    try:
        thumbnail = render_dataset(open_location(plan.output, plan.output_storage))
    except Exception as err:  # noqa: BLE001 - the data is valid; only the picture is missing
        LOG.warning("dataset '%s': no thumbnail: %s: %s", plan.dataset, type(err).__name__, err)
        return
    write_local_bytes(path, thumbnail.png())
    outcome.thumbnail = thumbnail.shows


def validate_step(
    plan_path: Path,
    record: Path,
    results: Path,
    logs: Path,
    metadata_record: Path,
    mode: str,
    sample_chunks: int,
    threads: int,
) -> Outcome:
    """Validation of a dataset converted by its own jobs, or the failure that stopped it before;
    its outcome, then the job's record."""
    with plan_of_step(plan_path) as (plan, plan_digest):
        metadata = read_local_record(metadata_record) or {}
        if metadata.get("error"):
            job = metadata.get("failed_job")
            log = f"convert-{job}.log" if job else f"metadata-{metadata_record.stem}.log"
            outcome = Outcome(
                dataset=plan.dataset,
                valid=False,
                plan_digest=plan_digest,
                rule="convert" if job else "metadata",
                log=str(logs / plan.dataset / log),
                error=metadata["error"],
                failure=Failure.CONVERSION.value,
            )
        else:
            try:
                outcome = validate_plan(
                    plan,
                    plan_digest,
                    mode,
                    sample_chunks,
                    threads,
                    "validate",
                    str(logs / plan.dataset / f"validate-{record.stem}.log"),
                    convert_records(plan, results),
                )
                record_thumbnail(plan, outcome, results)
            except Exception as err:  # noqa: BLE001 - recorded as the dataset's outcome
                LOG.error("dataset '%s': validation failed", plan.dataset, exc_info=err)
                outcome = Outcome.failed_with(
                    plan.dataset, err, Failure.CONVERSION, plan_digest=plan_digest, rule="validate"
                )
        outcome.record = str(record)
        outcome.write(results)
        write_local_json(
            record,
            {
                "dataset": plan.dataset,
                "valid": outcome.valid,
                "error": outcome.error,
                # What the workflow reruns this job with while its dataset stays done.
                "validate": {"mode": mode, "sample_chunks": sample_chunks},
                "peak_memory_bytes": peak_memory_bytes(),
            },
        )
        return outcome
