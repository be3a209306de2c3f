"""The ``plan`` rule: every row of the sheet planned, as the sheet plan.

The workflow plans a small sheet in the Snakemake process itself (see
``workflow/rules/common.smk``) and a larger one in a job (``ngff-resave plan``): both run
:func:`plan_step`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ngff_resave.records.ownership import Run
from ngff_resave.sheet.plan import plan_sheet
from ngff_resave.sheet.settings import load_samples, plan_settings
from ngff_resave.storage import write_local_bytes


def plan_step(
    config: dict[str, Any],
    results: Path,
    output: Path,
    attempt: str,
    inputs_digest: str,
    threads: int,
) -> None:
    """The sheet plan: every row planned, ``results/plan.json`` (which the next run starts
    from) and this run's sheet plan written."""
    workdir = Path.cwd()
    rows = load_samples(config, workdir)
    settings = [plan_settings(row, config, workdir) for row in rows.values()]
    run = Run.current(results)
    run.overwrite = bool(config.get("overwrite"))
    sheet = plan_sheet(settings, results, run, workers=threads)
    sheet.attempt, sheet.inputs_digest = attempt, inputs_digest
    write_local_bytes(results / "plan.json", sheet.to_bytes())
    write_local_bytes(output, sheet.to_bytes())
