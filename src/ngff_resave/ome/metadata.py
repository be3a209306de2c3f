"""The metadata step of a dataset, after its shards: every group's ``zarr.json`` (mapped by
:mod:`ngff_resave.ome.attributes`), arrays that are not image levels, copied files, the RO-Crate.

Groups are written deepest first and the root last, after the RO-Crate, so a dataset whose
root ``zarr.json`` exists is complete.
"""

from __future__ import annotations

import json
import logging
import posixpath
from pathlib import Path
from typing import Any

from ngff_resave.arrays.codecs import planned_array_metadata
from ngff_resave.arrays.shards import grid_of
from ngff_resave.model.plan import Mode, Plan
from ngff_resave.ome.attributes import group_metadata
from ngff_resave.ome.challenge_stats import STATS_KEY, array_stats
from ngff_resave.records.originals import keep_originals
from ngff_resave.records.ownership import (
    CRATE_FILE,
    Run,
    claim_plan_output,
    confirm_claim,
    settle_claim,
)
from ngff_resave.storage import Location, open_location

LOG = logging.getLogger(__name__)


def crate_for_plan(plan: Plan) -> dict[str, Any] | None:
    settings = plan.crate
    if not settings:
        return None
    # Imported here: planning uses this module's attribute mapping without the crate library.
    from ngff_resave.ome.crate import build_crate

    return build_crate(
        name=settings.get("name") or plan.name or plan.dataset,
        description=settings.get("description")
        or f"OME-Zarr {plan.ngff_version} conversion of {plan.input} ({plan.kind})",
        license=settings["license"],
        organism=settings.get("organism"),
        modality=settings.get("modality"),
        corrections=[mend.line() for mend in plan.mends],
    )


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


def _changed(target: Location, documents: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """In place over a Zarr v3 input: only the documents that would change (an array's
    challenge statistics aside: an array whose metadata is the input's keeps its own)."""
    paths = list(documents)
    found = dict(zip(paths, target.read_many(paths), strict=True))

    def same(path: str) -> bool:
        data = found[path]
        if data is None:
            return False
        try:
            current = json.loads(data)
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
        put(path, json.dumps(value, indent=2).encode() + b"\n")

    # Temporary files of killed jobs (shards and links are written under a temporary name);
    # in place, only where the workflow writes: the input's chunk folders are not walked.
    target.clear_interrupted_writes(
        ["", *plan.groups, *(a.path for a in plan.arrays)] if plan.in_place else None
    )
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
    crate = crate_for_plan(plan)
    root = group_metadata(plan.groups[""], plan.ngff_version, plan.notes)
    if plan.replaces_input_documents:
        arrays, groups = _changed(target, arrays), _changed(target, groups)
        documents = [*arrays, *groups, *([CRATE_FILE] if crate else []), "zarr.json"]
        kept = keep_originals(target, documents)
        written += [path for path, _ in kept]
        nbytes += sum(size for _, size in kept)
        LOG.info("%s: kept %d of the input's documents", plan.dataset, len(kept))
    for path, document in arrays.items():
        put_json(path, document)
    # In place the files are where they are; a copy onto itself would only risk them.
    for path in [] if plan.in_place else plan.files:
        data = source.read_bytes(path)
        if data is None:
            raise FileNotFoundError(f"dataset '{plan.dataset}': {source.child(path)} vanished")
        put(path, data)
    for path, document in groups.items():
        put_json(path, document)
    if crate is not None:
        put_json(CRATE_FILE, crate)
    confirm_claim(plan.dataset, target, run)
    put_json("zarr.json", root)
    LOG.info("%s: wrote %d metadata files, root last", plan.dataset, len(written))
    return {"dataset": plan.dataset, "files": written, "bytes_written": nbytes}
