"""Input defects that readers tolerate but OME-Zarr 0.5 forbids, found at planning and mended.

Each rule looks at the input's metadata (the layout read by :mod:`ngff_resave.source.layout`)
and, when it finds its defect, changes the layout the plan is made from and says what it did. With
``mend: false`` the same findings are refused instead, each naming the rule, the path and what
to change in the input. A mend never touches the input: it changes what is written.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ngff_resave.model.plan import InventoryItem, PlanError
from ngff_resave.source import v06
from ngff_resave.source.layout import SourceArray, SourceLayout
from ngff_resave.source.v01_v03 import (
    AXIS_TYPES,
    is_old,
    level_scales,
    typed_axes,
    well_indices,
)
from ngff_resave.source.v05 import OME_KEYS as LOOSE_KEYS

NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


@dataclass(frozen=True)
class Finding:
    """One defect: the rule it breaks, where, what the mend does and what a user would change."""

    rule: str
    path: str
    mend: str
    change: str

    def line(self) -> str:
        return f"{self.rule} at {self.path or '(root)'}: {self.mend}"


def _number(text: str, integer: bool) -> int | float | None:
    if not NUMBER.match(text):
        return None
    value = float(text)
    if integer:
        return int(value) if value.is_integer() else None
    return value


class _Mender:
    def __init__(self, layout: SourceLayout) -> None:
        self.layout = layout
        self.findings: list[Finding] = []

    def found(self, rule: str, path: str, mend: str, change: str) -> None:
        self.findings.append(Finding(rule, path, mend, change))

    # --- what OME-Zarr 0.1 to 0.3 leave out -------------------------------------------------

    def old_versions(self) -> None:
        for image in self.layout.images:
            multiscale = _list(self.layout.groups[image.path].get("multiscales"))[0]
            if v06.is_06(multiscale):
                continue
            said = image.version or "0.1"
            no_axes = "axes" not in multiscale
            if not (is_old(image.version) or no_axes):
                continue
            if no_axes or not all(isinstance(a, dict) for a in multiscale["axes"]):
                multiscale["axes"] = typed_axes(image.axes)
                self.found(
                    f"OME-Zarr {said} axes",
                    image.path,
                    f"axes {', '.join(image.axes)} "
                    + ("(0.1 and 0.2 arrays are 5D)" if no_axes else "typed by their names"),
                    "write OME-Zarr 0.4 axes (name and type) in multiscales",
                )
            datasets = [d for d in _list(multiscale.get("datasets")) if isinstance(d, dict)]
            levels = self._levels(image.path)
            if len(levels) != len(datasets) or all(
                "coordinateTransformations" in d for d in datasets
            ):
                continue
            scales = level_scales([a.shape for a in levels])
            for dataset, scale in zip(datasets, scales, strict=True):
                dataset["coordinateTransformations"] = [{"type": "scale", "scale": scale}]
            self.found(
                f"OME-Zarr {said} scales",
                image.path,
                "level scales from the level shapes (level 0 is 1): "
                + "; ".join(f"{d['path']} {s}" for d, s in zip(datasets, scales, strict=True)),
                "write OME-Zarr 0.4 coordinateTransformations for each level",
            )
        plate = _dict(self.layout.groups.get("", {}).get("plate"))
        wells = [w for w in _list(plate.get("wells")) if isinstance(w, dict)]
        missing = [w for w in wells if "rowIndex" not in w or "columnIndex" not in w]
        if is_old(plate.get("version")) and missing:
            for well in missing:
                found = well_indices(
                    str(well.get("path")), _list(plate.get("rows")), _list(plate.get("columns"))
                )
                if found is not None:
                    well["rowIndex"], well["columnIndex"] = found
            self.found(
                f"OME-Zarr {plate['version']} wells",
                "",
                f"rowIndex and columnIndex of {len(missing)} wells from their paths",
                "add rowIndex and columnIndex to each of the plate's wells",
            )

    def loose_ome(self) -> None:
        """OME-Zarr 0.4 metadata over Zarr v3 arrays, as some writers made before 0.5: valid
        as neither 0.4 (Zarr v2) nor 0.5 (metadata under ``ome``). Its keys are read as 0.4's
        and written under ``ome``."""
        for path in self.layout.loose_ome:
            keys = sorted(k for k in self.layout.groups[path] if k in LOOSE_KEYS)
            self.found(
                "OME-Zarr 0.4 metadata over Zarr v3",
                path,
                f"{', '.join(keys)} read as OME-Zarr 0.4 and written under 'ome'",
                "move the OME attributes under attributes.ome, with its version",
            )

    # --- OME-Zarr 0.6's pre-releases --------------------------------------------------

    def pre_release_06(self) -> None:
        """0.6's pre-release forms made the released ones (:func:`.v06.to_released`), and the
        groups tagged with a pre-release written as released 0.6; per-object ``version`` keys
        of a 0.6 group go (0.6 states the version once). A form 0.6 cannot express is refused,
        whether mending or not."""
        tagged: dict[str, list[str]] = {}
        for path, version in self.layout.stated.items():
            if version not in v06.VERSIONS:
                continue
            if version != v06.VERSION:
                tagged.setdefault(version, []).append(path)
            attrs = self.layout.groups[path]
            try:
                changes = v06.to_released(attrs, path)
            except v06.PreReleaseError as err:
                raise PlanError(f"OME-Zarr {version} metadata at {err}") from err
            nulls = v06.drop_nulls(attrs)
            if nulls:
                self.found(
                    "OME-Zarr 0.6 keys without a value",
                    path,
                    f"{len(nulls)} keys that are null or an empty list left out (the first: "
                    f"{nulls[0]})",
                    "leave out a key that has no value (0.6's schemas take no null, and one or "
                    "more multiscale-wide transforms)",
                )
            versions = v06.object_versions(attrs)
            for multiscale in _list(attrs.get("multiscales")):
                if isinstance(multiscale, dict):
                    multiscale.pop("version", None)
            for key in ("image-label", "well", "plate"):
                if isinstance(attrs.get(key), dict):
                    attrs[key].pop("version", None)
            if versions:
                changes.append(f"{', '.join(versions)} dropped (0.6 states it at ome.version)")
            if changes:
                self.found(
                    f"OME-Zarr {version} form",
                    path,
                    "; ".join(changes),
                    "write transform input/output as objects, byDimension inputAxes/outputAxes, "
                    "and the version only at ome.version, as released 0.6 has them",
                )
        for version, paths in tagged.items():
            self.found(
                f"OME-Zarr {version} pre-release",
                "",
                f"{len(paths)} groups tagged {version} written as released {v06.VERSION}",
                f'set ome.version to "{v06.VERSION}" where the metadata is the released form',
            )

    # --- numbers written as strings ------------------------------------------------------

    def _parse(self, holder: Any, key: str | int, integer: bool, path: str, what: str) -> None:
        try:
            value = holder[key]
        except (KeyError, IndexError, TypeError):
            return
        if isinstance(value, str) and (parsed := _number(value, integer)) is not None:
            holder[key] = parsed
            self.found(
                "number written as a string",
                path,
                f"{what} {value!r} read as {parsed}",
                f"write {what} as a JSON number",
            )

    def _parse_list(self, holder: Any, key: str, integer: bool, path: str, what: str) -> None:
        values = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(values, list):
            for index, value in enumerate(values):
                # Only a string is parsed: a plate's scales hold tens of thousands of numbers.
                if isinstance(value, str):
                    self._parse(values, index, integer, path, f"{what}[{index}]")

    def numbers(self) -> None:
        for path, attrs in self.layout.groups.items():
            for m, multiscale in enumerate(_list(attrs.get("multiscales"))):
                transforms = [
                    (f"multiscales[{m}]", t)
                    for t in _list(multiscale.get("coordinateTransformations"))
                ]
                for d, dataset in enumerate(_list(multiscale.get("datasets"))):
                    transforms += [
                        (f"multiscales[{m}].datasets[{d}]", t)
                        for t in _list(dataset.get("coordinateTransformations"))
                    ]
                for where, transform in transforms:
                    kind = transform.get("type", "") if isinstance(transform, dict) else ""
                    self._parse_list(transform, kind, False, path, f"{where} {kind}")
            for c, channel in enumerate(_list(_dict(attrs.get("omero")).get("channels"))):
                window = channel.get("window") if isinstance(channel, dict) else None
                for key in ("min", "max", "start", "end"):
                    self._parse(window, key, False, path, f"omero channel {c} window {key}")
            plate = _dict(attrs.get("plate"))
            self._parse(plate, "field_count", True, path, "plate field_count")
            for w, well in enumerate(_list(plate.get("wells"))):
                for key in ("rowIndex", "columnIndex"):
                    self._parse(well, key, True, path, f"plate well {w} {key}")
            for a, acquisition in enumerate(_list(plate.get("acquisitions"))):
                for key in ("id", "maximumfieldcount", "starttime", "endtime"):
                    self._parse(acquisition, key, True, path, f"plate acquisition {a} {key}")
            for i, image in enumerate(_list(_dict(attrs.get("well")).get("images"))):
                self._parse(image, "acquisition", True, path, f"well image {i} acquisition")
            label = _dict(attrs.get("image-label"))
            for c, color in enumerate(_list(label.get("colors"))):
                self._parse(color, "label-value", True, path, f"image-label color {c} value")
                self._parse_list(color, "rgba", True, path, f"image-label color {c} rgba")

    # --- axis types --------------------------------------------------------------------

    def axis_types(self) -> None:
        for path, attrs in self.layout.groups.items():
            for multiscale in _list(attrs.get("multiscales")):
                for axis in _list(multiscale.get("axes")):
                    if not isinstance(axis, dict) or "type" in axis:
                        continue
                    name = str(axis.get("name", ""))
                    inferred = AXIS_TYPES.get(name.lower())
                    if inferred is None:
                        continue  # no safe guess: the model check refuses it, naming the axis
                    axis["type"] = inferred
                    self.found(
                        "axis without type",
                        path,
                        f"axis '{name}' given type '{inferred}' from its name",
                        f'add "type": "{inferred}" to axis \'{name}\'',
                    )

    # --- omero windows -----------------------------------------------------------------

    def omero_windows(self) -> None:
        first_levels = {a.image: a for a in self.layout.arrays if a.level == 0}
        for image in self.layout.images:
            omero = _dict(self.layout.groups.get(image.path, {}).get("omero"))
            channels = _list(omero.get("channels"))
            level0 = first_levels.get(image.path)
            if not channels or level0 is None:
                continue
            low, high = _dtype_range(level0.dtype)
            for c, channel in enumerate(channels):
                if not isinstance(channel, dict):
                    continue
                window = channel.setdefault("window", {})
                if not isinstance(window, dict):
                    continue
                filled = []
                for key, value in (("min", low), ("max", high)):
                    if not isinstance(window.get(key), int | float):
                        window[key] = value
                        filled.append(f"{key} {value}")
                for key, other in (("start", "min"), ("end", "max")):
                    if not isinstance(window.get(key), int | float):
                        window[key] = window[other]
                        filled.append(f"{key} {window[other]}")
                if filled:
                    self.found(
                        "omero window incomplete",
                        image.path,
                        f"channel {c} window: {', '.join(filled)} (from the {level0.dtype} range)",
                        f"give omero channel {c} a window with min, max, start, end",
                    )

    # --- plate acquisitions ------------------------------------------------------------

    def acquisitions(self) -> None:
        plate = _dict(self.layout.groups.get("", {}).get("plate"))
        listed = plate.get("acquisitions")
        if not isinstance(listed, list):
            return  # without a list, 0.5 does not check the wells' ids
        known = {a.get("id") for a in listed if isinstance(a, dict)}
        for path, attrs in self.layout.groups.items():
            for image in _list(_dict(attrs.get("well")).get("images")):
                wanted = image.get("acquisition") if isinstance(image, dict) else None
                if isinstance(wanted, int) and wanted not in known:
                    listed.append({"id": wanted})
                    known.add(wanted)
                    self.found(
                        "well acquisition not in the plate",
                        path,
                        f"acquisition {wanted} added to the plate's acquisitions",
                        f'add {{"id": {wanted}}} to the plate\'s acquisitions',
                    )

    # --- label levels ------------------------------------------------------------------

    def label_levels(self) -> None:
        for label in [i for i in self.layout.images if i.is_label]:
            parent = posixpath.dirname(posixpath.dirname(label.path))
            wanted = len(self._levels(parent))
            have = self._levels(label.path)
            if not wanted or not have or len(have) == wanted:
                continue
            multiscale = self.layout.groups[label.path]["multiscales"][0]
            if len(have) > wanted:
                dropped = have[wanted:]
                multiscale["datasets"] = multiscale["datasets"][:wanted]
                self.layout.arrays = [a for a in self.layout.arrays if a not in dropped]
                self.layout.left_out += [
                    InventoryItem(
                        path=a.path,
                        kind="array",
                        action="drop",
                        reason="mend: a label level beyond its image's levels",
                    )
                    for a in dropped
                ]
                self.found(
                    "label has more levels than its image",
                    label.path,
                    f"levels {wanted}..{len(have) - 1} not converted "
                    f"({', '.join(a.path for a in dropped)})",
                    f"remove the label's last {len(dropped)} multiscales datasets",
                )
            else:
                added = self._add_levels(label.path, parent, have, wanted, multiscale)
                self.found(
                    "label has fewer levels than its image",
                    label.path,
                    f"levels {len(have)}..{wanted - 1} computed by nearest-neighbour "
                    f"downsampling of {have[-1].path} ({', '.join(added)})",
                    f"write {wanted - len(have)} more levels for the label",
                )

    def chunk_key_separator(self) -> None:
        """Zarr v2 chunk files stored under the other separator than ``.zarray`` says (old
        nested stores wrote '/' keys without saying so): read them where they are."""
        for array in self.layout.arrays:
            listing = array.listing
            if array.stored is not None or listing is None or listing.separator is None:
                continue
            if listing.separator == array.dimension_separator:
                continue
            declared = array.dimension_separator
            array.declared_separator = declared
            array.dimension_separator = "/" if listing.separator == "/" else "."
            self.found(
                "chunk key separator",
                array.path,
                f"its {len(listing.found)} chunk files are read under '{listing.separator}' "
                f"keys, where they are (its .zarray reads '{declared}' keys: there are none)",
                f'set "dimension_separator": "{listing.separator}" in its .zarray',
            )

    def _levels(self, image: str) -> list[SourceArray]:
        return sorted((a for a in self.layout.arrays if a.image == image), key=lambda a: a.level)

    def _add_levels(
        self,
        label: str,
        parent: str,
        have: list[SourceArray],
        wanted: int,
        multiscale: dict[str, Any],
    ) -> list[str]:
        image_levels = self._levels(parent)
        image_axes = image_levels[0].dimension_names
        last = have[-1]
        reference = image_levels[len(have) - 1].shape
        transforms = multiscale["datasets"][-1].get("coordinateTransformations", [])
        is_06 = v06.is_06(multiscale)
        if is_06:
            # One transform: a scale, an identity, or a sequence of a scale and a translation.
            single = transforms[0] if transforms else {}
            steps = single.get("transformations") if single.get("type") == "sequence" else None
            transforms = steps if isinstance(steps, list) else [single]
        scale = next((t.get("scale") for t in transforms if t.get("type") == "scale"), None)
        used = {d["path"] for d in multiscale["datasets"]}
        added = []
        for level in range(len(have), wanted):
            target = image_levels[level].shape
            shape = []
            for axis, size in zip(last.dimension_names, last.shape, strict=True):
                if axis in image_axes:
                    d = image_axes.index(axis)
                    shape.append(max(1, round(size * target[d] / reference[d])))
                else:
                    shape.append(size)
            name = posixpath.basename(image_levels[level].path)
            if name in used:
                name = str(level)
            used.add(name)
            scaled = [
                {
                    **t,
                    "scale": [
                        s * old / new for s, old, new in zip(scale, last.shape, shape, strict=True)
                    ],
                }
                if t.get("type") == "scale" and scale
                else dict(t)
                for t in transforms
            ]
            if is_06:
                single = multiscale["datasets"][-1]["coordinateTransformations"][0]
                if single.get("type") == "sequence":
                    scaled = [{**single, "transformations": scaled}]
                elif not scale:
                    # An identity: the new level's scale is its size against the last one's.
                    ratio = [old / new for old, new in zip(last.shape, shape, strict=True)]
                    scaled = [{"type": "scale", "scale": ratio}]
                # Its own input; a transform's name is unique, so the copy has none.
                own = {k: v for k, v in scaled[0].items() if k != "name"}
                scaled = [{**own, "input": {"path": name}, "output": single.get("output")}]
            dataset: dict[str, Any] = {"path": name, "coordinateTransformations": scaled}
            multiscale["datasets"].append(dataset)
            chunks = [min(c, s) for c, s in zip(last.chunks, shape, strict=True)]
            array = SourceArray(
                path=posixpath.join(label, name),
                image=label,
                level=level,
                shape=shape,
                dtype=last.dtype,
                chunks=chunks,
                compressor=last.compressor,
                filters=last.filters,
                order=last.order,
                fill_value=last.fill_value,
                dimension_separator=last.dimension_separator,
                dimension_names=last.dimension_names,
                downsampled_from=last.path,
                # Zarr v3: stored as the level it comes from, its chunks, unsharded.
                stored=None
                if last.stored is None
                else dataclasses.replace(last.stored, chunks=chunks, shards=None),
            )
            self.layout.arrays.append(array)
            added.append(array.path)
        return added


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dtype_range(dtype: str) -> tuple[int | float, int | float]:
    kind = np.dtype(dtype)
    if kind.kind in "iu":
        info = np.iinfo(kind)
        return int(info.min), int(info.max)
    if kind.kind == "b":
        return 0, 1
    finfo = np.finfo(kind)
    return float(finfo.min), float(finfo.max)


RULES: tuple[Callable[[_Mender], None], ...] = (
    _Mender.chunk_key_separator,
    _Mender.pre_release_06,
    _Mender.loose_ome,
    _Mender.old_versions,
    _Mender.numbers,
    _Mender.axis_types,
    _Mender.omero_windows,
    _Mender.acquisitions,
    _Mender.label_levels,
)


def find_and_mend(layout: SourceLayout) -> list[Finding]:
    """Every known defect of the layout, mended in place (the layout then describes what is
    written). Numbers are parsed first, so the other rules see numbers."""
    mender = _Mender(layout)
    for rule in RULES:
        rule(mender)
    return mender.findings


def nearest_indices(size: int, source: int) -> np.ndarray:
    """For each of ``size`` output pixels, the source pixel nearest its centre."""
    return np.minimum(((2 * np.arange(size) + 1) * source) // (2 * size), source - 1)


class NearestDownsample:
    """A read-only view of an array at a smaller shape, each pixel the source pixel nearest its
    centre; reads only the source rows, columns and planes it needs."""

    def __init__(self, source: Any, shape: list[int]) -> None:
        self.source = source
        self.shape = tuple(shape)
        self.dtype = source.dtype

    def __getitem__(self, region: tuple[slice, ...]) -> np.ndarray:
        picks = tuple(
            nearest_indices(n, s)[r]
            for r, n, s in zip(region, self.shape, self.source.shape, strict=True)
        )
        return np.asarray(self.source.get_orthogonal_selection(picks))
