"""The metadata step of a dataset, after its shards: every group's ``zarr.json`` (mapped by
:mod:`ngff_resave.ome.attributes`), arrays that are not image levels, copied files, the RO-Crate.

Groups are written deepest first and the root last, after the RO-Crate, so a dataset whose
root ``zarr.json`` exists is complete.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import posixpath
from pathlib import Path
from typing import Any, Literal

from ngff_resave.arrays.codecs import planned_array_metadata
from ngff_resave.arrays.resources import collector_paused
from ngff_resave.arrays.shards import grid_of
from ngff_resave.model.plan import Mode, Plan
from ngff_resave.ome.attributes import group_metadata
from ngff_resave.ome.challenge_stats import STATS_KEY, array_stats
from ngff_resave.records.originals import (
    Kept,
    documents_untouched,
    keep_originals,
    mark_replacing,
    read_kept,
    read_kept_document,
    withdraw,
)
from ngff_resave.records.ownership import (
    CLAIM_FILE,
    CRATE_FILE,
    ORIGINALS_ARCHIVE,
    OutputConflict,
    Run,
    claim_plan_output,
    confirm_claim,
    settle_claim,
)
from ngff_resave.storage import Location, decode_json, encode_json, open_location

LOG = logging.getLogger(__name__)


def carries_input_crate(plan: Plan) -> bool:
    """Whether the input has a root RO-Crate, which the output's crate carries forward (a plan
    made before crates were carried forward lists it among the files to copy)."""
    return CRATE_FILE in plan.files or any(
        item.path == CRATE_FILE and item.action == "carry forward" for item in plan.inventory
    )


def copied_files(plan: Plan) -> list[str]:
    """The input's files copied as they are: not its crate when the output gets a crate."""
    return [path for path in plan.files if not (path == CRATE_FILE and plan.crate)]


def read_input_crate(
    plan: Plan, source: Location, originals: Kept | None | Literal[False] = False
) -> dict[str, Any] | None:
    """The input's own RO-Crate, when the plan carries one forward (or the input could not be
    listed), else None. In place over Zarr v3, the copy kept before the first crate was written
    there (a plan made after that run no longer lists the input's crate, which the workflow's
    claim now owns, but its copy is kept); ``originals``: the kept documents when already read
    (False: read them here)."""
    if plan.replaces_input_documents:
        kept = (
            read_kept_document(source, CRATE_FILE)
            if originals is False
            else (originals or {}).get(CRATE_FILE)
        )
        if kept is not None:
            return source.parse_json(posixpath.join(ORIGINALS_ARCHIVE, CRATE_FILE), kept)
    # An input that could not be listed (HTTP) may still have a crate: it is asked for.
    if plan.listed and not carries_input_crate(plan):
        return None
    return source.read_json(CRATE_FILE)


def crate_for_plan(
    plan: Plan,
    input_crate: dict[str, Any] | None = None,
    started: dt.datetime | None = None,
) -> tuple[dict[str, Any] | None, list[str]]:
    """The crate to write and the input crate's values the sheet replaced (as lines): a new
    crate, or the input's carried forward with the conversion (begun at ``started``) added."""
    settings = plan.crate
    if not settings:
        return None, []
    # Imported here: planning uses this module's attribute mapping without the crate library.
    from ngff_resave.ome.crate import Conversion, CrateError, build_crate, carry_crate

    name = settings.get("name") or plan.name or plan.dataset
    description = (
        settings.get("description")
        or f"OME-Zarr {plan.ngff_version} conversion of {plan.input} ({plan.kind})"
    )
    corrections = [mend.line() for mend in plan.mends]
    if input_crate is None:
        crate = build_crate(
            name=name,
            description=description,
            license=settings["license"],
            organism=settings.get("organism"),
            modality=settings.get("modality"),
            corrections=corrections,
        )
        return crate, []
    now = dt.datetime.now(dt.UTC)
    try:
        carried = carry_crate(
            input_crate,
            conversion=Conversion(
                plan.input, plan.input_version, plan.ngff_version, started or now, now
            ),
            license=settings["license"],
            # Only the sheet's own name and description replace the input's; the defaults
            # above fill in where the input's crate has none.
            name=settings.get("name"),
            description=settings.get("description"),
            organism=settings.get("organism"),
            modality=settings.get("modality"),
            fallback_name=name,
            fallback_description=description,
            corrections=corrections,
        )
    except CrateError as err:
        where = f"{plan.input.rstrip('/')}/{CRATE_FILE}"
        raise CrateError(f"dataset '{plan.dataset}': {where}: {err}") from err
    replaced = [item.line() for item in carried.replaced]
    for line in replaced:
        LOG.info("%s: the input's RO-Crate: the sheet's %s", plan.dataset, line)
    return carried.document, replaced


