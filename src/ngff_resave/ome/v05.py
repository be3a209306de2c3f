"""The OME-Zarr 0.5 writer: the model's OME keys as 0.5 has them. Only the version keys change:
multiscales, image-label and well lose theirs (0.5 states it once, in ``ome.version``); the
plate keeps its own, as the 0.5 plate schema and ome-zarr-models expect it.

A multiscale read from 0.6 (coordinate systems, see :mod:`ngff_resave.source.v06`) is written
in 0.5's form where 0.5 can say it: each level's transform a scale, or a scale and a
translation (an ``identity`` is a scale of ones, a lone translation follows a scale of ones),
into one coordinate system whose axes become the multiscale's ``axes``; and at most one
multiscale-wide transform of the same kinds, from that system to one with the same axes.
Anything else (an affine, a rotation, any other type, a second coordinate system with other
axes or one no transform leads to, a link to a labels group) is refused, naming it: no
transform is dropped. The transforms' ``input`` and ``output`` go (0.5 has none); a level's
``sequence`` becomes its two steps, so its own ``name`` has no place in 0.5 (the steps keep
theirs).
"""

from __future__ import annotations

from typing import Any

from ngff_resave.ome.v06 import TransformError
from ngff_resave.source.v06 import is_06

VERSION = "0.5"
# The kinds of a 0.6 transform that 0.5's form has, after a level's or as the multiscale's.
REDUCIBLE = ("scale", "translation", "identity", "sequence")


def _vector(step: dict[str, Any], kind: str) -> bool:
    values = step.get(kind)
    return isinstance(values, list) and all(isinstance(v, int | float) for v in values)


def _steps(transform: dict[str, Any], ndim: int, where: str) -> list[dict[str, Any]]:
    """One 0.6 transform as 0.5's list: a scale, then at most one translation."""
    kind = transform.get("type")
    if kind == "sequence":
        parts = [p for p in transform.get("transformations") or [] if isinstance(p, dict)]
    else:
        parts = [transform]
    kinds = [p.get("type") for p in parts]
    ones = {"type": "scale", "scale": [1.0] * ndim}
    plain = [{k: v for k, v in p.items() if k not in ("input", "output")} for p in parts]
    vectors = all(_vector(p, str(p["type"])) for p in parts if p.get("type") in REDUCIBLE[:2])
    if kind in REDUCIBLE and vectors:
        if kinds == ["identity"] and kind == "identity":
            return [ones]
        if kinds in (["scale"], ["scale", "translation"]):
            return plain
        if kinds == ["translation"]:
            return [ones, *plain]
    shown = f"{kind}" if kind != "sequence" else f"sequence of {', '.join(map(str, kinds))}"
    name = f" {transform['name']!r}" if isinstance(transform.get("name"), str) else ""
    raise TransformError(
        f"{where}: transform{name} ({shown}) has no OME-Zarr 0.5 form (0.5 holds a scale and at "
        "most one translation)"
    )


def _name(reference: Any) -> tuple[str | None, str | None]:
    if not isinstance(reference, dict):
        return None, None
    return reference.get("name"), reference.get("path")


def from_06(old: dict[str, Any], where: str) -> dict[str, Any]:
    """A 0.6 multiscale in 0.5's form; raises :class:`TransformError` naming what 0.5 cannot
    hold."""
    systems = {s.get("name"): s for s in old.get("coordinateSystems") or [] if isinstance(s, dict)}
    intrinsic: str | None = None
    datasets = []
    for d, dataset in enumerate(old.get("datasets") or []):
        at = f"{where}.datasets[{d}] (level {dataset.get('path')})"
        transforms = dataset.get("coordinateTransformations") or []
        if len(transforms) != 1:
            raise TransformError(f"{at}: {len(transforms)} transforms; 0.6 and 0.5 take one")
        output = _name(transforms[0].get("output"))[0]
        if output not in systems:
            raise TransformError(f"{at}: output {output!r} is none of its coordinate systems")
        if intrinsic is not None and output != intrinsic:
            raise TransformError(
                f"{at}: maps into coordinate system {output!r}, level 0 into {intrinsic!r}"
            )
        intrinsic = output
        ndim = len(systems[output].get("axes") or [])
        rest = {k: v for k, v in dataset.items() if k != "coordinateTransformations"}
        datasets.append({**rest, "coordinateTransformations": _steps(transforms[0], ndim, at)})
    if intrinsic is None:
        raise TransformError(f"{where}: no levels")
    axes = systems[intrinsic].get("axes") or []
    kept: set[str] = {intrinsic}
    wide: list[dict[str, Any]] | None = None
    extra = old.get("coordinateTransformations") or []
    for t, transform in enumerate(extra):
        at = f"{where}.coordinateTransformations[{t}]"
        name = f" {transform['name']!r}" if isinstance(transform.get("name"), str) else ""
        (source, source_path), (target, target_path) = (
            _name(transform.get("input")),
            _name(transform.get("output")),
        )
        if t > 0:
            raise TransformError(
                f"{at}: a second multiscale-wide transform{name} ({transform.get('type')}); "
                "0.5 holds one"
            )
        if source_path or target_path:
            raise TransformError(
                f"{at}: transform{name} links coordinate system "
                f"{source if source_path else target!r} of group "
                f"{source_path or target_path!r}; 0.5 has no links between groups"
            )
        if source != intrinsic or target not in systems:
            raise TransformError(
                f"{at}: transform{name} maps {source!r} to {target!r}; 0.5 holds one from the "
                f"levels' coordinate system {intrinsic!r} on"
            )
        wide = _steps(transform, len(axes), at)
        if systems[target].get("axes") != axes:
            raise TransformError(
                f"{at}: coordinate system {target!r} has other axes than {intrinsic!r}; 0.5 "
                "has one list of axes"
            )
        kept.add(str(target))
    lost = [str(name) for name in systems if name not in kept]
    if lost:
        raise TransformError(
            f"{where}: coordinate system {', '.join(map(repr, lost))} would be lost (0.5 has one, "
            f"that of the levels, {intrinsic!r})"
        )
    new: dict[str, Any] = {}
    for key, value in old.items():
        if key == "coordinateSystems":
            new["axes"] = axes
        elif key == "datasets":
            new["datasets"] = datasets
        elif key == "coordinateTransformations":
            if wide is not None:
                new[key] = wide
        elif key != "version":
            new[key] = value
    return new


def write(ome: dict[str, Any]) -> None:
    if "multiscales" in ome:
        ome["multiscales"] = [
            from_06(multiscale, f"multiscales[{m}]") if is_06(multiscale) else multiscale
            for m, multiscale in enumerate(ome["multiscales"])
        ]
    for multiscale in ome.get("multiscales", []):
        multiscale.pop("version", None)
    for key in ("image-label", "well"):
        if isinstance(ome.get(key), dict):
            ome[key].pop("version", None)
    if isinstance(ome.get("plate"), dict):
        ome["plate"]["version"] = VERSION
