"""Small OME-Zarr 0.1, 0.2 and 0.3 inputs, written as those versions lay them out.

The metadata is written by hand, following the 0.1-0.3 spec texts and ome-zarr-py's
``tests/data/v1`` and ``v2``: the version inside each object (multiscales, image-label, plate,
well, omero), ``datasets`` with paths only, no axes in 0.1 and 0.2 (arrays are 5D, t,c,z,y,x),
axes as a list of names in 0.3, wells by path only, chunk keys with ``.`` in 0.1 (its
``.zarray`` says nothing, the v2 default) and ``/`` from 0.2. The arrays are written by
zarr-python (``zarr_format=2``); their content is deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import zarr

FIVE_D = (1, 2, 1, 32, 48)


def _attrs(path: Path, attrs: dict[str, Any]) -> None:
    group = zarr.open_group(str(path), mode="a", zarr_format=2)
    group.attrs.update(attrs)


def _array(path: Path, data: np.ndarray, separator: str) -> None:
    array = zarr.create_array(
        str(path),
        shape=data.shape,
        chunks=tuple(min(16, s) for s in data.shape),
        dtype=data.dtype,
        zarr_format=2,
        chunk_key_encoding={"name": "v2", "separator": separator},
        compressors=None if separator == "." else "auto",
    )
    array[...] = data
    if separator == ".":
        # ome-zarr-py's 0.1 data: no dimension_separator key at all (the v2 default, '.').
        meta = json.loads((path / ".zarray").read_text())
        meta.pop("dimension_separator", None)
        (path / ".zarray").write_text(json.dumps(meta))


def _pyramid(seed: int, shape: tuple[int, ...], levels: int, dtype: Any = np.uint16) -> list:
    """Level 0 of ``shape`` and ``levels - 1`` levels halving the last two axes."""
    base = np.random.default_rng(seed).integers(0, 1000, shape, dtype=dtype)
    return [base[..., :: 2**n, :: 2**n] for n in range(levels)]


def _image(root: Path, version: str, data: list, separator: str, axes: list[str] | None) -> None:
    multiscale: dict[str, Any] = {
        "version": version,
        "name": f"image {version}",
        "datasets": [{"path": str(n)} for n in range(len(data))],
    }
    if axes is not None:
        multiscale["axes"] = axes
    zarr.open_group(str(root), mode="w", zarr_format=2)
    channels = [{"label": f"ch{c}", "color": "FF0000", "active": True} for c in range(2)]
    attrs: dict[str, Any] = {"multiscales": [multiscale]}
    if axes is None or "c" in axes:
        attrs["omero"] = {"version": version, "channels": channels}
    _attrs(root, attrs)
    for n, level in enumerate(data):
        _array(root / str(n), level, separator)


def image_v01(root: Path) -> Path:
    """0.1: 5D, ``.`` chunk keys, no dimension_separator in .zarray, omero."""
    _image(root, "0.1", _pyramid(1, FIVE_D, 2), ".", None)
    return root


def image_v02_with_labels(root: Path) -> Path:
    """0.2: 5D, ``/`` chunk keys, a label image with colors and properties."""
    _image(root, "0.2", _pyramid(2, FIVE_D, 2), "/", None)
    labels = root / "labels"
    zarr.open_group(str(labels), mode="w", zarr_format=2)
    _attrs(labels, {"labels": ["cells"]})
    cells = labels / "cells"
    zarr.open_group(str(cells), mode="w", zarr_format=2)
    blocks = np.kron(np.arange(12, dtype=np.uint8).reshape(3, 4) % 5, np.ones((16, 12), np.uint8))
    pyramid = [blocks[None, None, None, :: 2**n, :: 2**n].copy() for n in range(2)]
    _attrs(
        cells,
        {
            "multiscales": [{"version": "0.2", "datasets": [{"path": str(n)} for n in range(2)]}],
            "image-label": {
                "version": "0.2",
                "colors": [{"label-value": v, "rgba": [50 * v, 0, 0, 255]} for v in range(1, 5)],
                "properties": [{"label-value": v, "class": "nucleus"} for v in range(1, 5)],
                "source": {"image": "../../"},
            },
        },
    )
    for n, level in enumerate(pyramid):
        _array(cells / str(n), level, "/")
    return root


def image_v03(root: Path, axes: str) -> Path:
    """0.3: axes as names (``zyx``, ``cyx``, ``tyx``, ...), ``/`` chunk keys."""
    shape = {"t": 3, "c": 2, "z": 4, "y": 32, "x": 48}
    data = _pyramid(3, tuple(shape[a] for a in axes), 3)
    _image(root, "0.3", data, "/", list(axes))
    return root


def plate_v03(root: Path) -> Path:
    """0.3: a plate of two wells (paths only, no row or column index), one field each."""
    zarr.open_group(str(root), mode="w", zarr_format=2)
    wells = ["A/1", "B/2"]
    _attrs(
        root,
        {
            "plate": {
                "version": "0.3",
                "name": "plate 0.3",
                "rows": [{"name": "A"}, {"name": "B"}],
                "columns": [{"name": "1"}, {"name": "2"}],
                "wells": [{"path": w} for w in wells],
                "field_count": 1,
                "acquisitions": [{"id": 0, "name": "first"}],
            }
        },
    )
    for seed, well in enumerate(wells):
        zarr.open_group(str(root / well), mode="w", zarr_format=2)
        _attrs(
            root / well, {"well": {"version": "0.3", "images": [{"path": "0", "acquisition": 0}]}}
        )
        _image(root / well / "0", "0.3", _pyramid(10 + seed, (2, 32, 32), 2), "/", ["c", "y", "x"])
    return root


def image_v01_4d(root: Path) -> Path:
    """0.1 with a 4D array: 0.1 and 0.2 arrays are 5D by the spec, so the axes are unknown."""
    _image(root, "0.1", _pyramid(4, (2, 1, 32, 48), 1), ".", None)
    return root


WRITERS = {
    "0.1": image_v01,
    "0.2": image_v02_with_labels,
    "0.3": lambda root: image_v03(root, "zyx"),
    "0.3-plate": plate_v03,
}
