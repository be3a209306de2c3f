"""OME-Zarr 0.1, 0.2 and 0.3 inputs: what these versions leave out that the metadata model
(0.4's form, see :mod:`ngff_resave.ome.attributes`) needs, and how it is inferred.

- Axes: 0.1 and 0.2 have none, their arrays are 5D ``t, c, z, y, x`` by the spec (an array of
  another rank is refused); 0.3 names them, and each name gets its type.
- Scales: no version before 0.4 has transforms; a level's scale is the ratio of level 0's shape
  to its own (level 0 is 1 on every axis), and no unit is invented.
- Plate wells: before 0.4 a well has only its path; its row and column indices come from the
  path's last two parts, looked up in the plate's rows and columns.

Chunk keys need nothing: each array's ``.zarray`` says its separator (``.`` by default, as 0.1
writes; ``/`` from 0.2), and the layout reader follows it. Each inference is made by a mend
(:mod:`.mends`), recorded as such and refused under ``mend: false``.
"""

from __future__ import annotations

from typing import Any

OLD_VERSIONS = ("0.1", "0.2", "0.3")
FIVE_D = ["t", "c", "z", "y", "x"]
AXIS_TYPES = {"x": "space", "y": "space", "z": "space", "t": "time", "c": "channel"}


def is_old(version: Any) -> bool:
    return version is not None and str(version) in OLD_VERSIONS


def axis_names(multiscale: dict[str, Any]) -> list[str] | None:
    """The axis names of a multiscale: as written (0.3 names, 0.4 objects), or the 5D
    convention of 0.1 and 0.2 (also for a multiscale with neither axes nor a version, as 0.1
    allowed); None for a 0.4 multiscale without axes."""
    if "axes" in multiscale:
        return [a["name"] if isinstance(a, dict) else str(a) for a in multiscale["axes"]]
    if multiscale.get("version") is None or str(multiscale["version"]) in ("0.1", "0.2"):
        return list(FIVE_D)
    return None


def typed_axes(names: list[str]) -> list[dict[str, str]]:
    """0.4 axis objects for names, typed where the name says it (t, c, z, y, x)."""
    return [
        {"name": name, **({"type": AXIS_TYPES[name]} if name in AXIS_TYPES else {})}
        for name in names
    ]


def level_scales(shapes: list[list[int]]) -> list[list[float]]:
    """Each level's scale: level 0's shape over its own, axis by axis."""
    return [
        [first / size for first, size in zip(shapes[0], shape, strict=True)] for shape in shapes
    ]


def well_indices(
    path: str, rows: list[dict[str, Any]], columns: list[dict[str, Any]]
) -> tuple[int, int] | None:
    """A well's row and column indices from its path (``A/1``, or ``run/A/1``)."""
    parts = path.split("/")
    if len(parts) < 2:
        return None
    row_names = [str(r.get("name")) for r in rows if isinstance(r, dict)]
    column_names = [str(c.get("name")) for c in columns if isinstance(c, dict)]
    if parts[-2] not in row_names or parts[-1] not in column_names:
        return None
    return row_names.index(parts[-2]), column_names.index(parts[-1])