def shard_bytes(target: Location, array_path: str) -> int:
    """The bytes of an output array's shard files (all its files but ``zarr.json``)."""
    sizes = target.file_sizes(array_path)
    return sum(size for name, size in sizes.items() if name != "zarr.json")


def file_grids(plan: Plan) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """The grid of each array's files as the claim rules see them: arrays whose files are
    named ``c/...`` (shards, and a Zarr v3 input's files under the default keys), and arrays
    whose files are named by v2 keys (the input's chunk files, referenced or linked)."""
    shards: dict[str, list[int]] = {}
    chunks: dict[str, list[int]] = {}
    for array in plan.arrays:
        if array.output.as_input:
            unit = array.input.shards or array.input.chunks
            document = array.input.document or {}
            encoding = (document.get("chunk_key_encoding") or {}).get("name", "default")
            (shards if encoding == "default" else chunks)[array.path] = grid_of(array.shape, unit)
        elif array.mode == Mode.REFERENCE:
            chunks[array.path] = grid_of(array.shape, array.output.chunks)
        else:
            shards[array.path] = grid_of(array.shape, array.output.shards)
    return shards, chunks


def _changed(found: Kept, documents: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """In place over a Zarr v3 input: only the documents that would change from the input's
    own (``found``; an array's challenge statistics aside: an array whose metadata is the
    input's keeps its own)."""

    def same(path: str) -> bool:
        data = found.get(path)
        if data is None:
            return False
        try:
            current = decode_json(data)
        except ValueError:
            return False
        new = documents[path]
        if new.get("node_type") == "array":
            current = {**current, "attributes": _without_stats(current.get("attributes"))}
            new = {**new, "attributes": _without_stats(new.get("attributes"))}
        return bool(current == new)

    return {path: document for path, document in documents.items() if not same(path)}


def _without_stats(attributes: Any) -> Any:
    if not isinstance(attributes, dict):
        return attributes
    return {key: value for key, value in attributes.items() if key != STATS_KEY}


def write_metadata(
    plan: Plan, convert_records: list[dict[str, Any]], run: Run | None = None
) -> dict[str, Any]:
    """:func:`_write_metadata`; in place over Zarr v3, a failure on the way leaves the input
    as it was everywhere (every replaced document put back), not a mix of versions."""
    try:
        with collector_paused():
            return _write_metadata(plan, convert_records, run)
    except OutputConflict:
        raise  # another run holds the dataset now: what is there is no longer this run's
    except BaseException:
        if plan.replaces_input_documents:
            target = open_location(plan.output, plan.output_storage)
            try:
                withdraw(target)
            except Exception:  # noqa: BLE001 - the failure being raised is the one to report
                LOG.exception(
                    "dataset '%s': the input's documents could not all be put back; the next "
                    "run of the row, or ngff-resave restore-in-place %s, puts them back",
                    plan.dataset,
                    target.url,
                )
        raise


def _write_metadata(
    plan: Plan, convert_records: list[dict[str, Any]], run: Run | None
) -> dict[str, Any]:
    """Write every group's ``zarr.json``, the copied files and the crate; the root last.
    What the workflow wrote under an earlier plan and this one does not have goes first.
    Each image array's ``zarr.json`` is written again with the challenge's statistics, taken
    from the ``convert_records`` of the jobs that wrote its shards."""
    source = open_location(plan.input, plan.input_storage)
    target = open_location(plan.output, plan.output_storage)
    run = run or Run.current(Path("results"))
    claim_plan_output(plan, target, run)
    migrated = [e for e in plan.extras if e.action == "migrate"]
    shard_grids, chunk_grids = file_grids(plan)
    settle_claim(
        target,
        shard_grids,
        [] if plan.in_place else plan.files,
        [e.path for e in migrated],
        chunk_grids,
        input_documents=plan.replaces_input_documents,
    )
    written: list[str] = []
    nbytes = 0

    def put(path: str, data: bytes) -> None:
        nonlocal nbytes
        target.write_bytes(path, data)
        written.append(path)
        nbytes += len(data)

    def put_json(path: str, value: Any) -> None:
        put(path, encode_json(value))

    def put_many(documents: dict[str, Any]) -> None:
        nonlocal nbytes
        items = [(path, encode_json(document)) for path, document in documents.items()]
        target.write_many(items)
        written.extend(path for path, _ in items)
        nbytes += sum(len(data) for _, data in items)

    # Temporary files of killed jobs (shards and links are written under a temporary name);
    # in place, only where the workflow writes: the input's chunk folders are not walked, nor
    # (Zarr v3 input) the nodes' folders while no document of theirs was ever being replaced.
    if not plan.in_place:
        target.clear_interrupted_writes()
    elif plan.replaces_input_documents and documents_untouched(target):
        target.clear_interrupted_writes([""])
    else:
        target.clear_interrupted_writes(["", *plan.groups, *(a.path for a in plan.arrays)])
    if migrated:
        from ngff_resave.arrays.extras import migrate

        for extra in migrated:
            migrate(source, target, extra)
            written.append(posixpath.join(extra.path, "zarr.json"))
    stats = array_stats(plan, convert_records, lambda path: shard_bytes(target, path))
    arrays = {}
    for array in plan.arrays:
        if array.path in stats:
            document = planned_array_metadata(array)
            document["attributes"][STATS_KEY] = stats[array.path]
            arrays[posixpath.join(array.path, "zarr.json")] = document
    groups = {
        posixpath.join(path, "zarr.json"): group_metadata(plan.groups[path], plan.ngff_version)
        for path in sorted((p for p in plan.groups if p), key=lambda p: -p.count("/"))
    }
    # In place, the output is the input: its kept documents are read once (one archive, which
    # a plate's thousands of documents make slow to unpack), for its crate and below.
    known = read_kept(target) if plan.replaces_input_documents else (None, False)
    # Read before anything is written: in place, the input's crate is where ours goes.
    input_crate = read_input_crate(plan, source, known[0]) if plan.crate else None
    crate, crate_replaced = crate_for_plan(plan, input_crate, _started(convert_records))
    root = group_metadata(plan.groups[""], plan.ngff_version, plan.notes)
    if plan.replaces_input_documents:
        # The input's own version of each document: as kept by an earlier run, else as it is
        # (a document no run kept was never replaced). Only those that change are written.
        own = {p: data for p, data in (known[0] or {}).items() if p in arrays or p in groups}
        unread = [p for p in [*arrays, *groups] if p not in own]
        own.update(zip(unread, target.read_many(unread), strict=True))
        arrays, groups = _changed(own, arrays), _changed(own, groups)
        # Each of them (the root, crate and claim too) is kept, as the input has it, in one
        # archive before the first is replaced (records.originals).
        replaced = [*arrays, *groups, "zarr.json", CRATE_FILE, CLAIM_FILE]
        kept, archived, untouched = keep_originals(target, replaced, known, own)
        if archived:
            written.append(ORIGINALS_ARCHIVE)
            nbytes += archived
        if not untouched:
            # A run killed while replacing (or a finished one, of another plan) left some
            # replaced: all are put back first, the root first, so that the root reads as the
            # input until this step has written every other document.
            withdraw(target, kept)
        mark_replacing(target)
    # Leaves first, the root last: a node reads as the new version only once every node below
    # it does, and the root only once the whole dataset does.
    put_many(arrays)
    # In place the files are where they are; a copy onto itself would only risk them.
    for path in [] if plan.in_place else copied_files(plan):
        data = source.read_bytes(path)
        if data is None:
            raise FileNotFoundError(f"dataset '{plan.dataset}': {source.child(path)} vanished")
        put(path, data)
    # A depth at a time, the deepest first (``groups`` is in that order).
    for _, level in itertools.groupby(groups.items(), key=lambda item: item[0].count("/")):
        put_many(dict(level))
    if crate is not None:
        put_json(CRATE_FILE, crate)
    elif carries_input_crate(plan) and CRATE_FILE not in plan.files and not plan.in_place:
        # No crate of ours (rocrate: false): the input's is kept as it is.
        data = source.read_bytes(CRATE_FILE)
        if data is None:
            raise FileNotFoundError(
                f"dataset '{plan.dataset}': {source.child(CRATE_FILE)} vanished"
            )
        put(CRATE_FILE, data)
    confirm_claim(plan.dataset, target, run)
    put_json("zarr.json", root)
    LOG.info("%s: wrote %d metadata files, root last", plan.dataset, len(written))
    value: dict[str, Any] = {"dataset": plan.dataset, "files": written, "bytes_written": nbytes}
    if crate_replaced:
        # The input crate's values the sheet replaced (also recorded in the crate itself).
        value["crate_replaced"] = crate_replaced
    return value


def _started(convert_records: list[dict[str, Any]]) -> dt.datetime | None:
    """When the dataset's first convert job began (None: no record says)."""
    starts = [r["started_at"] for r in convert_records if r.get("started_at") is not None]
    return dt.datetime.fromtimestamp(min(starts), dt.UTC) if starts else None
