"""``ngff-resave convert INPUT OUTPUT``: one dataset without a sheet, with the options of the
2024 challenge's ``resave`` where they mean the same thing. The options become a one-row sheet
and a config, checked as the workflow checks them, and the dataset goes through the workflow's
steps in this process, so it gets the same output and the same records."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ngff_resave.model.patterns import DATASET_ID
from ngff_resave.model.plan import Plan
from ngff_resave.planning.dataset import PlanSettings
from ngff_resave.records.outcomes import Outcome, check_counts
from ngff_resave.records.ownership import Run
from ngff_resave.sheet.settings import (
    SheetError,
    Wording,
    check_sheet,
    fill_config_defaults,
    plan_settings,
)
from ngff_resave.storage import is_url, open_location, write_local_bytes

LOG = logging.getLogger(__name__)

ARGUMENTS = "command line"
# The options that set each column of the one-row sheet, which its problems name instead.
OPTIONS = {
    "dataset": "--dataset",
    "input": "INPUT",
    "output": "OUTPUT",
    "license": "--rocrate-license",
    "organism": "--rocrate-organism",
    "modality": "--rocrate-modality",
    "name": "--rocrate-name",
    "description": "--rocrate-description",
    "notes": "--conversion-notes",
    "chunks": "--output-chunks",
    "shards": "--output-shards",
    "details": "--output-read-details",
    "codec": "--codec",
    "ngff_version": "--ngff-version",
    "mode": "--reference",
    "fallback": "--fallback",
    "rocrate": "--rocrate-skip",
    "input_storage": "--input-endpoint/--input-region/--input-anon",
    "output_storage": "--output-endpoint/--output-region/--output-anon",
}
COMMAND_LINE = Wording(
    ARGUMENTS,
    options=OPTIONS,
    missing_license=(
        "no license: choose one with --cc-by, --cc0 or --rocrate-license URL, or write no "
        "RO-Crate with --rocrate-skip"
    ),
    accepted={
        "license": "a license's URL (http:// or https://); for CC-BY 4.0 or CC0 1.0 give "
        "--cc-by or --cc0",
    },
)
EXIT_VALID = 0
EXIT_NOT_VALID = 1


class ResultsInUse(OSError):
    """The records folder is a running workflow's: a lock held, not a bug."""


@dataclass
class StorageFlags:
    """One side's storage options, as the challenge's ``--input-*``/``--output-*`` flags."""

    bucket: str | None = None
    endpoint: str | None = None
    region: str | None = None
    anon: bool = False

    def preset(self) -> dict[str, Any]:
        preset: dict[str, Any] = {}
        if self.endpoint:
            preset["endpoint"] = self.endpoint
        if self.region:
            preset["region"] = self.region
        if self.anon:
            preset["anon"] = True
        return preset

    def address(self, path: str) -> str:
        """``path`` in the bucket when one is given (the challenge's way), else as given."""
        return f"s3://{self.bucket}/{path.lstrip('/')}" if self.bucket else path


@dataclass
class OneDataset:
    """What the command line asks for."""

    input: str
    output: str
    dataset: str | None = None
    license: str | None = None
    organism: str | None = None
    modality: str | None = None
    name: str | None = None
    description: str | None = None
    notes: str | None = None
    skip_crate: bool = False
    chunks: str | None = None
    shards: str | None = None
    read_details: str | None = None
    codec: str | None = None
    ngff_version: str = "0.5"
    # Reference mode: links to the input's chunk files under v3 metadata, nothing copied.
    reference: bool = False
    fallback: bool = False
    overwrite: bool = False
    input_storage: StorageFlags = field(default_factory=StorageFlags)
    output_storage: StorageFlags = field(default_factory=StorageFlags)
    threads: int = 2
    validate: str = "full"
    sample_chunks: int = 8
    results: Path = Path("results")
    logs: Path = Path("logs")


def dataset_id(output: str) -> str:
    """The dataset id a workflow row would have for this output: its name without
    ``.ome.zarr``/``.zarr``, other characters than the id's made ``_``."""
    name = output.rstrip("/").rsplit("/", 1)[-1]
    name = re.sub(r"(\.ome)?\.zarr$", "", name)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip("_.-")
    if not re.fullmatch(DATASET_ID, name):
        raise SheetError(
            f"cannot make a dataset id of the name of {output!r}: give one with --dataset ID "
            "(letters, digits, '_', '.' and '-')"
        )
    return name


def sheet_row(request: OneDataset, output: str) -> dict[str, str]:
    """The one-row sheet this command stands for."""
    row = {
        "dataset": request.dataset or dataset_id(output),
        "input": request.input_storage.address(request.input),
        "output": output,
        "license": request.license,
        "organism": request.organism,
        "modality": request.modality,
        "name": request.name,
        "description": request.description,
        "notes": request.notes,
        "chunks": request.chunks,
        "shards": request.shards,
        "details": request.read_details,
        "codec": request.codec,
        "ngff_version": request.ngff_version,
        "mode": "reference" if request.reference else None,
        "fallback": "true" if request.fallback else None,
        "rocrate": "false" if request.skip_crate else None,
        "input_storage": "input" if request.input_storage.preset() else None,
        "output_storage": "output" if request.output_storage.preset() else None,
    }
    return {key: value for key, value in row.items() if value}


