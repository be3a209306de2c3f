"""Who may write an output: runs, claims, and the files the workflow wrote.

Every output holds a claim (``.ngff-resave.json`` at its root), written before its first byte:
which dataset of which working directory, from which input, by which run, and the arrays and
files the workflow wrote there. A job writes only into an output that is empty or that it
holds; a claim of another run is taken over only when that run is over, and a dataset made for
another row only with ``overwrite``, and only when every file there is one the workflow wrote.

A run is one Snakemake invocation: the main process writes ``results/run.json`` when it starts
(token, host, process id, whether ``overwrite`` is on) and marks it ended when it stops, so
jobs, wherever they run, know their run and can tell whether another run is still alive.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ngff_resave.records.originals import (
    CLAIM_FILE,
    CRATE_FILE,
    ORIGINALS,
    ORIGINALS_ARCHIVE,
    STATE,
    holds_kept,
    in_place_claim,
    keep_originals,
    mark_input,
)
from ngff_resave.storage import (
    TEMPORARY_NAME,
    Location,
    is_url,
    read_local_record,
    write_local_json,
)

if TYPE_CHECKING:
    from ngff_resave.model.plan import Plan

LOG = logging.getLogger(__name__)

RUN_FILE = "run.json"
NAMED = 8  # files named in a refusal; the message says how many more there are
# A Zarr v2 chunk key, as the links of a referenced array are named: ``0.1.2`` or ``0/1/2``.
V2_CHUNK_KEY = re.compile(r"^[0-9]+(?:[./][0-9]+)*$")


class OutputConflict(RuntimeError):
    """The output is held by another run, or holds files this workflow did not write."""


def real_path(text: str) -> str:
    """A local path with every symbolic link resolved (URLs as they are): two spellings of
    one place compare equal."""
    return text.rstrip("/") if is_url(text) else os.path.realpath(text)


def overlaps(one: str, other: str) -> bool:
    """Whether one path is the other or lies inside it, after resolving links."""
    a, b = real_path(one), real_path(other)
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


@dataclass
class Run:
    """One invocation of the workflow (or, outside Snakemake, one process)."""

    token: str
    workdir: str
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    overwrite: bool = False
    started: float = field(default_factory=time.time)
    ended: float | None = None

    @classmethod
    def start(cls, results: Path, overwrite: bool) -> Run:
        """A new run of the working directory ``results`` is in, recorded for its jobs."""
        run = cls(
            token=uuid.uuid4().hex[:16],
            workdir=real_path(str(results.absolute().parent)),
            overwrite=overwrite,
        )
        write_local_json(results / RUN_FILE, asdict(run))
        return run

    @classmethod
    def current(cls, results: Path) -> Run:
        """The run this job belongs to; outside a workflow run, this process."""
        recorded = read_local_record(results / RUN_FILE)
        if recorded is not None and recorded.get("ended") is None:
            try:
                return cls(**recorded)
            except TypeError:
                LOG.warning("%s is not a run record of this version", results / RUN_FILE)
        return cls(
            token=f"process-{socket.gethostname()}-{os.getpid()}", workdir=real_path(os.getcwd())
        )

    @classmethod
    def running(cls, results: Path) -> Run | None:
        """The run of ``results`` whose process on this host is still alive, if any."""
        recorded = read_local_record(results / RUN_FILE)
        if not recorded or recorded.get("ended") is not None:
            return None
        alive = recorded.get("host") == socket.gethostname() and _process_alive(
            int(recorded.get("pid", 0))
        )
        return cls(**recorded) if alive else None

    @staticmethod
    def end(results: Path) -> None:
        recorded = read_local_record(results / RUN_FILE)
        if recorded is not None and recorded.get("pid") == os.getpid():
            write_local_json(results / RUN_FILE, {**recorded, "ended": time.time()})


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_alive(claim: dict[str, Any]) -> bool:
    """Whether the run that wrote a claim may still be writing. Its working directory's run
    record says when it ended or when a newer run replaced it; on this host its process is
    asked; on another host a run that has not ended counts as alive."""
    recorded = read_local_record(Path(claim.get("workdir", "")) / "results" / RUN_FILE)
    if recorded is not None:
        if recorded.get("token") != claim.get("run") or recorded.get("ended") is not None:
            return False
    if claim.get("host") == socket.gethostname():
        return _process_alive(int(claim.get("pid", 0) or 0))
    return recorded is not None


@dataclass
class Claim:
    """The claim of one output by one row of one working directory, in one run."""

    dataset: str
    input: str
    workdir: str
    run: str
    host: str
    pid: int
    claimed: float
    arrays: list[str]
    files: list[str]
    tool: str = "ngff-resave"
    # The output is the input: only the workflow's metadata there is its own.
    in_place: bool = False

    def same_row(self, other: dict[str, Any]) -> bool:
        return (other.get("workdir"), other.get("dataset"), other.get("input")) == (
            self.workdir,
            self.dataset,
            self.input,
        )

    def describe(self) -> str:
        return f"dataset '{self.dataset}' of working directory {self.workdir}"


def describe_claim(claim: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(claim.get("claimed", 0))))
    return (
        f"dataset '{claim.get('dataset')}' of working directory {claim.get('workdir')} "
        f"(input {claim.get('input')}; run {claim.get('run')} on host {claim.get('host')}, "
        f"process {claim.get('pid')}, since {when})"
    )


def read_claim(target: Location) -> dict[str, Any] | None:
    try:
        claim = target.read_json(CLAIM_FILE)
    except Exception:  # noqa: BLE001 - an unreadable claim is nobody's: treated as foreign files
        return None
    return claim if claim is not None and claim.get("tool") == "ngff-resave" else None


def written_by_workflow(claim: dict[str, Any]) -> Callable[[str], bool]:
    """Whether a file below an output is one the workflow writes there: metadata documents,
    the crate, the claim, chunks and shards of the arrays it claimed (and the links of
    referenced ones), the files it copied, and the temporary files of interrupted writes.
    The claim's lists are indexed once: a plate's claim names thousands of arrays, and its
    output holds tens of thousands of files."""
    files = set(claim.get("files", []))
    # In place every chunk and shard file is the input's own.
    arrays = set() if claim.get("in_place") else set(claim.get("arrays", []))

    def written(path: str) -> bool:
        name = path.rsplit("/", 1)[-1]
        if name == "zarr.json" or path in (CLAIM_FILE, CRATE_FILE) or TEMPORARY_NAME.match(name):
            return True
        # The input's own documents an in-place run keeps (and their copies in the earlier
        # layout).
        if path == ORIGINALS_ARCHIVE or path.startswith(f"{ORIGINALS}/") or path in files:
            return True
        # The array folders holding the file, the nearest first.
        cut = len(path)
        while (cut := path.rfind("/", 0, cut)) > 0:
            if path[:cut] in arrays:
                key = path[cut + 1 :]
                if key.startswith("c/") or V2_CHUNK_KEY.match(key) is not None:
                    return True
        return False

    return written


def foreign_files(target: Location, claim: dict[str, Any] | None) -> list[str]:
    """The files below the output the workflow did not write (all of them without a claim)."""
    if claim is None:
        return target.list_files()
    written = written_by_workflow(claim)
    return [p for p in target.list_files() if not written(p)]


def _name_some(paths: list[str]) -> str:
    named = ", ".join(paths[:NAMED])
    return named + (f" and {len(paths) - NAMED} more" if len(paths) > NAMED else "")


def check_output(
    dataset: str,
    input_url: str,
    target: Location,
    run: Run,
    arrays: list[str] | None = None,
    files: list[str] | None = None,
    take: bool = False,
    in_place: bool = False,
    keeps_documents: bool = False,
) -> None:
    """Refuse, naming both sides, an output this row may not write; with ``take``, claim it
    (before the first byte of a job is written). Read-only without ``take``, as planning
    calls it to report a conflict before any work. ``in_place``: the output is the input,
    which the row writes metadata into, with the user's consent. ``keeps_documents``: in place
    over Zarr v3, where the input's own documents are kept before they are replaced; so is the
    claim of a finished output of another row (the input was made by this workflow)."""
    if in_place:
        if real_path(target.url) != real_path(input_url):
            raise OutputConflict(
                f"dataset '{dataset}': in_place: output {target.url} is not the input "
                f"{input_url}; leave the output empty for an in-place row"
            )
    elif overlaps(target.url, input_url):
        raise OutputConflict(
            f"dataset '{dataset}': output {target.url} and input {input_url} "
            f"are the same place or one holds the other (resolved: "
            f"{real_path(target.url)}, {real_path(input_url)}); the input is "
            "never written to"
        )
    mine = Claim(
        dataset=dataset,
        input=real_path(input_url),
        workdir=run.workdir,
        run=run.token,
        host=run.host,
        pid=run.pid,
        claimed=time.time(),
        arrays=sorted(arrays or []),
        files=sorted(files or []),
        in_place=in_place,
    )
    held = read_claim(target)
    finished_output = (
        keeps_documents
        and held is not None
        and not held.get("in_place")
        and not mine.same_row(held)
        and not run_alive(held)
    )
    if finished_output and take:
        # Kept before this call, with the input's documents (claim_plan_output).
        LOG.info("%s: in place over %s; its claim kept", target.url, describe_claim(held or {}))
    if finished_output:
        held = None
    if in_place and held is not None and not mine.same_row(held):
        raise OutputConflict(
            f"{mine.describe()}: in_place: input {target.url} already holds OME-Zarr 0.5 "
            f"metadata written by {describe_claim(held)}; one row only may write into an input"
        )
    if held is None:
        present = [] if in_place else target.list_files()
        if present:
            raise OutputConflict(
                f"{mine.describe()}: output {target.url} is not empty and holds files this "
                f"workflow did not write ({_name_some(present)}); the workflow writes only "
                "into an empty location or one holding a dataset it made for the same row: "
                "move those files away or choose another output"
            )
    elif held.get("run") != run.token and run_alive(held):
        raise OutputConflict(
            f"{mine.describe()}: output {target.url} is being written by "
            f"{describe_claim(held)}, a run that is still going; wait for "
            "it to end or give one of the rows another output"
        )
    elif not mine.same_row(held):
        if not run.overwrite:
            raise OutputConflict(
                f"{mine.describe()}: output {target.url} holds {describe_claim(held)}; set "
                "overwrite: true in the config to replace it"
            )
        foreign = foreign_files(target, held)
        if foreign:
            raise OutputConflict(
                f"{mine.describe()}: overwrite: output {target.url} holds files this "
                f"workflow did not write ({_name_some(foreign)}); only what it wrote is "
                "replaced: move those files away first"
            )
    if not take:
        return
    if (
        held is not None
        and held.get("run") == run.token
        and mine.same_row(held)
        and (
            set(mine.arrays) <= set(held.get("arrays", []))
            and set(mine.files) <= set(held.get("files", []))
        )
    ):
        return
    if held is not None and mine.same_row(held):
        # Arrays written under an earlier plan stay listed until the metadata step clears them.
        mine.arrays = sorted(set(mine.arrays) | set(held.get("arrays", [])))
        mine.files = sorted(set(mine.files) | set(held.get("files", [])))
    elif held is not None:
        LOG.warning(
            "overwrite: output %s held %s; this row replaces it", target.url, describe_claim(held)
        )
        mine.arrays = sorted(set(mine.arrays) | set(held.get("arrays", [])))
        mine.files = sorted(set(mine.files) | set(held.get("files", [])))
    written = asdict(mine)
    if held is not None and mine.same_row(held) and STATE in held:
        # Whether the input's documents are replaced stays true of a claim taken again.
        written[STATE] = held[STATE]
    target.write_json(CLAIM_FILE, written)
    confirmed = read_claim(target)
    if confirmed is None or confirmed.get("run") != run.token:
        raise OutputConflict(
            f"{mine.describe()}: output {target.url} was claimed at the same "
            f"moment by {describe_claim(confirmed or {})}"
        )


def claim_plan_output(plan: Plan, target: Location, run: Run) -> None:
    """Claim a plan's output for this run before writing into it, for its arrays and files.
    In place over Zarr v3, where the claim there is the input's own (a finished output of
    another row: this workflow made the input; or a file of that name it did not write), that
    claim is kept first (records.originals); the metadata step keeps the input's documents
    before it replaces the first."""

    def claim(take: bool) -> None:
        check_output(
            plan.dataset,
            plan.input,
            target,
            run,
            arrays=[a.path for a in plan.arrays],
            # In place the input's own files stay where they are: never the workflow's to remove.
            files=[] if plan.in_place else plan.files,
            take=take,
            in_place=plan.in_place,
            keeps_documents=plan.replaces_input_documents,
        )

    # No run ever replaced a document of an input with nothing kept (the archive comes first).
    untouched = plan.replaces_input_documents and not holds_kept(target)
    if plan.replaces_input_documents and not target.exists(ORIGINALS_ARCHIVE):
        there = target.read_bytes(CLAIM_FILE)
        if there is not None and not in_place_claim(there):
            claim(take=False)  # refused before anything is written into the input
            # The claim is replaced now; the metadata step keeps the rest before replacing it.
            keep_originals(target, [CLAIM_FILE])
    claim(take=True)
    if untouched:
        # Said in the claim, so that a job making sure the input reads as itself (withdraw)
        # need not read back every document to know.
        mark_input(target)


def confirm_claim(dataset: str, target: Location, run: Run) -> None:
    """Before the step that makes an output complete: the claim is still this run's."""
    held = read_claim(target)
    if held is None or held.get("run") != run.token or held.get("dataset") != dataset:
        raise OutputConflict(
            f"dataset '{dataset}' of working directory {run.workdir}: output {target.url} is "
            f"no longer held by this run but by {describe_claim(held or {})}; two runs wrote "
            "into it, so this one stops before making it look complete"
        )


