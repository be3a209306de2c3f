"""How the work of a run is cut into jobs: by bytes, not by rows.

A dataset no larger than ``pack_bytes`` goes into a pack: one job converts, finishes and
validates all of a pack's datasets, so process start-up and scheduling are paid once per pack.
A pack holds at most ``pack_datasets`` datasets and ``pack_bytes`` bytes. A larger dataset has
jobs of its own: one per resolution level (or shard-aligned part of one), then its metadata and
validation. Only datasets that are not done get jobs, so the job count follows the work left.
Packs, and the metadata and validate jobs of larger datasets, are named by their datasets and
the fingerprints of their last outcomes: a dry run and the run after it agree, and a new attempt
at a dataset (it failed, or its output is gone) has a new name, so Snakemake sees new work even
where its older records are still there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ngff_resave.model.plan import SheetEntry
from ngff_resave.records.outcomes import DatasetState
from ngff_resave.storage import read_local_record


@dataclass
class Work:
    """The jobs of a run: packs by id, datasets with jobs of their own (by the id of their
    finishing job), and what is done (with the record of the job that did it)."""

    entries: dict[str, SheetEntry]
    done: dict[str, str] = field(default_factory=dict)
    packs: dict[str, list[str]] = field(default_factory=dict)
    split: dict[str, str] = field(default_factory=dict)
    unplanned: list[str] = field(default_factory=list)

    @property
    def pack_of(self) -> dict[str, str]:
        return {dataset: pack for pack, members in self.packs.items() for dataset in members}

    def pack_bytes(self, pack: str) -> int:
        return sum(self.entries[d].bytes for d in self.packs.get(pack, []))

    def pack_shard_bytes(self, pack: str) -> int:
        return max((self.entries[d].shard_bytes for d in self.packs.get(pack, [])), default=0)


def recorded_members(record: Path) -> list[str]:
    """The datasets of a pack of an earlier run, from its record."""
    value = read_local_record(record) or {}
    return [item["dataset"] for item in value.get("datasets", [])]


def attempt_id(datasets: list[str], states: dict[str, DatasetState]) -> str:
    text = "\n".join(f"{d} {states[d].fingerprint if d in states else ''}" for d in datasets)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def layout_work(
    entries: list[SheetEntry], states: dict[str, DatasetState], pack_bytes: int, pack_datasets: int
) -> Work:
    """Packs in sheet order, each closed when the next dataset would not fit."""
    done = {d: state.record for d, state in states.items() if state.done}
    work = Work(entries={e.dataset: e for e in entries}, done=done)
    current: list[str] = []
    current_bytes = 0

    def close() -> None:
        nonlocal current, current_bytes
        if current:
            work.packs[attempt_id(current, states)] = current
        current, current_bytes = [], 0

    for entry in entries:
        if entry.plan_digest is None:
            work.unplanned.append(entry.dataset)
        elif entry.dataset in done:
            continue
        elif entry.bytes > pack_bytes:
            work.split[entry.dataset] = attempt_id([entry.dataset], states)
        else:
            if len(current) >= pack_datasets or current_bytes + entry.bytes > pack_bytes:
                close()
            current.append(entry.dataset)
            current_bytes += entry.bytes
    close()
    return work
