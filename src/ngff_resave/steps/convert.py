"""The ``convert`` rule: one convert job of a large dataset."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ngff_resave.arrays.convert import run_convert_job
from ngff_resave.model.plan import Failure
from ngff_resave.records.outcomes import Outcome
from ngff_resave.records.ownership import Run
from ngff_resave.steps import plan_of_step
from ngff_resave.storage import write_local_json

LOG = logging.getLogger(__name__)


def convert_step(plan_path: Path, job_id: str, record: Path, threads: int) -> dict[str, Any]:
    """One convert job of a large dataset; a failure is recorded, for validate to report."""
    with plan_of_step(plan_path) as (plan, _):
        try:
            return run_convert_job(
                plan, job_id, record, threads=threads, run=Run.current(plan_path.parent.parent)
            )
        except Exception as err:  # noqa: BLE001 - recorded; the dataset fails at validate
            LOG.error("dataset '%s': convert job %s failed", plan.dataset, job_id, exc_info=err)
            value = {
                "dataset": plan.dataset,
                "job": job_id,
                "pixels_digest": plan.pixels_digest(),
                "arrays": [p.model_dump() for p in plan.job(job_id).arrays],
                "error": Outcome.failed_with(plan.dataset, err, Failure.CONVERSION).error,
            }
            write_local_json(record, value)
            return value
