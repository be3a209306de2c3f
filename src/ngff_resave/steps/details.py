"""``details``: a plan's chunks and shards in the challenge's details format, to edit."""

from __future__ import annotations

import json
from pathlib import Path

from ngff_resave.model.plan import PlanError, read_plan
from ngff_resave.planning.details import write_details
from ngff_resave.storage import write_local_bytes


def details_step(plan_path: Path, output: Path) -> None:
    """A plan's chunks and shards as a challenge details JSON, for a user to edit."""
    plan = read_plan(plan_path)
    if plan is None:
        raise PlanError(f"{plan_path} is not a plan of this version")
    write_local_bytes(output, json.dumps(write_details(plan), indent=2).encode())
