"""Example OME-Zarr 0.4 datasets (Zarr v2), written the way bioformats2raw and ome-zarr-py
write them: an image with labels, an HCS plate, and a bioformats2raw layout. They cover the
variety the converter must handle: blosc/zstd/gzip/no compressor, '.' and '/' chunk keys,
big-endian and float dtypes, a null fill value, Fortran order, missing chunks, and low levels
whose chunk is larger than the level or does not divide it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numcodecs
import numpy as np
import zarr

from ngff_resave.storage import open_location, write_local_bytes

AXES = [
    {"name": "t", "type": "time"},
    {"name": "c", "type": "channel"},
    {"name": "z", "type": "space", "unit": "micrometer"},
    {"name": "y", "type": "space", "unit": "micrometer"},
    {"name": "x", "type": "space", "unit": "micrometer"},
]


@dataclass
class ArrayStyle:
    """How the arrays of one example image are stored."""

    dtype: str = "<u2"
    chunks: tuple[int, ...] = (1, 1, 1, 64, 64)
    compressor: Any = field(
        default_factory=lambda: numcodecs.Blosc("lz4", 5, numcodecs.Blosc.SHUFFLE)
    )
    separator: str = "/"
    order: Literal["C", "F"] = "C"
    fill_value: Any = 0


def _write_json(path: Path, value: Any) -> None:
    write_local_bytes(path, json.dumps(value, indent=2).encode())


def _group(path: Path, attrs: dict[str, Any] | None = None) -> None:
    _write_json(path / ".zgroup", {"zarr_format": 2})
    if attrs:
        _write_json(path / ".zattrs", attrs)


def fluorescence(shape: tuple[int, ...], dtype: str, seed: int) -> np.ndarray:
    """Smooth background, bright blobs and noise: compresses like real fluorescence."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : shape[-2], 0 : shape[-1]].astype(np.float32)
    plane = 200 + 80 * np.sin(x / 37.0) * np.cos(y / 53.0)
    for _ in range(12):
        cy, cx = rng.uniform(0, shape[-2]), rng.uniform(0, shape[-1])
        radius = rng.uniform(3, 12)
        plane += 1500 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * radius**2))
    stack = np.broadcast_to(plane, shape) + rng.normal(0, 20, size=shape)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        stack = np.clip(stack, info.min, info.max)
    return stack.astype(dtype)


def _pyramid(data: np.ndarray, levels: int) -> list[np.ndarray]:
    out = [data]
    for _ in range(levels - 1):
        out.append(out[-1][..., ::2, ::2])
    return out


def write_image(
    root: Path,
    data: np.ndarray,
    levels: int,
    style: ArrayStyle,
    name: str,
    axes: list[dict[str, Any]] | None = None,
    label: bool = False,
    skip_chunks: bool = False,
) -> None:
    """One multiscale image group at ``root`` with ``levels`` levels (factor 2 in y and x)."""
    axes = axes or AXES[-data.ndim :]
    datasets = []
    for level, level_data in enumerate(_pyramid(data, levels)):
        chunks = tuple(
            min(c, max(s, 1)) if level == 0 else c
            for c, s in zip(style.chunks[-data.ndim :], level_data.shape, strict=True)
        )
        array = zarr.create_array(
            open_location(str(root)).zarr_store(read_only=False),
            name=str(level),
            shape=level_data.shape,
            chunks=chunks,
            dtype=np.dtype(style.dtype),
            compressors=style.compressor,
            filters=None,
            order=style.order,
            fill_value=style.fill_value,
            zarr_format=2,
            chunk_key_encoding={"name": "v2", "separator": style.separator},
            overwrite=True,
        )
        array[...] = level_data
        if skip_chunks and level == 0:
            # A sparse acquisition: one chunk never written reads as the fill value.
            first = next(
                p
                for p in (root / str(level)).rglob("*")
                if p.is_file() and not p.name.startswith(".")
            )
            open_location(str(root)).delete(str(first.relative_to(root)))
        scale = [1.0] * (data.ndim - 2) + [2.0**level, 2.0**level]
        datasets.append(
            {"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": scale}]}
        )
    attrs: dict[str, Any] = {
        "multiscales": [
            {
                "version": "0.4",
                "name": name,
                "axes": axes,
                "datasets": datasets,
            }
        ]
    }
    if label:
        attrs["image-label"] = {
            "version": "0.4",
            "colors": [{"label-value": 1, "rgba": [255, 0, 0, 255]}],
            "source": {"image": "../../"},
        }
    else:
        names = [a["name"] for a in axes]
        channels = data.shape[names.index("c")] if "c" in names else 1
        attrs["omero"] = {
            "channels": [
                {
                    "label": f"Channel {i}",
                    "color": "00FF00",
                    "active": True,
                    "window": {"min": 0, "max": 4095, "start": 0, "end": 2000},
                }
                for i in range(channels)
            ],
            "rdefs": {"model": "color"},
        }
    _group(root, attrs)


