"""The 2024 challenge's per-array details JSON (``--output-write-details`` /
``--output-read-details``): the chunks and shards of every array, keyed by its input path.

A plan's chunks and shards are written in this format for a user to edit, and a sheet row's
``details`` file in it is matched back to the input's arrays at planning.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from ngff_resave.model.plan import Plan, PlanError

if TYPE_CHECKING:
    from ngff_resave.source.layout import SourceArray


def details_key(input_url: str, array_path: str) -> str:
    """The key of an array in the challenge's ``--output-write-details`` JSON."""
    return posixpath.join(input_url.rstrip("/"), array_path)


def match_details(
    details: dict[str, Any], arrays: list[SourceArray], dataset: str
) -> dict[str, dict[str, Any]]:
    """Map details entries to arrays. Keys name the array's input path; they may be absolute,
    relative, or written on another machine, so the longest array path that ends a key wins."""
    by_path: dict[str, dict[str, Any]] = {}
    paths = sorted((a.path for a in arrays), key=len, reverse=True)
    for key, entry in details.items():
        norm = key.rstrip("/")
        hit = next((p for p in paths if norm == p or norm.endswith("/" + p)), None)
        if hit is None:
            raise PlanError(
                f"dataset '{dataset}': details entry {key!r} names no array of the input"
            )
        by_path[hit] = entry
    return by_path


def write_details(plan: Plan) -> dict[str, Any]:
    """The plan's chunks and shards in the challenge's ``--output-write-details`` format, so a
    user can edit them and hand the file back through the sheet's ``details`` column."""
    return {
        details_key(plan.input, a.path): {
            "shape": a.shape,
            "chunks": a.output.chunks,
            "shards": a.output.shards,
        }
        for a in plan.arrays
    }
