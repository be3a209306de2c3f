"""Each workflow rule's step, one module per rule (as ``workflow/rules/*.smk``), run by the
command line: ``plan`` (the sheet), ``pack`` (small datasets, every step in one process),
``convert``, ``metadata`` and ``validate`` (a large dataset's own jobs), ``catalog`` and
``details``.

After planning, every dataset succeeds or fails alone: a failure becomes the dataset's outcome
(``results/{dataset}/validation.json`` with ``valid: false`` and a one-line ``error``), and the
job goes on with the next dataset. A job fails only when it cannot record.
"""

from __future__ import annotations

from pathlib import Path

from ngff_resave.models import Plan, digest
from ngff_resave.storage import read_local_bytes


def load_plan(path: Path) -> tuple[Plan, str]:
    """A dataset's plan and the digest of its bytes (which its outcome records)."""
    data = read_local_bytes(path)
    if data is None:
        raise FileNotFoundError(f"{path}: no plan (run the plan step first)")
    return Plan.model_validate_json(data), digest(data)