def write_image_with_labels(root: Path) -> None:
    """A t,c,z,y,x uint16 image (blosc lz4, '/' keys, one chunk missing) and a uint32 label."""
    data = fluorescence((1, 2, 3, 150, 130), "<u2", seed=1)
    write_image(root, data, 3, ArrayStyle(chunks=(1, 1, 1, 64, 64)), "cells", skip_chunks=True)
    labels = (data[:, :1] > 1000).astype("<u4")
    _group(root / "labels", {"labels": ["cells"]})
    write_image(
        root / "labels" / "cells",
        labels,
        3,
        ArrayStyle(
            dtype="<u4",
            chunks=(1, 1, 1, 64, 64),
            compressor=numcodecs.Blosc("zstd", 3, numcodecs.Blosc.BITSHUFFLE),
        ),
        "cells",
        label=True,
    )


def write_plate(root: Path, rows: str = "AB", columns: int = 2, fields: int = 2) -> None:
    """An HCS plate (zstd, '.' chunk keys, two acquisitions, fields of two levels)."""
    wells: list[dict[str, Any]] = [
        {"path": f"{r}/{c + 1}", "rowIndex": i, "columnIndex": c}
        for i, r in enumerate(rows)
        for c in range(columns)
    ]
    _group(
        root,
        {
            "plate": {
                "version": "0.4",
                "name": "example plate",
                "rows": [{"name": r} for r in rows],
                "columns": [{"name": str(c + 1)} for c in range(columns)],
                "wells": wells,
                "field_count": fields,
                "acquisitions": [{"id": 0, "name": "first"}, {"id": 1, "name": "second"}],
            }
        },
    )
    style = ArrayStyle(chunks=(1, 1, 1, 40, 40), compressor=numcodecs.Zstd(level=3), separator=".")
    for n, well in enumerate(wells):
        row = well["path"].split("/")[0]
        _group(root / row)
        _group(
            root / well["path"],
            {
                "well": {
                    "version": "0.4",
                    "images": [{"path": str(f), "acquisition": f % 2} for f in range(fields)],
                }
            },
        )
        for f in range(fields):
            data = fluorescence((1, 1, 1, 90, 70), "<u2", seed=100 + n * fields + f)
            write_image(root / well["path"] / str(f), data, 2, style, f"field {well['path']}/{f}")


OME_XML = """<?xml version="1.0" encoding="UTF-8"?>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">
  <Image ID="Image:0" Name="series 0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT"
    Type="uint16" SizeX="100" SizeY="80" SizeZ="2" SizeC="1" SizeT="1"/></Image>
  <Image ID="Image:1" Name="series 1"><Pixels ID="Pixels:1" DimensionOrder="XYZCT"
    Type="float" SizeX="50" SizeY="40" SizeZ="1" SizeC="1" SizeT="1"/></Image>
</OME>
"""


def write_bioformats2raw(root: Path) -> None:
    """A bioformats2raw.layout 3 root with two series: a big-endian uint16 image (gzip,
    Fortran order) and a float32 image (no compressor, null fill value)."""
    _group(root, {"bioformats2raw.layout": 3})
    _group(root / "OME", {"series": ["0", "1"]})
    write_local_bytes(root / "OME" / "METADATA.ome.xml", OME_XML.encode())
    write_image(
        root / "0",
        fluorescence((1, 1, 2, 80, 100), ">u2", seed=7),
        3,
        ArrayStyle(
            dtype=">u2", chunks=(1, 1, 1, 32, 48), compressor=numcodecs.GZip(level=5), order="F"
        ),
        "series 0",
    )
    write_image(
        root / "1",
        fluorescence((1, 1, 1, 40, 50), "<f4", seed=8),
        2,
        ArrayStyle(dtype="<f4", chunks=(1, 1, 1, 40, 50), compressor=None, fill_value=None),
        "series 1",
    )


EXAMPLES = {
    "image-with-labels": write_image_with_labels,
    "plate": write_plate,
    "bioformats2raw": write_bioformats2raw,
}


def write_examples(folder: Path) -> dict[str, Path]:
    """All example datasets under ``folder``, by dataset id."""
    paths = {}
    for dataset, writer in EXAMPLES.items():
        path = folder / f"{dataset}.ome.zarr"
        if not (path / ".zgroup").exists():
            writer(path)
        paths[dataset] = path
    return paths


def write_example_workdir(workdir: Path) -> Path:
    """A working directory with the example datasets, a sheet and a config; returns the config."""
    workdir.mkdir(parents=True, exist_ok=True)
    paths = write_examples(workdir / "inputs")
    rows = ["dataset\tinput\tlicense\torganism\tmodality\torigin"]
    for dataset, path in paths.items():
        rows.append(
            f"{dataset}\t{path.relative_to(workdir)}\tCC-BY-4.0\tNCBI:txid9606\t"
            f"obo:FBbi_00000246\thttps://example.org/{dataset}"
        )
    write_local_bytes(workdir / "samples.tsv", ("\n".join(rows) + "\n").encode())
    config = workdir / "config.yaml"
    write_local_bytes(config, b"samples: samples.tsv\n")
    return config
