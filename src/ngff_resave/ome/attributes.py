"""The OME metadata model every reader fills and every writer reads: a group's attributes in
OME-Zarr 0.4's form (``multiscales`` with axes objects and per-level transforms, ``plate`` with
row and column indices, ``omero``, labels, wells, bioformats2raw), as the plan keeps them in
``groups``. A writer per output version (:mod:`.v05`, :mod:`.v06`) turns the OME part into that
version's ``attributes.ome``; everything else the group had stays beside it. Used by the
metadata step to write groups and by planning and validation to check them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ngff_resave import __version__
from ngff_resave.model.patterns import NGFF_VERSIONS
from ngff_resave.ome import v05, v06
from ngff_resave.source.v05 import MODEL_OME_KEYS, OTHER_OME_KEYS
from ngff_resave.storage import copy_json

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
assert set(OME_KEYS) == set(MODEL_OME_KEYS)
# One writer per output version: the model's OME keys (a copy, changed in place) to that
# version's ``ome`` block, ``version`` excepted.
WRITERS: dict[str, Callable[[dict[str, Any]], None]] = {"0.5": v05.write, "0.6": v06.write}
assert tuple(WRITERS) == NGFF_VERSIONS


def _copy(value: Any) -> Any:
    """A deep copy of JSON data (faster than copy.deepcopy, which a plate calls thousands of
    times)."""
    return copy_json(value)


def ome_attributes(
    attrs: dict[str, Any], version: str = "0.5", notes: str | None = None
) -> dict[str, Any]:
    """The v3 group ``attributes`` for a group of the model, in OME-Zarr ``version``.

    The version is stated once per group, in ``ome.version``; the writer drops what its version
    no longer has. Keys that are not OME metadata stay outside ``ome``.
    """
    ome: dict[str, Any] = {"version": version}
    other: dict[str, Any] = {}
    # Keys the input had under ``ome`` that the model does not know: back under ``ome``.
    inside = set(attrs.get(OTHER_OME_KEYS) or [])
    for key, value in attrs.items():
        if key in OME_KEYS or key in inside:
            ome[key] = _copy(value)
        elif key not in ("_creator", OTHER_OME_KEYS):
            other[key] = _copy(value)
    if len(ome) == 1:
        return other
    WRITERS[version](ome)
    ome["_creator"] = {"name": "ngff-resave", "version": __version__}
    if notes:
        ome["_creator"]["notes"] = notes
    return {"ome": ome, **other}


def multiscale_axes(multiscale: dict[str, Any]) -> list[dict[str, Any]]:
    """A written multiscale's axes, in any version: ``axes`` up to 0.5; in 0.6 those of the
    coordinate system its levels map into."""
    if "axes" in multiscale:
        return list(multiscale["axes"])
    systems = {s.get("name"): s.get("axes", []) for s in multiscale.get("coordinateSystems", [])}
    first = (multiscale.get("datasets") or [{}])[0].get("coordinateTransformations") or [{}]
    return list(systems.get((first[0].get("output") or {}).get("name"), []))


def group_metadata(
    attrs: dict[str, Any], version: str = "0.5", notes: str | None = None
) -> dict[str, Any]:
    return {
        "zarr_format": 3,
        "node_type": "group",
        "attributes": ome_attributes(attrs, version, notes),
    }
