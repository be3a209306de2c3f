"""One module per Snakemake rule (``plan``, ``pack``, ``convert``, ``metadata``, ``validate``,
``catalog``) and the ``details`` command: what a job does, in order, and what it records.
``pack`` also runs one dataset through every step in one process.

After planning, every dataset succeeds or fails alone: a failure becomes the dataset's outcome
(``results/{dataset}/validation.json`` with ``valid: false`` and a one-line ``error``), and the
job goes on with the next dataset. A job fails only when it cannot record.

May import: sheet, report, checks, planning, ome, arrays, source, records, model, storage.
"""

from __future__ import annotations

from pathlib import Path

from ngff_resave.arrays.resources import collector_paused
from ngff_resave.model.plan import Plan, digest
from ngff_resave.storage import read_local_bytes


def load_plan(path: Path) -> tuple[Plan, str]:
    """A dataset's plan and the digest of its bytes (which its outcome records)."""
    data = read_local_bytes(path)
    if data is None:
        raise FileNotFoundError(f"{path}: no plan (run the plan step first)")
    with collector_paused():
        return Plan.model_validate_json(data), digest(data)
