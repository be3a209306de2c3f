"""In place over a Zarr v3 (OME-Zarr 0.5) input, the workflow replaces the input's own
``zarr.json`` documents. Each is kept first, once, under ``.ngff-resave-original/`` in the
dataset (one the input did not have, such as a group Zarr v3 needs above a well, as an empty
``zarr.json.absent``): later plans read the input from those copies, and copying them back
restores the input exactly (:func:`restore_originals`)."""

from __future__ import annotations

import logging
import posixpath
from typing import TYPE_CHECKING

from ngff_resave.records.ownership import ABSENT, CLAIM_FILE, ORIGINALS

if TYPE_CHECKING:
    from ngff_resave.model.plan import Plan
    from ngff_resave.storage import Location

LOG = logging.getLogger(__name__)


def keep_originals(location: Location, documents: list[str]) -> list[tuple[str, int]]:
    """Copy each of these documents of the input that has no kept copy yet (the first one
    kept is the input's own); returns the files written and their sizes."""
    kept = set(location.list_files(ORIGINALS))
    wanted = [path for path in documents if path not in kept and path + ABSENT not in kept]
    written = []
    for path, data in zip(wanted, location.read_many(wanted), strict=True):
        copy = posixpath.join(ORIGINALS, path if data is not None else path + ABSENT)
        location.write_bytes(copy, data or b"")
        written.append((copy, len(data or b"")))
    return written


def withdraw_root(plan: Plan, target: Location) -> None:
    """Make a dataset being written not look complete: remove its root ``zarr.json``; in place
    over Zarr v3, put the input's own back instead (the dataset reads as the input it was)."""
    if not plan.replaces_input_documents:
        target.delete("zarr.json")
        return
    original = target.read_bytes(posixpath.join(ORIGINALS, "zarr.json"))
    if original is not None:
        target.write_bytes("zarr.json", original)


def restore_originals(location: Location) -> list[str]:
    """Undo in-place conversions of a Zarr v3 input: every kept document copied back (one the
    input lacked removed), then the copies and the workflow's claim removed. The input's chunk
    and shard files were never written, so it is byte for byte what it was."""
    kept = sorted(location.list_files(ORIGINALS), key=lambda p: (p == "zarr.json", p))
    for path in kept:
        if path.endswith(ABSENT):
            location.delete(path.removesuffix(ABSENT))
            continue
        data = location.read_bytes(posixpath.join(ORIGINALS, path))
        assert data is not None
        location.write_bytes(path, data)
    for path in kept:
        location.delete(posixpath.join(ORIGINALS, path))
    if CLAIM_FILE not in kept:
        location.delete(CLAIM_FILE)
    LOG.info("%s: %d documents restored", location.url, len(kept))
    return kept
