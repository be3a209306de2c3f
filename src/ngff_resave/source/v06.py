"""OME-Zarr 0.6 in Zarr v3, and its pre-releases: the versions read, the axes of a multiscale
(those of the coordinate system its levels map into), the arrays its transforms keep their
parameters in, and the pre-release spellings turned into the released ones.

A 0.6 multiscale stays in the model as 0.6 states it (``coordinateSystems``, one transform per
level with ``input`` and ``output``, multiscale-wide transforms of any type): the 0.6 writer
keeps it as it is, the 0.5 writer reduces it where 0.5 can say it (:mod:`ngff_resave.ome.v05`).
The arrays are Zarr v3 as in 0.5 and read by :mod:`.v05`.

Pre-releases, as the spec's tags wrote them:

- ``0.6.dev3`` (and before): a transform's ``input`` and ``output`` are strings, a level's
  ``input`` its array path and ``output`` a coordinate system's name; a ``byDimension``'s parts
  name their axes ``input_axes`` and ``output_axes``;
- ``0.6.dev4``: ``input`` and ``output`` are objects (``{"path": "s0"}``, ``{"name":
  "intrinsic"}``), ``input_axes`` and ``output_axes`` as before;
- ``0.6rc0``: the released form, under its own tag.

:func:`to_released` makes each of them the released form, saying what it changed; what has no
released form (a subspace of axes on a transform that is no ``byDimension`` part, a string naming
no coordinate system where 0.6 names one) is refused, naming the group's key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

VERSION = "0.6"
PRE_RELEASES = ("0.6.dev3", "0.6.dev4", "0.6rc0")
VERSIONS = (VERSION, *PRE_RELEASES)
# Transform types whose parameters may be kept in a Zarr array (their ``path``).
ARRAY_PARAMETERS = ("affine", "rotation", "displacements", "coordinates", "scale", "translation")
# The keys under which a transform holds the transforms it is made of.
WRAPPERS = ("transformations", "forward", "inverse", "transformation")
# A byDimension part's axes, as the pre-releases and as 0.6 name them.
AXES_KEYS = {"input_axes": "inputAxes", "output_axes": "outputAxes"}


class PreReleaseError(ValueError):
    """A pre-release form that released 0.6 cannot express."""


def is_06(multiscale: Any) -> bool:
    """Whether a multiscale is in 0.6's form (coordinate systems, not axes)."""
    return isinstance(multiscale, dict) and "coordinateSystems" in multiscale


def _name(reference: Any, key: str) -> str | None:
    """The coordinate system named by an ``input``/``output``: an object's ``name``, or the
    string a pre-release wrote."""
    if isinstance(reference, str):
        return reference
    if isinstance(reference, dict) and isinstance(reference.get(key), str):
        return str(reference[key])
    return None


def intrinsic_system(multiscale: dict[str, Any]) -> dict[str, Any] | None:
    """The coordinate system the levels map into (the first level's ``output``)."""
    datasets = multiscale.get("datasets") or [{}]
    transforms = datasets[0].get("coordinateTransformations") or [{}]
    name = _name(transforms[0].get("output"), "name") if isinstance(transforms[0], dict) else None
    for system in multiscale.get("coordinateSystems") or []:
        if isinstance(system, dict) and system.get("name") == name:
            return system
    return None


def axis_names(multiscale: dict[str, Any]) -> list[str] | None:
    """The axis names of a 0.6 multiscale: those of its intrinsic coordinate system (None
    when its levels name none of its coordinate systems)."""
    system = intrinsic_system(multiscale)
    if system is None or not isinstance(system.get("axes"), list):
        return None
    return [
        str(axis.get("name")) if isinstance(axis, dict) else str(axis) for axis in system["axes"]
    ]


def walk(transform: Any) -> Iterator[dict[str, Any]]:
    """A transform and every transform it is made of, outermost first."""
    if not isinstance(transform, dict):
        return
    yield transform
    for key in WRAPPERS:
        inner = transform.get(key)
        for part in inner if isinstance(inner, list) else [inner]:
            yield from walk(part)


