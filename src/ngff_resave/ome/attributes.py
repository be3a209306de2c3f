"""OME-Zarr 0.4 ``.zattrs`` to OME-Zarr 0.5 ``zarr.json`` ``attributes``: the mapping alone, used
by the metadata step to write groups and by planning and validation to check them."""

from __future__ import annotations

import json
from typing import Any

from ngff_resave import __version__

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
