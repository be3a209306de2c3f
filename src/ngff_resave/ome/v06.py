"""The OME-Zarr 0.6 writer: the model's OME keys as 0.6 has them.

Each multiscales gets its ``coordinateSystems``: the levels' own system, named ``intrinsic``,
with the image's axes, and, when the image has multiscale-wide transforms, a ``physical`` system
with the same axes that they lead to. Each level has one transform naming its ``input`` (the
level's array path) and its ``output`` (``intrinsic``): its scale, or a ``sequence`` of its
scale and translation. Nothing else changes: names, ``type``, ``metadata``, ``omero`` and any
other keys are kept; the per-object ``version`` keys go, as 0.6 states the version only at
``ome.version``. A multiscale read from a 0.6 input (see :mod:`ngff_resave.source.v06`) is
written as it is: its coordinate systems and every transform, as given.
"""

from __future__ import annotations

from typing import Any

from ngff_resave.source.v06 import is_06

VERSION = "0.6"
INTRINSIC = "intrinsic"
PHYSICAL = "physical"


class TransformError(ValueError):
    """A transform list 0.6 has no single-transform form for."""


def transform(steps: list[dict[str, Any]], source: dict[str, str], target: str) -> dict[str, Any]:
    """One 0.6 transform from a 0.4/0.5 list: a scale, or a scale then a translation."""
    kinds = [step.get("type") for step in steps]
    if kinds == ["scale"]:
        return {**steps[0], "input": source, "output": {"name": target}}
    if kinds == ["scale", "translation"]:
        return {
            "type": "sequence",
            "input": source,
            "output": {"name": target},
            "transformations": steps,
        }
    raise TransformError(f"transforms {kinds}: 0.6 takes a scale, or a scale and a translation")


def _dataset(dataset: dict[str, Any]) -> dict[str, Any]:
    """One level with its single transform; a list 0.6 cannot hold is refused, naming it."""
    try:
        single = transform(
            dataset.get("coordinateTransformations", []), {"path": dataset["path"]}, INTRINSIC
        )
    except TransformError as err:
        raise TransformError(f"level {dataset.get('path')}: {err}") from err
    rest = {k: v for k, v in dataset.items() if k != "coordinateTransformations"}
    return {**rest, "coordinateTransformations": [single]}


def multiscale(old: dict[str, Any]) -> dict[str, Any]:
    """One 0.6 multiscale; keys stay in their order, ``coordinateSystems`` where ``axes`` was.
    A multiscale read from 0.6 is 0.6 already: kept as it is, but a ``version`` key."""
    if is_06(old):
        return {key: value for key, value in old.items() if key != "version"}
    axes = old.get("axes", [])
    systems = [{"name": INTRINSIC, "axes": axes}]
    new: dict[str, Any] = {}
    for key, value in old.items():
        if key == "version":
            continue
        if key == "axes":
            new["coordinateSystems"] = systems
        elif key == "datasets":
            new["datasets"] = [_dataset(dataset) for dataset in value]
        elif key == "coordinateTransformations":
            systems.append({"name": PHYSICAL, "axes": axes})
            new[key] = [transform(value, {"name": INTRINSIC}, PHYSICAL)]
        else:
            new[key] = value
    new.setdefault("coordinateSystems", systems)
    return new


def write(ome: dict[str, Any]) -> None:
    if "multiscales" in ome:
        ome["multiscales"] = [multiscale(m) for m in ome["multiscales"]]
    for key in ("image-label", "well", "plate"):
        if isinstance(ome.get(key), dict):
            ome[key].pop("version", None)