def multiscale_transforms(multiscale: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each top-level transform of a multiscale with where it is (``datasets[1]`` or
    ``coordinateTransformations[0]``)."""
    for d, dataset in enumerate(multiscale.get("datasets") or []):
        for t, transform in enumerate(
            (dataset.get("coordinateTransformations") or []) if isinstance(dataset, dict) else []
        ):
            yield f"datasets[{d}].coordinateTransformations[{t}]", transform
    for t, transform in enumerate(multiscale.get("coordinateTransformations") or []):
        yield f"coordinateTransformations[{t}]", transform


def parameter_arrays(multiscale: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, path) of each Zarr array a multiscale's transforms keep their parameters in."""
    found = []
    for where, transform in multiscale_transforms(multiscale):
        for part in walk(transform):
            if part.get("type") in ARRAY_PARAMETERS and isinstance(part.get("path"), str):
                found.append((where, str(part["path"])))
    return found


STRINGS = "transform input/output strings written as objects ({'path': ...} for a level's input)"
AXES_NAMES = "byDimension parts' input_axes/output_axes written as inputAxes/outputAxes"


def to_released(attrs: dict[str, Any], where: str) -> list[str]:
    """Turn a group's pre-release 0.6 forms (in the model, changed in place) into the released
    ones; what was changed, one line a kind (how many, where the first is). Raises
    :class:`PreReleaseError` naming the group (``where``) and key of a form that released 0.6
    cannot express."""
    changes: list[str] = []
    for m, multiscale in enumerate(attrs.get("multiscales") or []):
        if not is_06(multiscale):
            continue
        names = {
            s.get("name") for s in multiscale.get("coordinateSystems") or [] if isinstance(s, dict)
        }
        for place, transform in multiscale_transforms(multiscale):
            key = f"multiscales[{m}].{place}"
            level = place.startswith("datasets")
            for side, field in (("input", "path" if level else "name"), ("output", "name")):
                value = transform.get(side) if isinstance(transform, dict) else None
                if not isinstance(value, str):
                    continue
                if field == "name" and value not in names:
                    raise PreReleaseError(
                        f"{where or '(root)'}: {key}.{side} {value!r} names none of the "
                        f"multiscale's coordinate systems {sorted(map(str, names))}; 0.6 "
                        f'references a coordinate system there as {{"name": ...}}'
                    )
                transform[side] = {field: value}
                changes.append(f"{STRINGS}|{key}.{side}")
            changes += _axes_keys(transform, f"{where or '(root)'}: {key}", key)
    counted: dict[str, list[str]] = {}
    for change in changes:
        kind, _, at = change.partition("|")
        counted.setdefault(kind, []).append(at)
    return [f"{kind}: {len(at)}, the first at {at[0]}" for kind, at in counted.items()]


def _axes_keys(transform: Any, refused_at: str, key: str) -> list[str]:
    """A pre-release ``byDimension``'s ``input_axes``/``output_axes`` renamed as 0.6 names
    them; the same keys anywhere else (a pre-release subspace) are refused."""
    changes: list[str] = []
    for part in walk(transform):
        inner = part.get("transformations") if part.get("type") == "byDimension" else None
        for i, item in enumerate(inner if isinstance(inner, list) else []):
            if not isinstance(item, dict):
                continue
            for old, new in AXES_KEYS.items():
                if old in item and new not in item:
                    if not all(isinstance(v, int) for v in item[old] or []):
                        raise PreReleaseError(
                            f"{refused_at}: byDimension part {i} {old} {item[old]!r} names axes; "
                            f"0.6's {new} are axis indices"
                        )
                    item[new] = item.pop(old)
                    changes.append(f"{AXES_NAMES}|{key} part {i}")
        # Walked after its byDimension renamed them: any left are a pre-release subspace.
        for old in AXES_KEYS:
            if old in part:
                raise PreReleaseError(
                    f"{refused_at}: a {part.get('type')} transform with {old} (a pre-release "
                    "subspace of axes): 0.6 has axis subsets only as byDimension parts"
                )
    return changes


def object_versions(attrs: dict[str, Any]) -> list[str]:
    """The ``version`` keys inside a group's OME objects (0.6 states the version once, at
    ``ome.version``): where each is."""
    found = [
        f"multiscales[{m}].version"
        for m, multiscale in enumerate(attrs.get("multiscales") or [])
        if isinstance(multiscale, dict) and "version" in multiscale
    ]
    found += [
        f"{key}.version"
        for key in ("image-label", "well", "plate")
        if isinstance(attrs.get(key), dict) and "version" in attrs[key]
    ]
    return found


# The OME keys whose values :func:`drop_nulls` looks through.
NULLABLE = ("multiscales", "omero", "image-label", "plate", "well")


def drop_nulls(attrs: dict[str, Any]) -> list[str]:
    """Take out the keys that hold no value in a group's OME objects (changed in place): a
    null, which 0.6 says may be omitted and its schemas do not take, and an empty list of a
    multiscale's transforms (ome-zarr-models 1.8 writes both for what a model leaves unset).
    Where each was."""
    dropped: list[str] = []

    def visit(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key in [k for k, v in value.items() if v is None]:
                del value[key]
                dropped.append(f"{where}.{key}")
            for key, inner in value.items():
                visit(inner, f"{where}.{key}")
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                visit(inner, f"{where}[{index}]")

    for key in NULLABLE:
        if key in attrs:
            visit(attrs[key], key)
    # An empty list of multiscale-wide transforms (0.6 takes one or more, or none said).
    for m, multiscale in enumerate(attrs.get("multiscales") or []):
        if isinstance(multiscale, dict) and multiscale.get("coordinateTransformations") == []:
            del multiscale["coordinateTransformations"]
            dropped.append(f"multiscales[{m}].coordinateTransformations (empty)")
    return dropped