def config_for(request: OneDataset) -> dict[str, Any]:
    storage = {}
    for side, flags in (("input", request.input_storage), ("output", request.output_storage)):
        if flags.preset():
            storage[side] = flags.preset()
    return fill_config_defaults(
        {
            "samples": ARGUMENTS,
            "overwrite": request.overwrite,
            "storage": storage,
            "validate": {"mode": request.validate, "sample_chunks": request.sample_chunks},
        }
    )


def checked_settings(request: OneDataset, output: str, workdir: Path) -> PlanSettings:
    """The plan settings of the one row, after the workflow's sheet checks, whose problems
    name the options; a local INPUT that is not there is said so at once."""
    config = config_for(request)
    row = sheet_row(request, output)
    rows = check_sheet(pd.DataFrame([row], dtype=str), config, ARGUMENTS, workdir, COMMAND_LINE)
    source = rows[0]["input"]
    if not is_url(source) and not (workdir / source).exists():
        raise SheetError(
            f"INPUT {workdir / source} does not exist: give the root folder of an OME-Zarr "
            "dataset (the one with .zattrs or zarr.json), or an s3:// or http(s):// URL"
        )
    return plan_settings(rows[0], config, workdir)


def write_details_file(request: OneDataset, details_file: str, workdir: Path) -> int:
    """``--output-write-details``: plan only and write the chunks and shards of every array to
    ``details_file`` (the challenge's format), to edit and read back."""
    from ngff_resave.planning.details import write_details
    from ngff_resave.sheet.plan import plan_row

    # Planning needs an output to check; none is written, so a place that does not exist.
    with tempfile.TemporaryDirectory() as scratch:
        output = str(Path(scratch) / "planned.ome.zarr")
        request.dataset = request.dataset or dataset_id(details_file)
        settings = checked_settings(request, output, workdir)
        plan = plan_row(settings, Run.current(request.results))
    write_local_bytes(details_file, json.dumps(write_details(plan), indent=2).encode() + b"\n")
    LOG.info("details of %d arrays written to %s", len(plan.arrays), details_file)
    return EXIT_VALID


def convert_one_dataset(request: OneDataset, workdir: Path, progress: bool) -> int:
    """Convert, finish and validate one dataset; 0 when it is valid, 1 when not."""
    from ngff_resave.steps.pack import convert_one

    output = request.output_storage.address(request.output)
    settings = checked_settings(request, output, workdir)
    target = open_location(settings.output, settings.output_storage)
    if not request.overwrite and target.exists() and target.list_files():
        # As the challenge's resave: an existing output is replaced only when asked.
        raise FileExistsError(
            f"OUTPUT {settings.output} exists: give --output-overwrite to replace it (only a "
            "dataset this tool wrote is replaced; other files there are refused), or choose "
            "another OUTPUT"
        )
    running = Run.running(request.results)
    if running is not None and running.pid != os.getpid():
        raise ResultsInUse(
            f"--results {request.results} is in use by a running workflow (process "
            f"{running.pid}): give this command its own --results and --logs folders"
        )
    Run.start(request.results, request.overwrite)
    try:
        with progress_bar(progress) as on_plan:
            outcome = convert_one(
                settings,
                request.results,
                request.logs,
                request.threads,
                request.validate,
                request.sample_chunks,
                # With a bar on the terminal, the log keeps only each job's last line.
                progress_interval=float("inf") if progress else 2.0,
                on_plan=on_plan,
            )
    finally:
        Run.end(request.results)
    sys.stdout.write(result_line(outcome, settings.output, request.results) + "\n")
    return EXIT_VALID if outcome.valid else EXIT_NOT_VALID


@contextmanager
def progress_bar(
    enabled: bool,
) -> Iterator[Callable[[Plan], Callable[[int], None] | None]]:
    """A progress bar over the plan's pixel bytes, on the terminal only; log lines go above
    it rather than through it."""
    bars = []

    def on_plan(plan: Plan) -> Callable[[int], None] | None:
        if not enabled:
            return None
        from tqdm import tqdm

        bar = tqdm(
            total=plan.bytes,
            unit="B",
            unit_scale=True,
            desc=plan.dataset,
            file=sys.stderr,
        )
        bars.append(bar)
        return bar.update

    if not enabled:
        yield on_plan
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        try:
            yield on_plan
        finally:
            for bar in bars:
                bar.close()


def result_line(outcome: Outcome, output: str, results: Path) -> str:
    """What the command ends with: the verdict, where the dataset is, where its records are."""
    from ngff_resave.report.catalog import human_bytes
    from ngff_resave.storage import read_local_record

    folder = results / outcome.dataset
    plan = read_local_record(folder / "plan.json") or {}
    jobs = [job["id"] for job in plan.get("jobs", [])]
    records = [read_local_record(folder / "convert" / f"{job}.json") or {} for job in jobs]
    metadata = read_local_record(folder / "metadata.json") or {}
    written = sum(r.get("bytes_written", 0) for r in records) + metadata.get("bytes_written", 0)
    seconds = sum(r.get("seconds", 0) for r in records)
    where = output if is_url(output) else str(Path(output))
    if not outcome.valid:
        return f"FAILED {outcome.dataset}: {outcome.error} (log: {outcome.log})"
    return (
        f"{outcome.dataset}: valid OME-Zarr {plan.get('ngff_version', '0.5')} at {where}: "
        f"{human_bytes(written)} written, "
        f"{check_counts(outcome.checks)[0]} checks passed, records in {folder}"
        + (f", {written / 1e6 / seconds:.1f} MB/s" if seconds else "")
    )
