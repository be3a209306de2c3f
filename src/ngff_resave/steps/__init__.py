"""One module per Snakemake rule (``plan``, ``pack``, ``convert``, ``metadata``, ``validate``,
``catalog``) and the ``details`` command: what a job does, in order, and what it records.
``pack`` also runs one dataset through every step in one process.

After planning, every dataset succeeds or fails alone: a failure becomes the dataset's outcome
(``results/{dataset}/validation.json`` with ``valid: false`` and a one-line ``error``), and the
job goes on with the next dataset. A job fails only when it cannot record.

May import: sheet, report, checks, planning, ome, arrays, source, records, model, storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ngff_resave.arrays.resources import collector_paused, kept_from_collector
from ngff_resave.model.plan import Plan, digest
from ngff_resave.storage import read_local_bytes


def load_plan(path: Path) -> tuple[Plan, str]:
    """A dataset's plan and the digest of its bytes (which its outcome records)."""
    data = read_local_bytes(path)
    if data is None:
        raise FileNotFoundError(f"{path}: no plan (run the plan step first)")
    with collector_paused():
        return Plan.model_validate_json(data), digest(data)


@contextmanager
def plan_of_step(path: Path) -> Iterator[tuple[Plan, str]]:
    """:func:`load_plan`, the plan left out of the cycle collector's passes while the step
    uses it (see :func:`kept_from_collector`): frozen as loaded, before the collector runs
    again (its first pass would go over every object of the plan)."""
    with ExitStack() as stack:
        with collector_paused():
            loaded = load_plan(path)
            stack.enter_context(kept_from_collector())
        yield loaded
