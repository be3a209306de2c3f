"""What became of each dataset: ``results/{dataset}/validation.json`` is its outcome, valid or
not, with the plan it was made from; which datasets are done; which records are stale.

A dataset is done when its outcome is valid, was made from its current plan, by a validation
at least as strong as the one asked (``validate.mode``: sample, then full, then reread), and its
output's root ``zarr.json`` is there. Work that is not done is scheduled again; records that
describe work that is not done (failed, made from another plan, or whose output is gone) are
stale.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ngff_resave.model.plan import Failure, SheetEntry, digest
from ngff_resave.storage import (
    decode_json,
    encode_line,
    open_location,
    read_local_bytes,
    read_local_record,
    write_local_bytes,
)
from ngff_resave.storage.redaction import redact

LOG = logging.getLogger(__name__)

OUTCOME_FILE = "validation.json"
# The validation modes from the one that proves least to the one that proves most: a dataset
# validated in one mode stands for a run asking it or a weaker one; a stronger one asked later
# validates it again (the pixels are not converted again).
VALIDATION_STRENGTH = ("sample", "full", "reread")


def validated_enough(validated: Any, asked: str | None) -> bool:
    """Whether a validation in mode ``validated`` proves what mode ``asked`` does (None: any
    mode will do)."""
    if asked is None:
        return True
    if validated not in VALIDATION_STRENGTH:
        return False
    return VALIDATION_STRENGTH.index(validated) >= VALIDATION_STRENGTH.index(asked)


@dataclass
class Outcome:
    """A dataset's outcome; ``checks``, ``failed`` and ``failed_arrays`` come from validation."""

    dataset: str
    valid: bool
    plan_digest: str | None = None
    validated: str = ""
    rule: str = ""
    log: str = ""
    # The record of the job that made this outcome (a pack's): what the catalog reads it by.
    record: str = ""
    error: str = ""
    failure: str = ""
    failed: list[str] = field(default_factory=list)
    failed_arrays: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    # What the thumbnail beside the outcome shows; empty when there is none.
    thumbnail: str = ""
    # The plan's summary for the catalog (model.plan.PlanSummary), which then need not read
    # the plan; empty when the job did not make one.
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failed_with(
        cls, dataset: str, err: BaseException | str, failure: Failure, **where: Any
    ) -> Outcome:
        message = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
        # One line, naming the dataset, for the catalog and failed.tsv.
        line = redact(" ".join(str(message).split()))
        if f"'{dataset}'" not in line:
            line = f"dataset '{dataset}': {line}"
        return cls(dataset=dataset, valid=False, error=line[:1000], failure=failure.value, **where)

    def write(self, results: Path) -> Path:
        path = outcome_path(results, self.dataset)
        # Field by field: dataclasses.asdict deep-copies every check (tens of thousands for a
        # plate) only for them to be written.
        write_local_bytes(path, outcome_json({f.name: getattr(self, f.name) for f in fields(self)}))
        return path


def outcome_json(value: dict[str, Any]) -> bytes:
    """An outcome as JSON, a field a line and each item of a list (a check) on a line of its
    own: as easy to read as indented JSON, written by the json module's C encoder (indenting
    takes its pure-Python one, seconds for a plate's tens of thousands of checks)."""
    lines = []
    for key, item in value.items():
        if isinstance(item, list) and item:
            items = ",\n    ".join(encode_line(entry) for entry in item)
            text = f"[\n    {items}\n  ]"
        else:
            text = json.dumps(item)
        lines.append(f"  {json.dumps(key)}: {text}")
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode()


def check_counts(checks: list[dict[str, Any]]) -> tuple[int, int]:
    """How many of a record's checks passed, and how many there are: an entry that stands
    for many passed checks of one kind counts as its ``count``."""
    passed = total = 0
    for check in checks:
        count = int(check.get("count", 1))
        total += count
        passed += count if check.get("ok") else 0
    return passed, total


def outcome_path(results: Path, dataset: str) -> Path:
    return results / dataset / OUTCOME_FILE


def read_outcome(results: Path, dataset: str) -> dict[str, Any] | None:
    return read_local_record(outcome_path(results, dataset))


def output_complete(output: str) -> bool:
    """Whether the output's root ``zarr.json`` (written last) is there."""
    return _output_has(output, "zarr.json")


@dataclass
class DatasetState:
    """Where a dataset stands before a run: done (and by which job's record), and a fingerprint
    of its last outcome, which names the next attempt at it."""

    done: bool
    record: str = ""
    fingerprint: str = ""


def dataset_state(results: Path, entry: SheetEntry, mode: str | None = None) -> DatasetState:
    """The dataset's state for a run validating in ``mode`` (None: in any)."""
    data = read_local_bytes(outcome_path(results, entry.dataset))
    if data is None:
        return DatasetState(done=False)
    try:
        outcome = decode_json(data)
    except ValueError:
        return DatasetState(done=False)
    fingerprint = digest(data)[:16]
    if not isinstance(outcome, dict):
        return DatasetState(done=False, fingerprint=fingerprint)
    done = (
        entry.plan_digest is not None
        and outcome.get("valid") is True
        and outcome.get("plan_digest") == entry.plan_digest
        and validated_enough(outcome.get("validated"), mode)
        and output_complete(entry.output)
    )
    return DatasetState(done=done, record=str(outcome.get("record", "")), fingerprint=fingerprint)


def stale_convert_records(results: Path, entry: SheetEntry) -> list[Path]:
    """The convert records of a dataset converted by its own jobs (not packed) that must go so
    that Snakemake redoes their work: records that failed, were made for other pixels (another
    plan, crate fields aside), cover an array that failed validation, or whose arrays are gone
    from the output."""
    folder = results / entry.dataset
    outcome = read_outcome(results, entry.dataset) or {}
    stale = []
    failed_arrays = outcome.get("failed_arrays") or []
    for job in entry.jobs:
        record_path = folder / "convert" / f"{job}.json"
        record = read_local_record(record_path)
        reusable = convert_record_reusable(record, entry.pixels_digest, entry.output, failed_arrays)
        if record is not None and not reusable:
            stale.append(record_path)
    return stale


def convert_record_reusable(
    record: dict[str, Any] | None,
    pixels_digest: str | None,
    output: str,
    failed_arrays: Iterable[str] = (),
) -> bool:
    """A convert job's record still stands for the shards on the output: it did not fail, was
    made for the same pixels, none of its arrays failed validation, and they are all there."""
    if not record or record.get("error") or record.get("pixels_digest") != pixels_digest:
        return False
    paths = [a["path"] for a in record.get("arrays", [])]
    return not set(failed_arrays).intersection(paths) and all(
        _output_has(output, f"{p}/zarr.json") for p in paths
    )


def _output_has(output: str, key: str) -> bool:
    """Whether the output holds ``key``. Remote outputs are trusted to their records: probing
    thousands of objects would cost a request each."""
    location = open_location(output)
    return location.local_path is None or location.exists(key)
