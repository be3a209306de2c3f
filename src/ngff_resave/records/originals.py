"""In place over a Zarr v3 (OME-Zarr 0.5) input, the workflow replaces the input's own
``zarr.json`` documents (and its RO-Crate and claim). Every one it replaces is kept first, as
the input has it, in one archive at the dataset's root (:data:`ORIGINALS_ARCHIVE`, a gzipped
tar: one file, so no Zarr reader lists it as a node; one write, one PUT on S3; read back in one
request), written before the first is replaced and never again (but to add a document a new
plan replaces that it lacks). Its member :data:`ABSENT_LIST` names the documents the input did
not have.

Later plans read the input from the archive (:func:`read_originals`); :func:`withdraw` puts
every replaced document back (a failed or interrupted run, the start of a rerun), and
:func:`restore_originals` does that and removes the archive: the input, byte for byte, with
nothing left behind. By hand it is ``tar -xzf`` of the archive in the dataset's folder and the
deletion of the documents listed absent (docs/versions.md shows the commands).

The order of writes keeps the hierarchy readable from its root: documents are replaced from the
leaves up, the root last, and put back from the root down. So at any moment a node that reads
as the new version has every node below it new too; the root reads new only when every
document is. A run killed while replacing leaves the root (and possibly more nodes near it) as
the input's; the next run of the row, or ``restore-in-place``, puts the rest back.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import posixpath
import tarfile
import time
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ngff_resave.storage import TEMPORARY_NAME, StorageError

if TYPE_CHECKING:
    from ngff_resave.model.plan import Plan
    from ngff_resave.storage import Location

LOG = logging.getLogger(__name__)

# The workflow's own files in a dataset, named here (ownership imports them from this module,
# which cannot import ownership: they would import each other). Users and outside tools rely
# on these names (DESIGN.md).
# An output's claim: which row of which working directory writes there (records.ownership).
CLAIM_FILE = ".ngff-resave.json"
CRATE_FILE = "ro-crate-metadata.json"
# In place over a Zarr v3 input: the input's documents the workflow replaces there, kept as
# the input had them in one gzipped tar at the dataset's root. One file, not a folder of
# copies: no Zarr reader lists a file as a node, and it is written and read in one request.
ORIGINALS_ARCHIVE = ".ngff-resave-original.tar.gz"
# The member of that archive naming, one per line, the documents the input did not have (a
# group Zarr v3 needs above a plate's wells, its crate, a claim): restoring deletes them.
ABSENT_LIST = ".ngff-resave-absent"
# Earlier, the kept documents were copies in a folder (``{ORIGINALS}/{path}``, a document the
# input lacked marked ``{path}{ABSENT}``), which Zarr readers listed as groups. Datasets
# upgraded so are still read and restored; their next run moves the copies into the archive.
ORIGINALS = ".ngff-resave-original"
ABSENT = ".absent"

# Each document as the input had it: its bytes, or None where the input had none.
Kept = dict[str, bytes | None]

# A field of the claim saying what the replaceable documents hold: "input" once every one is
# the input's own (set after a whole withdraw, cleared before the first replacement), so that a
# withdraw at the start of each job of a rerun need not read them all again. Any other value,
# or none (a claim rewritten by ownership.check_output drops it), means: read and compare.
STATE = "documents"
INPUT_STATE = "input"
REPLACED_STATE = "replaced"
# The names a member may have: only what the workflow replaces is ever written back.
MEMBER_NAMES = ("zarr.json", CRATE_FILE, CLAIM_FILE)


def pack(kept: Kept) -> bytes:
    """The archive of these documents: a gzipped tar of those the input had, under their own
    paths (so ``tar -xzf`` in the dataset puts them back), and the list of those it lacked."""
    # Extracted by hand the documents get this time: when they were kept.
    now = int(time.time())
    absent = "".join(f"{path}\n" for path in sorted(p for p, data in kept.items() if data is None))
    # In the order they are put back (the root first, then from the root down), which is the
    # order tar extracts them in by hand.
    members: list[tuple[str, bytes]] = []
    for path in sorted(kept, key=_restore_order):
        data = kept[path]
        if data is not None:
            members.append((path, data))
    # The tar stream joined here and compressed in one call: tarfile's addfile cost a plate's
    # 7,683 members 0.3 s (a header object copied and a compressor call per member). GNU
    # headers, not the default pax: pax headers took a third of the time of a plate's archive,
    # and GNU tar's long names are read by every tar.
    parts: list[bytes] = []
    for path, data in [*members, (ABSENT_LIST, absent.encode())]:
        info = tarfile.TarInfo(path)
        info.size, info.mtime, info.mode = len(data), now, 0o644
        parts += [info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"), data]
        parts.append(bytes(-len(data) % tarfile.BLOCKSIZE))
    # The end of the archive: two zero blocks, the whole padded to tarfile's record size.
    size = sum(len(part) for part in parts) + 2 * tarfile.BLOCKSIZE
    parts.append(bytes(2 * tarfile.BLOCKSIZE + (-size % tarfile.RECORDSIZE)))
    # Level 1: a plate's thousands of near-identical documents shrink tenfold at any level,
    # and the archive is written once, so the fastest level is the best trade.
    return gzip.compress(b"".join(parts), compresslevel=1, mtime=now)


def unpack(data: bytes, where: str) -> Kept:
    """The documents an archive written by :func:`pack` holds (``where`` names it in errors).
    A member that is not a document the workflow replaces is refused: restoring writes
    every member into the dataset."""
    kept: Kept = {}
    absent: list[str] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive:
                handle = archive.extractfile(member) if member.isfile() else None
                if handle is None:
                    raise StorageError(f"{where}: {member.name!r} is not a file")
                content = handle.read()
                if member.name == ABSENT_LIST:
                    absent = content.decode().splitlines()
                else:
                    kept[_member(member.name, where)] = content
    except (tarfile.TarError, OSError, EOFError, zlib.error, UnicodeDecodeError) as err:
        raise StorageError(f"{where} is not an archive of kept documents: {err}") from err
    for path in absent:
        kept[_member(path, where)] = None
    return kept


def read_kept_document(location: Location, path: str) -> bytes | None:
    """One kept document (None: not kept, or the input had none), read from the archive only
    as far as it lies: the crate comes first (see :func:`_restore_order`), and a plate's
    archive holds thousands of documents."""
    data = location.read_bytes(ORIGINALS_ARCHIVE)
    if data is None:
        return (_read_legacy(location) or {}).get(path)
    where = location.child(ORIGINALS_ARCHIVE)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive:
                if member.name == path and member.isfile():
                    handle = archive.extractfile(member)
                    return None if handle is None else handle.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise StorageError(f"{where} is not an archive of kept documents: {err}") from err
    return None


def _member(path: str, where: str) -> str:
    if (
        path.startswith("/")
        or posixpath.normpath(path) != path
        or path.split("/")[0] == ".."
        or posixpath.basename(path) not in MEMBER_NAMES
    ):
        raise StorageError(f"{where}: {path!r} is not a document this workflow keeps")
    return path


def read_originals(location: Location) -> Kept | None:
    """The documents an in-place run kept of this dataset (None when none did): from the
    archive, in one read; from the copies of the earlier layout when there is no archive."""
    return read_kept(location)[0]


def holds_kept(location: Location) -> bool:
    """Whether an in-place run kept documents of this dataset (without reading them)."""
    if location.exists(ORIGINALS_ARCHIVE):
        return True
    return location.can_list and bool(location.list_files(ORIGINALS))


def read_kept(location: Location) -> tuple[Kept | None, bool]:
    """The kept documents, and whether they came from the archive (not the old copies)."""
    data = location.read_bytes(ORIGINALS_ARCHIVE)
    if data is not None:
        return unpack(data, location.child(ORIGINALS_ARCHIVE)), True
    return _read_legacy(location), False


def _read_legacy(location: Location) -> Kept | None:
    """The copies the earlier layout kept under ``.ngff-resave-original/`` (the temporary file
    of a killed copy left out); None when there are none."""
    if not location.can_list:
        return None
    names = [
        name
        for name in location.list_files(ORIGINALS)
        if TEMPORARY_NAME.match(posixpath.basename(name)) is None
    ]
    known = [
        name for name in names if posixpath.basename(name.removesuffix(ABSENT)) in MEMBER_NAMES
    ]
    for name in sorted(set(names) - set(known)):
        LOG.warning("%s: not a kept document: left out", location.child(f"{ORIGINALS}/{name}"))
    names = known
    if not names:
        return None
    kept: Kept = {name.removesuffix(ABSENT): None for name in names if name.endswith(ABSENT)}
    copies = [name for name in names if not name.endswith(ABSENT)]
    found = location.read_many([posixpath.join(ORIGINALS, name) for name in copies])
    kept.update((name, data) for name, data in zip(copies, found, strict=True) if data is not None)
    # That layout kept a claim only when it was the input's (a finished output of another
    # row); any other claim there is the workflow's own.
    kept.setdefault(CLAIM_FILE, None)
    return kept


def _remove_legacy(location: Location) -> None:
    for name in location.list_files(ORIGINALS):
        location.delete(posixpath.join(ORIGINALS, name))
    # Folders are real only on a local disk; the empty ones left must go too.
    if location.local_path is not None:
        top = os.path.join(location.local_path, ORIGINALS)
        for folder, _, _ in os.walk(top, topdown=False):
            try:
                os.rmdir(folder)
            except OSError:
                LOG.warning("%s is not empty: left where it is", folder)


def in_place_claim(data: bytes) -> bool:
    """Whether a claim is one an in-place run wrote (never the input's own)."""
    try:
        claim = json.loads(data)
    except ValueError:
        return False
    return (
        isinstance(claim, dict)
        and claim.get("tool") == "ngff-resave"
        and bool(claim.get("in_place"))
    )


def keep_originals(
    location: Location,
    documents: list[str],
    known: tuple[Kept | None, bool] | None = None,
    found: Kept | None = None,
) -> tuple[Kept, int, bool]:
    """Before the first of these documents is replaced: make sure the archive holds each as
    the input has it. ``known``: what :func:`read_kept` gave, when the caller read it;
    ``found``: documents the caller read from the dataset, not read again. Returns the kept
    documents, the bytes written (0 when the archive held them all), and whether the
    documents there now are all the input's own (no archive or copies existed, so none was
    ever replaced).

    The first archive stands: a rerun adds to it only documents a new plan names that it
    lacks (never replaced, so what they hold is the input's), written again whole. The copies
    of the earlier layout are moved into the archive."""
    kept, archived = known if known is not None else read_kept(location)
    untouched = kept is None
    missing = [path for path in documents if kept is None or path not in kept]
    if archived and kept is not None and not missing:
        return kept, 0, False
    kept = dict(kept or {})
    found = found or {}
    unread = [path for path in missing if path not in found]
    read = dict(zip(unread, location.read_many(unread), strict=True))
    for path in missing:
        data = found[path] if path in found else read[path]
        # An in-place claim is the workflow's own (the input's never is): the input had none.
        kept[path] = None if path == CLAIM_FILE and data and in_place_claim(data) else data
    if untouched and location.exists(ORIGINALS_ARCHIVE):
        # Another job of this run wrote it while these were read (both keep the same input):
        # a document read after that job went on could be replaced already, so its archive
        # stands and this one is not written.
        return keep_originals(location, documents)
    archive = pack(kept)
    location.write_bytes(ORIGINALS_ARCHIVE, archive)
    LOG.info(
        "%s: %d documents of the input kept in %s (%d bytes)",
        location.url,
        len(kept),
        ORIGINALS_ARCHIVE,
        len(archive),
    )
    if not archived and not untouched:
        _remove_legacy(location)
    return kept, len(archive), untouched


def _restore_order(path: str) -> tuple[int, int, str]:
    """Put back the crate first (no Zarr reader reads it; first in the archive, it is found
    without reading the rest), then the root, then the other nodes from the root down (a node
    before any below it), the claim last (the dataset stays claimed until all is back)."""
    if path == CLAIM_FILE:
        return (3, 0, path)
    if posixpath.basename(path) != "zarr.json":
        return (0, 0, path)
    return (1 if path == "zarr.json" else 2, path.count("/"), path)


def _put_back(location: Location, kept: Kept) -> list[str]:
    """Write back each kept document that differs from what is there (delete one the input
    lacked), in :func:`_restore_order`; returns the paths written or deleted."""
    paths = sorted(kept, key=_restore_order)
    changed = []
    for path, current in zip(paths, location.read_many(paths), strict=True):
        original = kept[path]
        if current == original:
            continue
        if original is None:
            location.delete(path)
        else:
            location.write_bytes(path, original)
        changed.append(path)
    return changed


def _set_state(location: Location, state: str) -> None:
    claim = location.read_json(CLAIM_FILE)
    # Only in the workflow's own in-place claim: never in the input's (a claim kept).
    if claim is not None and claim.get("in_place") and claim.get(STATE) != state:
        location.write_json(CLAIM_FILE, {**claim, STATE: state})


def mark_replacing(location: Location) -> None:
    """Before the first document is replaced: the claim no longer says they are the input's."""
    _set_state(location, REPLACED_STATE)


def mark_input(location: Location) -> None:
    """Only where no document was ever replaced: the claim says they are the input's."""
    _set_state(location, INPUT_STATE)


def documents_untouched(location: Location) -> bool:
    """Whether the claim says every replaceable document is the input's own: then no run
    was replacing them (the claim says so before the first is written), so no killed
    document write can have left a temporary file beside one."""
    claim = location.read_json(CLAIM_FILE)
    return claim is not None and claim.get(STATE) == INPUT_STATE


def withdraw(location: Location, kept: Kept | None = None) -> int:
    """In place over Zarr v3: put back every document a run replaced (the claim aside: the
    dataset stays claimed), the root first; returns how many. Afterwards the dataset reads as
    its input everywhere."""
    if documents_untouched(location):
        return 0
    kept = kept if kept is not None else read_originals(location)
    if kept is None:
        return 0  # nothing kept, so nothing replaced: the archive comes before any document
    changed = _put_back(location, {p: data for p, data in kept.items() if p != CLAIM_FILE})
    if changed:
        LOG.info("%s: %d replaced documents put back, the root first", location.url, len(changed))
    # A killed replacement's temporary files too, before the claim says none was replaced
    # (from then on only the root is searched for them).
    location.clear_interrupted_writes(sorted({"", *(posixpath.dirname(p) for p in kept)}))
    _set_state(location, INPUT_STATE)
    return len(changed)


def withdraw_root(plan: Plan, target: Location) -> None:
    """Make a dataset being written not look complete: remove its root ``zarr.json``; in place
    over Zarr v3, put back every document a run replaced instead, the root first (the dataset
    reads as its input, everywhere, not only at its root)."""
    if not plan.replaces_input_documents:
        target.delete("zarr.json")
        return
    withdraw(target)


def restore_originals(location: Location) -> list[str]:
    """Undo in-place conversions of a Zarr v3 input: every kept document written back where
    it differs (one the input lacked removed), the root first and the claim last; then the
    temporary files of killed writes, the archive and any copies of the earlier layout
    removed. The input's chunk and shard files were never written, so it is byte for byte
    what it was. Returns the documents the archive held (none: nothing to restore)."""
    kept = read_originals(location)
    if kept is None:
        # A run killed while writing the archive left only its temporary file.
        location.clear_interrupted_writes([""])
        return []
    changed = _put_back(location, kept)
    location.clear_interrupted_writes(sorted({"", *(posixpath.dirname(p) for p in kept)}))
    location.delete(ORIGINALS_ARCHIVE)
    if location.can_list:
        # Copies of the earlier layout, also those a killed move into the archive left.
        _remove_legacy(location)
    LOG.info(
        "%s: %d documents restored (%d of %d kept differed)",
        location.url,
        len(kept),
        len(changed),
        len(kept),
    )
    return sorted(kept)


def put_back_after_crash(results: Path, datasets: Iterable[str]) -> list[str]:
    """In-place rows over Zarr v3 whose jobs died outright (SIGKILL, out of memory, a lost
    node) could not put back what they replaced: the run's end does it for them, so each
    reads as its input everywhere until the next run. Returns the datasets put back; one
    that cannot be reached is logged and left to the next run, whose first step does it."""
    from ngff_resave.model.plan import read_plan
    from ngff_resave.storage import open_location

    put_back = []
    for dataset in datasets:
        plan = read_plan(results / dataset / "plan.json")
        if plan is None or not plan.replaces_input_documents:
            continue
        try:
            withdraw(open_location(plan.output, plan.output_storage))
        except (StorageError, OSError, ValueError) as err:
            LOG.warning("dataset '%s': its replaced documents were not put back: %s", dataset, err)
            continue
        put_back.append(dataset)
    return put_back
