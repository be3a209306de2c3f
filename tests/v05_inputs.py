"""Small OME-Zarr 0.5 inputs (Zarr v3), written by zarr-python as 0.5 lays them out: the OME
metadata under ``attributes.ome`` with its ``version``, sharded or unsharded arrays with
``dimension_names``; images with labels, plates. Also the near misses: OME-Zarr 0.4 metadata
over Zarr v3 (some writers made it before 0.5) and 0.6 inputs. Their content is deterministic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import zarr

WINDOW = {"min": 0, "max": 1000, "start": 0, "end": 1000}
AXES = [
    {"name": "c", "type": "channel"},
    {"name": "y", "type": "space", "unit": "micrometer"},
    {"name": "x", "type": "space", "unit": "micrometer"},
]


def _group(root: Path, ome: dict[str, Any] | None, loose: bool = False) -> None:
    group = zarr.open_group(str(root), mode="a", zarr_format=3)
    if ome is not None:
        group.attrs.update(ome if loose else {"ome": ome})


def _levels(
    root: Path, seed: int, shape: tuple[int, ...], sharded: bool, dtype: Any = np.uint16
) -> list[dict[str, Any]]:
    """Two levels halving y and x, chunks of 16, shards of 32 when ``sharded``."""
    high = min(1000, np.iinfo(dtype).max)
    base = np.random.default_rng(seed).integers(0, high, shape, dtype=dtype)
    datasets = []
    for level in range(2):
        data = np.ascontiguousarray(base[..., :: 2**level, :: 2**level])
        chunks = tuple(min(16, s) for s in data.shape)
        array = zarr.create_array(
            str(root / str(level)),
            shape=data.shape,
            chunks=chunks,
            shards=tuple(2 * c if s > c else c for c, s in zip(chunks, data.shape, strict=True))
            if sharded
            else None,
            dtype=data.dtype,
            dimension_names=[a["name"] for a in AXES][-data.ndim :],
            zarr_format=3,
        )
        array[...] = data
        scale = [1.0] * (data.ndim - 2) + [0.5 * 2**level] * 2
        datasets.append(
            {"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": scale}]}
        )
    return datasets


def multiscale(datasets: list[dict[str, Any]], name: str, version: str | None = None) -> dict:
    multiscale: dict[str, Any] = {"name": name, "axes": AXES, "datasets": datasets}
    if version:
        multiscale["version"] = version
    return multiscale


def image(root: Path, sharded: bool = True, labels: bool = True, seed: int = 1) -> Path:
    """An image (c, y, x) of two levels, with one label of two levels."""
    _group(root, None)
    datasets = _levels(root, seed, (2, 48, 64), sharded)
    ome: dict[str, Any] = {
        "version": "0.5",
        "multiscales": [multiscale(datasets, "image 0.5")],
        "omero": {
            "channels": [
                {"label": "a", "active": False, "color": "FF0000", "window": WINDOW},
                {"label": "b", "color": "00FF00", "window": WINDOW},
            ]
        },
    }
    _group(root, ome)
    zarr.open_group(str(root), mode="a").attrs["other"] = {"kept": True}
    if labels:
        _group(root / "labels", {"version": "0.5", "labels": ["cells"]})
        label = root / "labels" / "cells"
        _group(label, None)
        label_datasets = _levels(label, seed + 1, (1, 48, 64), sharded, np.uint8)
        _group(
            label,
            {
                "version": "0.5",
                "multiscales": [multiscale(label_datasets, "cells")],
                "image-label": {"colors": [{"label-value": 1, "rgba": [255, 0, 0, 255]}]},
            },
        )
    return root


def plate_layout() -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """The test plates' rows, columns and wells: two rows and two columns."""
    rows, columns = ["A", "B"], ["1", "2"]
    wells = [
        {"path": f"{r}/{c}", "rowIndex": i, "columnIndex": j}
        for i, r in enumerate(rows)
        for j, c in enumerate(columns)
    ]
    return rows, columns, wells


def plate(root: Path, sharded: bool = True) -> Path:
    """A plate of two rows and two columns, one field each."""
    rows, columns, wells = plate_layout()
    _group(root, None)
    for number, well in enumerate(wells):
        field = root / well["path"] / "0"
        _group(field, None)
        datasets = _levels(field, 10 + number, (2, 32, 32), sharded)
        _group(field, {"version": "0.5", "multiscales": [multiscale(datasets, well["path"])]})
        _group(root / well["path"], {"version": "0.5", "well": {"images": [{"path": "0"}]}})
    _group(
        root,
        {
            "version": "0.5",
            "plate": {
                "version": "0.5",
                "name": "plate 0.5",
                "rows": [{"name": r} for r in rows],
                "columns": [{"name": c} for c in columns],
                "wells": wells,
                "field_count": 1,
            },
        },
    )
    return root


def loose_v04(root: Path) -> Path:
    """OME-Zarr 0.4 metadata (``multiscales`` with ``version: 0.4``, no ``ome`` block) over
    Zarr v3 arrays."""
    _group(root, None)
    datasets = _levels(root, 5, (2, 48, 64), sharded=False)
    _group(root, {"multiscales": [multiscale(datasets, "loose", "0.4")]}, loose=True)
    return root


def stated(root: Path, version: str) -> Path:
    """An image whose ``ome`` block states ``version`` (0.6, or one that does not exist)."""
    _group(root, None)
    datasets = _levels(root, 6, (2, 48, 64), sharded=True)
    _group(root, {"version": version, "multiscales": [multiscale(datasets, "stated")]})
    return root