def settle_claim(
    target: Location,
    grids: dict[str, list[int]],
    files: list[str],
    extras: list[str] | None = None,
    chunk_grids: dict[str, list[int]] | None = None,
    input_documents: bool = False,
) -> list[str]:
    """Once a dataset's arrays are written, before its metadata: remove what the workflow wrote
    under an earlier plan that this one does not have (arrays no longer planned, shards outside
    an array's new shard grid, links outside a referenced array's chunk grid, files no longer
    copied), and list only the current arrays and files in the claim. ``grids`` maps each
    sharded array to its shard grid, ``chunk_grids`` each referenced one to its chunk grid.
    In place, chunk files are the input's: only the workflow's metadata goes, and over a Zarr
    v3 input (``input_documents``) not even that: its documents are the input's own.
    Returns what was removed."""
    held = read_claim(target)
    if held is None:
        return []
    chunk_grids = chunk_grids or {}
    in_place = bool(held.get("in_place"))
    current = {*grids, *chunk_grids, *(extras or [])}
    removed = []
    for old in sorted(set(held.get("arrays", [])) - current):
        if input_documents:
            break
        removed += [
            f"{old}/{key}"
            for key in target.list_files(old)
            if key == "zarr.json" or _stale(key, None, None, in_place)
        ]
    for array in sorted({*grids, *chunk_grids}):
        if in_place:
            continue  # nothing of the workflow's but its zarr.json, rewritten next
        removed += [
            f"{array}/{key}"
            for key in target.list_files(array)
            if _stale(key, grids.get(array), chunk_grids.get(array), in_place)
        ]
    removed += sorted(set(held.get("files", [])) - set(files))
    for path in removed:
        target.delete(path)
    if removed:
        LOG.info("%s: removed %d files written under an earlier plan", target.url, len(removed))
    target.write_json(CLAIM_FILE, {**held, "arrays": sorted(current), "files": sorted(files)})
    return removed


def _stale(
    key: str, shard_grid: list[int] | None, chunk_grid: list[int] | None, in_place: bool
) -> bool:
    """Whether a file of an array (``key`` relative to it) is one the workflow wrote that the
    array's current layout does not have: a shard outside the shard grid, a link outside the
    chunk grid, or either kind when the array is now of the other. In place, every chunk and
    shard file is the input's own."""
    if in_place:
        return False
    if key.startswith("c/"):
        return shard_grid is None or not _inside(key[2:], shard_grid)
    if V2_CHUNK_KEY.match(key) is None:
        return False
    return chunk_grid is None or not _inside(re.sub(r"[./]", "/", key), chunk_grid)


def _inside(key: str, grid: list[int]) -> bool:
    """Whether a shard key (``i/j/k`` below ``c/``) names a shard of this grid."""
    parts = key.split("/")
    if len(parts) != len(grid) or not all(p.isdigit() for p in parts):
        return TEMPORARY_NAME.match(parts[-1]) is None
    return all(int(p) < n for p, n in zip(parts, grid, strict=True))
