"""Running the steps after planning: a pack of small datasets in one process, or one step of a
large dataset's own jobs. Every dataset succeeds or fails alone: a failure becomes the
dataset's outcome (``results/{dataset}/validation.json`` with ``valid: false`` and a one-line
``error``), and the job goes on with the next dataset. A job fails only when it cannot record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ngff_resave import outcomes
from ngff_resave.models import Failure, Plan, digest
from ngff_resave.outcomes import Outcome
from ngff_resave.ownership import Run, check_output
from ngff_resave.storage import Location, read_local_record, write_local_json

LOG = logging.getLogger(__name__)
PACKAGE_LOGGER = "ngff_resave"


@contextmanager
def dataset_log(path: Path) -> Iterator[None]:
    """Also send the package's log lines to one dataset's own log file while it runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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


def load_plan(path: Path) -> tuple[Plan, str]:
    data = path.read_bytes()
    return Plan.model_validate_json(data), digest(data)


def outcome_of_validation(
    report: dict[str, Any], plan_digest: str, mode: str, rule: str, log: str
) -> Outcome:
    outcome = Outcome(
        dataset=report["dataset"],
        valid=bool(report["valid"]),
        plan_digest=plan_digest,
        validated=mode,
        rule=rule,
        log=log,
        failed=list(report.get("failed", [])),
        failed_arrays=list(report.get("failed_arrays", [])),
        checks=list(report.get("checks", [])),
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
    plan: Plan, plan_digest: str, mode: str, sample_chunks: int, threads: int, rule: str, log: str
) -> Outcome:
    from ngff_resave.validation import validate_dataset

    report = validate_dataset(plan.model_dump(mode="json"), mode, sample_chunks, None, threads)
    outcome = outcome_of_validation(report.to_json(), plan_digest, mode, rule, log)
    if not outcome.valid:
        # An invalid output must not look complete to a reader or to the next run.
        Location.from_text(plan.output, plan.output_storage).delete("zarr.json")
        LOG.error("%s", outcome.error)
    else:
        LOG.info("dataset '%s' is valid (%d checks)", plan.dataset, len(outcome.checks))
    return outcome


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
    from ngff_resave.convert import run_convert_job
    from ngff_resave.metadata import write_metadata

    log = str(logs / dataset / f"{rule}.log")
    step = "convert"
    plan_digest = None
    try:
        plan, plan_digest = load_plan(results / dataset / "plan.json")
        as_dict = plan.model_dump(mode="json")
        pixels = plan.pixels_digest()
        target = Location.from_text(plan.output, plan.output_storage)
        failed_arrays = (outcomes.read_outcome(results, dataset) or {}).get("failed_arrays", [])
        run = Run.current(results)
        check_output(
            dataset,
            plan.input,
            target,
            run,
            arrays=[a.path for a in plan.arrays],
            files=plan.files,
            take=True,
        )
        for job in plan.jobs:
            record = results / dataset / "convert" / f"{job.id}.json"
            if outcomes.convert_record_reusable(
                read_local_record(record), pixels, plan.output, failed_arrays
            ):
                # Shards written for the same pixels and found good (a crate field changed, or
                # the job was killed after this part): they stand.
                LOG.info("dataset '%s': convert job %s kept (same pixels)", dataset, job.id)
                target.delete("zarr.json")
                continue
            run_convert_job(as_dict, job.id, record, threads=threads, pixels_digest=pixels, run=run)
        step = "metadata"
        write_local_json(results / dataset / "metadata.json", write_metadata(as_dict, run))
        step = "validate"
        return validate_plan(plan, plan_digest, mode, sample_chunks, threads, rule, log)
    except Exception as err:  # noqa: BLE001 - one dataset's failure must not stop the others
        LOG.error("dataset '%s': %s failed", dataset, step, exc_info=err)
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


def metadata_step(
    plan_path: Path, record: Path, results: Path, convert_records: list[str]
) -> dict[str, Any]:
    """Group metadata and crate of a dataset converted by its own jobs, unless one of its
    convert jobs failed; the record (also ``results/{dataset}/metadata.json``) says which."""
    from ngff_resave.metadata import write_metadata

    plan, plan_digest = load_plan(plan_path)
    failed = [r for r in map(read_local_record, convert_records) if r and r.get("error")]
    if failed:
        value: dict[str, Any] = {
            "dataset": plan.dataset,
            "files": [],
            "bytes_written": 0,
            "failed_job": failed[0].get("job", ""),
            "error": failed[0]["error"],
        }
        LOG.error("dataset '%s': no metadata written: %s", plan.dataset, value["error"])
    else:
        try:
            value = write_metadata(plan.model_dump(mode="json"), Run.current(results))
        except Exception as err:  # noqa: BLE001 - recorded; the dataset fails at validate
            LOG.error("dataset '%s': writing metadata failed", plan.dataset, exc_info=err)
            value = {
                "dataset": plan.dataset,
                "files": [],
                "bytes_written": 0,
                "error": Outcome.failed_with(plan.dataset, err, Failure.CONVERSION).error,
            }
    value["plan_digest"] = plan_digest
    write_local_json(results / plan.dataset / "metadata.json", value)
    write_local_json(record, value)
    return value


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
    plan, plan_digest = load_plan(plan_path)
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
            )
        except Exception as err:  # noqa: BLE001 - recorded as the dataset's outcome
            LOG.error("dataset '%s': validation failed", plan.dataset, exc_info=err)
            outcome = Outcome.failed_with(
                plan.dataset, err, Failure.CONVERSION, plan_digest=plan_digest, rule="validate"
            )
    outcome.record = str(record)
    outcome.write(results)
    write_local_json(
        record, {"dataset": plan.dataset, "valid": outcome.valid, "error": outcome.error}
    )
    return outcome
