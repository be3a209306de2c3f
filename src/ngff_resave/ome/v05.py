"""The OME-Zarr 0.5 writer: the model's OME keys as 0.5 has them. Only the version keys change:
multiscales, image-label and well lose theirs (0.5 states it once, in ``ome.version``); the
plate keeps its own, as the 0.5 plate schema and ome-zarr-models expect it."""

from __future__ import annotations

from typing import Any

VERSION = "0.5"


def write(ome: dict[str, Any]) -> None:
    for multiscale in ome.get("multiscales", []):
        multiscale.pop("version", None)
    for key in ("image-label", "well"):
        if isinstance(ome.get(key), dict):
            ome[key].pop("version", None)
    if isinstance(ome.get("plate"), dict):
        ome["plate"]["version"] = VERSION
