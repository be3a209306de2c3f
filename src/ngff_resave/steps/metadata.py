"""The ``metadata`` rule: group metadata and crate of a large dataset, after its convert jobs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ngff_resave.arrays.resources import peak_memory_bytes
from ngff_resave.model.plan import Failure
from ngff_resave.ome.metadata import write_metadata
from ngff_resave.records.outcomes import Outcome
from ngff_resave.records.ownership import Run
from ngff_resave.steps import plan_of_step
from ngff_resave.storage import read_local_record, write_local_json

LOG = logging.getLogger(__name__)


def metadata_step(
    plan_path: Path, record: Path, results: Path, convert_records: list[str]
) -> dict[str, Any]:
    """Group metadata and crate of a dataset converted by its own jobs, unless one of its
    convert jobs failed; the record (also ``results/{dataset}/metadata.json``) says which."""
    with plan_of_step(plan_path) as (plan, plan_digest):
        records = [r for r in map(read_local_record, convert_records) if r]
        failed = [r for r in records if r.get("error")]
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
                value = write_metadata(plan, records, Run.current(results))
            except Exception as err:  # noqa: BLE001 - recorded; the dataset fails at validate
                LOG.error("dataset '%s': writing metadata failed", plan.dataset, exc_info=err)
                value = {
                    "dataset": plan.dataset,
                    "files": [],
                    "bytes_written": 0,
                    "error": Outcome.failed_with(plan.dataset, err, Failure.CONVERSION).error,
                }
        value["plan_digest"] = plan_digest
        value["peak_memory_bytes"] = peak_memory_bytes()
        write_local_json(results / plan.dataset / "metadata.json", value)
        write_local_json(record, value)
        return value
