"""Small OME-Zarr 0.6 inputs (Zarr v3), and the same in 0.6's pre-release spellings: images
with labels and plates as 0.6 states them (``coordinateSystems``, one transform per level with
``input`` and ``output``), images whose multiscale-wide transforms 0.5 has no form for, and
the spec's own 0.6 examples over arrays of their axes. Their content is deterministic.

The pre-release spellings follow the spec's tags (github.com/ome/ngff-spec): ``0.6.dev3``
writes a transform's ``input``/``output`` as strings, ``0.6.dev3`` and ``0.6.dev4`` a
``byDimension`` part's axes as ``input_axes``/``output_axes``, ``0.6rc0`` is the released form
under its own tag.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import v05_inputs
import zarr

AXES = v05_inputs.AXES
WINDOW = v05_inputs.WINDOW


def _write_ome(root: Path, ome: dict[str, Any], **other: Any) -> None:
    group = zarr.open_group(str(root), mode="a", zarr_format=3)
    group.attrs.update({"ome": ome, **other})


def levels_06(datasets: list[dict[str, Any]], system: str = "intrinsic") -> list[dict[str, Any]]:
    """0.4-form levels (from v05_inputs) as 0.6 has them: level 0 a scale, the others a
    sequence of a scale and a translation."""
    found = []
    for number, dataset in enumerate(datasets):
        path = dataset["path"]
        (scale,) = dataset["coordinateTransformations"]
        reference = {"input": {"path": path}, "output": {"name": system}}
        if number == 0:
            transform = {"type": "scale", "scale": scale["scale"], **reference}
        else:
            shift = [
                (s - 0.5) / 2 if i >= len(AXES) - 2 else 0.0 for i, s in enumerate(scale["scale"])
            ]
            transform = {
                "type": "sequence",
                **reference,
                "transformations": [scale, {"type": "translation", "translation": shift}],
            }
        found.append({"path": path, "coordinateTransformations": [transform]})
    return found


def multiscale(
    datasets: list[dict[str, Any]], name: str, wide: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    systems = [{"name": "intrinsic", "axes": AXES}]
    found: dict[str, Any] = {"name": name, "coordinateSystems": systems}
    found["datasets"] = levels_06(datasets)
    if wide:
        found["coordinateTransformations"] = wide
        targets = {t["output"]["name"] for t in wide} - {"intrinsic"}
        systems += [{"name": target, "axes": AXES} for target in sorted(targets)]
    found["type"] = "nearest"
    return found


def image(
    root: Path,
    sharded: bool = True,
    labels: bool = True,
    seed: int = 1,
    wide: list[dict[str, Any]] | None = None,
) -> Path:
    """An image (c, y, x) of two levels, with one label of two levels."""
    datasets = v05_inputs._levels(root, seed, (2, 48, 64), sharded)
    ome: dict[str, Any] = {
        "version": "0.6",
        "multiscales": [multiscale(datasets, "image 0.6", wide)],
        "omero": {
            "channels": [
                {"label": "a", "active": False, "color": "FF0000", "window": WINDOW},
                {"label": "b", "color": "00FF00", "window": WINDOW},
            ]
        },
    }
    _write_ome(root, ome, other={"kept": True})
    if labels:
        _write_ome(root / "labels", {"version": "0.6", "labels": ["cells"]})
        label = root / "labels" / "cells"
        label_datasets = v05_inputs._levels(label, seed + 1, (1, 48, 64), sharded, np.uint8)
        _write_ome(
            label,
            {
                "version": "0.6",
                "multiscales": [multiscale(label_datasets, "cells")],
                "image-label": {
                    "colors": [{"label-value": 1, "rgba": [255, 0, 0, 255]}],
                    "source": {"image": "../../"},
                },
            },
        )
    return root


# Multiscale-wide transforms: one 0.5 can hold (a scale into a system of the same axes) and
# those it cannot.
PHYSICAL_SCALE = [
    {
        "type": "scale",
        "name": "to physical",
        "scale": [1.0, 2.0, 2.0],
        "input": {"name": "intrinsic"},
        "output": {"name": "physical"},
    }
]
AFFINE = [
    {
        "type": "affine",
        "name": "tilt",
        "affine": [[1, 0, 0, 0], [0, 1, 0.1, 0], [0, 0, 1, 0]],
        "input": {"name": "intrinsic"},
        "output": {"name": "tilted"},
    }
]
ROTATION = [
    {
        "type": "sequence",
        "input": {"name": "intrinsic"},
        "output": {"name": "rotated"},
        "transformations": [
            {"type": "rotation", "rotation": [[1, 0, 0], [0, 0, -1], [0, 1, 0]]},
            {"type": "translation", "translation": [0, 1, 2]},
        ],
    }
]
BY_DIMENSION = [
    {
        "type": "byDimension",
        "input": {"name": "intrinsic"},
        "output": {"name": "parts"},
        "transformations": [
            {
                "transformation": {"type": "scale", "scale": [2.0, 2.0]},
                "inputAxes": [1, 2],
                "outputAxes": [1, 2],
            },
            {
                "transformation": {"type": "identity"},
                "inputAxes": [0],
                "outputAxes": [0],
            },
        ],
    }
]


def plate(root: Path, sharded: bool = True) -> Path:
    """A plate of two rows and two columns, one field each."""
    rows, columns, wells = v05_inputs.plate_layout()
    zarr.open_group(str(root), mode="a", zarr_format=3)
    for number, well in enumerate(wells):
        field = root / well["path"] / "0"
        datasets = v05_inputs._levels(field, 10 + number, (2, 32, 32), sharded)
        _write_ome(field, {"version": "0.6", "multiscales": [multiscale(datasets, well["path"])]})
        _write_ome(root / well["path"], {"version": "0.6", "well": {"images": [{"path": "0"}]}})
    _write_ome(
        root,
        {
            "version": "0.6",
            "plate": {
                "name": "plate 0.6",
                "rows": [{"name": r} for r in rows],
                "columns": [{"name": c} for c in columns],
                "wells": wells,
                "field_count": 1,
                "acquisitions": [{"id": 0, "name": "first"}],
            },
        },
    )
    return root


def documents(root: Path) -> dict[str, dict[str, Any]]:
    """Every group's and array's zarr.json, by node path."""
    return {
        str(p.parent.relative_to(root)) if p.parent != root else "": json.loads(p.read_text())
        for p in sorted(root.rglob("zarr.json"))
    }


def _strings(transform: dict[str, Any]) -> None:
    for side, key in (("input", "path"), ("output", "name")):
        reference = transform.get(side)
        if isinstance(reference, dict):
            transform[side] = reference.get(key, reference.get("name"))


def _axes_keys(transform: Any) -> None:
    if not isinstance(transform, dict):
        return
    if transform.get("type") == "byDimension":
        for part in transform.get("transformations", []):
            part["input_axes"] = part.pop("inputAxes")
            part["output_axes"] = part.pop("outputAxes")
    for key in ("transformations", "forward", "inverse"):
        inner = transform.get(key)
        for part in inner if isinstance(inner, list) else [inner]:
            _axes_keys(part)


def pre_release(root: Path, tag: str) -> Path:
    """Rewrite a released 0.6 dataset's group documents as the pre-release ``tag`` spells
    them; the arrays stay as they are."""
    for path, document in documents(root).items():
        ome = document.get("attributes", {}).get("ome")
        if not isinstance(ome, dict):
            continue
        ome["version"] = tag
        for entry in ome.get("multiscales", []):
            transforms = [t for d in entry["datasets"] for t in d["coordinateTransformations"]]
            wide = entry.get("coordinateTransformations", [])
            for transform in [*transforms, *wide]:
                if tag == "0.6.dev3":
                    _strings(transform)
                if tag in ("0.6.dev3", "0.6.dev4"):
                    _axes_keys(transform)
        (root / path / "zarr.json").write_text(json.dumps(document, indent=2))
    return root


def from_example(root: Path, attributes: dict[str, Any], sizes: dict[str, int]) -> Path:
    """A dataset of the spec's example ``attributes``: one array per level, the axes' sizes
    from ``sizes`` halved on the space axes level by level, values deterministic."""
    (entry,) = attributes["ome"]["multiscales"]
    systems = {s["name"]: s for s in entry["coordinateSystems"]}
    output = entry["datasets"][0]["coordinateTransformations"][0]["output"]
    axes = systems[output["name"] if isinstance(output, dict) else output]["axes"]
    rng = np.random.default_rng(3)
    for number, dataset in enumerate(entry["datasets"]):
        shape = tuple(
            max(1, sizes[a["name"]] // (2**number if a.get("type") == "space" else 1)) for a in axes
        )
        array = zarr.create_array(
            str(root / dataset["path"]),
            shape=shape,
            chunks=tuple(min(8, s) for s in shape),
            dtype=np.uint16,
            dimension_names=[a["name"] for a in axes],
            zarr_format=3,
        )
        array[...] = rng.integers(0, 1000, shape, dtype=np.uint16)
    zarr.open_group(str(root), mode="a", zarr_format=3).attrs.update(attributes)
    return root


# The spec's 0.6 examples (github.com/ome/ngff-spec, examples/multiscales_strict/ and
# examples/subspace/, as tagged 0.6rc0; their comments taken out), reproduced: the metadata as
# the spec states it, over arrays made by from_example.
SPEC_EXAMPLE_AXES = [
    {"name": "t", "type": "time", "unit": "millisecond"},
    {"name": "c", "type": "channel"},
    {"name": "z", "type": "space", "unit": "micrometer"},
    {"name": "y", "type": "space", "unit": "micrometer"},
    {"name": "x", "type": "space", "unit": "micrometer"},
]
SPACE_YX = [
    {"name": "y", "type": "space", "unit": "micrometer"},
    {"name": "x", "type": "space", "unit": "micrometer"},
]


def _sequence(path: str, system: str, scale: list[float], shift: list[float]) -> dict[str, Any]:
    return {
        "type": "sequence",
        "input": {"path": path},
        "output": {"name": system},
        "transformations": [
            {"type": "scale", "scale": scale},
            {"type": "translation", "translation": shift},
        ],
    }


SPEC_EXAMPLES: dict[str, tuple[dict[str, Any], dict[str, int], bool]] = {
    # examples/multiscales_strict/multiscales_example.json: 5D, three levels, the first a
    # scale, the others sequences; type and metadata of the downsampling.
    "multiscales_example": (
        {
            "ome": {
                "version": "0.6rc0",
                "multiscales": [
                    {
                        "name": "example",
                        "coordinateSystems": [{"name": "intrinsic", "axes": SPEC_EXAMPLE_AXES}],
                        "datasets": [
                            {
                                "path": "s0",
                                "coordinateTransformations": [
                                    {
                                        "type": "scale",
                                        "scale": [0.1, 1.0, 0.5, 0.5, 0.5],
                                        "input": {"path": "s0"},
                                        "output": {"name": "intrinsic"},
                                    }
                                ],
                            },
                            {
                                "path": "s1",
                                "coordinateTransformations": [
                                    _sequence(
                                        "s1",
                                        "intrinsic",
                                        [0.1, 1.0, 1.0, 1.0, 1.0],
                                        [0, 0, 0.25, 0.25, 0.25],
                                    )
                                ],
                            },
                            {
                                "path": "s2",
                                "coordinateTransformations": [
                                    _sequence(
                                        "s2",
                                        "intrinsic",
                                        [0.1, 1.0, 2.0, 2.0, 2.0],
                                        [0, 0, 0.75, 0.75, 0.75],
                                    )
                                ],
                            },
                        ],
                        "type": "gaussian",
                        "metadata": {
                            "description": "the fields in metadata depend on the downscaling "
                            "implementation. Here, the parameters passed to the skimage "
                            "function are given",
                            "method": "skimage.transform.pyramid_gaussian",
                            "version": "0.16.1",
                            "args": "[true]",
                            "kwargs": {"multichannel": True},
                        },
                    }
                ],
            }
        },
        {"t": 1, "c": 2, "z": 4, "y": 16, "x": 16},
        True,
    ),
    # examples/multiscales_strict/multiscales_transformations.json: a multiscale-wide scale
    # from the levels' system into a second one of the same axes.
    "multiscales_transformations": (
        {
            "ome": {
                "version": "0.6rc0",
                "multiscales": [
                    {
                        "coordinateSystems": [
                            {"name": "physical", "axes": SPACE_YX},
                            {"name": "intrinsic", "axes": SPACE_YX},
                        ],
                        "datasets": [
                            {
                                "path": "s0",
                                "coordinateTransformations": [
                                    {
                                        "scale": [1, 1],
                                        "type": "scale",
                                        "input": {"path": "s0"},
                                        "output": {"name": "intrinsic"},
                                    }
                                ],
                            }
                        ],
                        "coordinateTransformations": [
                            {
                                "scale": [10, 10],
                                "type": "scale",
                                "input": {"name": "intrinsic"},
                                "output": {"name": "physical"},
                            }
                        ],
                        "name": "image_with_coordinateTransformations",
                        "type": "foo",
                        "metadata": {"key": "value"},
                    }
                ],
            }
        },
        {"y": 32, "x": 32},
        True,
    ),
    # examples/subspace/subspacePermute.json: a mapAxis from the levels' (array) system to a
    # physical one; 0.5 has no form for it.
    "subspacePermute": (
        {
            "ome": {
                "version": "0.6rc0",
                "multiscales": [
                    {
                        "name": "multiscales",
                        "coordinateSystems": [
                            {
                                "name": "physical",
                                "axes": [
                                    {**axis, "discrete": False}
                                    for axis in [
                                        {"type": "space", "name": "y", "unit": "micrometer"},
                                        {"type": "space", "name": "x", "unit": "micrometer"},
                                    ]
                                ],
                            },
                            {
                                "name": "array_coordinates",
                                "axes": [
                                    {"type": "space", "name": "dim_0", "discrete": True},
                                    {"type": "space", "name": "dim_1", "discrete": True},
                                ],
                            },
                        ],
                        "datasets": [
                            {
                                "path": "array",
                                "coordinateTransformations": [
                                    {
                                        "type": "scale",
                                        "output": {"name": "array_coordinates"},
                                        "input": {"path": "array"},
                                        "name": "default-scale",
                                        "scale": [1, 1],
                                    }
                                ],
                            }
                        ],
                        "coordinateTransformations": [
                            {
                                "type": "mapAxis",
                                "output": {"name": "physical"},
                                "input": {"name": "array_coordinates"},
                                "name": "transform-name",
                                "mapAxis": [1, 0],
                            }
                        ],
                    }
                ],
            }
        },
        {"dim_0": 24, "dim_1": 16},
        False,
    ),
}
