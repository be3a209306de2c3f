"""Group metadata: OME-Zarr 0.4 ``.zattrs`` to OME-Zarr 0.5 ``zarr.json`` ``attributes.ome``.

Groups are written deepest first and the root last, after the RO-Crate, so a dataset whose
root ``zarr.json`` exists is complete.
"""

from __future__ import annotations

import json
import logging
import posixpath
from pathlib import Path
from typing import Any

from ngff_resave import __version__
from ngff_resave.ownership import Run, check_output, confirm_claim, settle_claim
from ngff_resave.shards import grid_of
from ngff_resave.storage import Location

LOG = logging.getLogger(__name__)

NGFF_VERSION = "0.5"
OME_KEYS = (
    "multiscales",
    "omero",
    "labels",
    "image-label",
    "plate",
    "well",
    "bioformats2raw.layout",
    "series",
)


def _copy(value: Any) -> Any:
    """A deep copy of JSON data (faster than copy.deepcopy, which a plate calls thousands of
    times)."""
    return json.loads(json.dumps(value))


def ome_attributes(attrs: dict[str, Any], notes: str | None = None) -> dict[str, Any]:
    """The v3 group ``attributes`` for a v2 group's ``.zattrs``.

    In 0.5 the version is stated once per group, in ``ome.version``: the per-object ``version``
    keys of multiscales, image-label and well go; the plate keeps its own, as the 0.5 plate
    schema (and ome-zarr-models) expect it. Keys that are not OME metadata stay outside ``ome``.
    """
    ome: dict[str, Any] = {"version": NGFF_VERSION}
    other: dict[str, Any] = {}
    for key, value in attrs.items():
        if key in OME_KEYS:
            ome[key] = _copy(value)
        elif key != "_creator":
            other[key] = _copy(value)
    if len(ome) == 1:
        return other
    for multiscale in ome.get("multiscales", []):
        multiscale.pop("version", None)
    for key in ("image-label", "well"):
        if isinstance(ome.get(key), dict):
            ome[key].pop("version", None)
    if isinstance(ome.get("plate"), dict):
        ome["plate"]["version"] = NGFF_VERSION
    ome["_creator"] = {"name": "ngff-resave", "version": __version__}
    if notes:
        ome["_creator"]["notes"] = notes
    return {"ome": ome, **other}


def group_metadata(attrs: dict[str, Any], notes: str | None = None) -> dict[str, Any]:
    return {
        "zarr_format": 3,
        "node_type": "group",
        "attributes": ome_attributes(attrs, notes),
    }


def mend_line(mend: dict[str, str]) -> str:
    return f"{mend['rule']} at {mend['path'] or '(root)'}: {mend['mend']}"


def crate_for_plan(plan: dict[str, Any]) -> dict[str, Any] | None:
    settings = plan.get("crate")
    if not settings:
        return None
    # Imported here: planning uses this module's attribute mapping without the crate library.
    from ngff_resave.crate import build_crate

    return build_crate(
        name=settings.get("name") or plan.get("name") or plan["dataset"],
        description=settings.get("description")
        or f"OME-Zarr {NGFF_VERSION} conversion of {plan['input']} ({plan['kind']})",
        license=settings["license"],
        organism=settings.get("organism"),
        modality=settings.get("modality"),
        corrections=[mend_line(m) for m in plan.get("mends", [])],
    )


def write_metadata(plan: dict[str, Any], run: Run | None = None) -> dict[str, Any]:
    """Write every group's ``zarr.json``, the copied files and the crate; the root last.
    What the workflow wrote under an earlier plan and this one does not have goes first."""
    source = Location.from_text(plan["input"], plan.get("input_storage"))
    target = Location.from_text(plan["output"], plan.get("output_storage"))
    run = run or Run.current(Path("results"))
    check_output(
        plan["dataset"],
        plan["input"],
        target,
        run,
        arrays=[a["path"] for a in plan["arrays"]],
        files=plan["files"],
        take=True,
    )
    settle_claim(
        target,
        {a["path"]: grid_of(a["shape"], a["output"]["shards"]) for a in plan["arrays"]},
        plan["files"],
        [e["path"] for e in plan.get("extras", []) if e["action"] == "migrate"],
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

    if target.is_local:
        # Temporary files of killed convert jobs (shards are written under a temporary name).
        for leftover in Path(target.url).rglob(".*.tmp"):
            leftover.unlink()
    for extra in plan.get("extras", []):
        if extra["action"] == "migrate":
            from ngff_resave.extras import migrate

            migrate(source, target, extra)
            written.append(posixpath.join(extra["path"], "zarr.json"))
    for path in plan["files"]:
        data = source.read_bytes(path)
        if data is None:
            raise FileNotFoundError(f"dataset '{plan['dataset']}': {source.child(path)} vanished")
        put(path, data)
    for path in sorted((p for p in plan["groups"] if p), key=lambda p: -p.count("/")):
        put_json(posixpath.join(path, "zarr.json"), group_metadata(plan["groups"][path]))
    crate = crate_for_plan(plan)
    from ngff_resave.crate import CRATE_FILE

    if crate is not None:
        put_json(CRATE_FILE, crate)
    confirm_claim(plan["dataset"], target, run)
    put_json("zarr.json", group_metadata(plan["groups"][""], plan.get("notes")))
    LOG.info("%s: wrote %d metadata files, root last", plan["dataset"], len(written))
    return {"dataset": plan["dataset"], "files": written, "bytes_written": nbytes}
