"""A plate's thumbnail, its wells read at once through zarr-python's asynchronous API: the same
picture as each well's first field drawn on its own (labels too), wells without fields empty."""

from __future__ import annotations

import math

import numpy as np
import zarr

from ngff_resave.report.thumbnails import (
    GRID_BACKGROUND,
    GRID_GAP,
    render_dataset,
    render_image,
)
from ngff_resave.storage import open_location

AXES = [
    {"name": "c", "type": "channel"},
    {"name": "y", "type": "space"},
    {"name": "x", "type": "space"},
]


def _field(group: zarr.Group, seed: int, labelled: bool, omero: bool) -> None:
    rng = np.random.default_rng(seed)
    group.create_array("0", data=rng.integers(0, 4000, (2, 40, 30), dtype="uint16"))
    group.create_array("1", data=rng.integers(0, 4000, (2, 20, 15), dtype="uint16"))
    ome: dict = {
        "version": "0.5",
        "multiscales": [{"axes": AXES, "datasets": [{"path": "0"}, {"path": "1"}]}],
    }
    if omero:
        ome["omero"] = {
            "channels": [
                {"color": "FF0000", "window": {"start": 0, "end": 4000}},
                {"color": "00FF00", "window": {"start": 100, "end": 3000}},
            ]
        }
    group.attrs["ome"] = ome
    if labelled:
        labels = group.create_group("labels")
        labels.attrs["ome"] = {"version": "0.5", "labels": ["cells"]}
        cells = labels.create_group("cells")
        yx = [a for a in AXES if a["type"] == "space"]
        cells.create_array("0", data=(np.arange(40 * 30).reshape(40, 30) // 97).astype("uint8"))
        cells.attrs["ome"] = {
            "version": "0.5",
            "multiscales": [{"axes": yx, "datasets": [{"path": "0"}]}],
            "image-label": {},
        }


def test_plate_thumbnail_is_each_wells_first_field_as_drawn_alone(tmp_path):
    root = zarr.open_group(str(tmp_path / "plate.ome.zarr"), mode="w", zarr_format=3)
    wells = [("A", "1", 0, 0), ("A", "2", 0, 1), ("B", "1", 1, 0), ("B", "2", 1, 1)]
    for number, (row, column, _, _) in enumerate(wells):
        well = root.require_group(row).create_group(column)
        # B/2 has no field; A/2's first field has labels; B/1's has omero channels.
        images = [] if (row, column) == ("B", "2") else [{"path": "0"}, {"path": "1"}]
        well.attrs["ome"] = {"version": "0.5", "well": {"images": images}}
        for image in images:
            first = image["path"] == "0"
            _field(
                well.create_group(image["path"]),
                seed=10 * number + int(image["path"]),
                labelled=first and (row, column) == ("A", "2"),
                omero=(row, column) == ("B", "1"),
            )
    root.attrs["ome"] = {
        "version": "0.5",
        "plate": {
            "rows": [{"name": "A"}, {"name": "B"}],
            "columns": [{"name": "1"}, {"name": "2"}],
            "wells": [
                {"path": f"{r}/{c}", "rowIndex": ri, "columnIndex": ci} for r, c, ri, ci in wells
            ],
        },
    }
    thumbnail = render_dataset(open_location(str(tmp_path / "plate.ome.zarr")))
    assert "3 wells" in thumbnail.shows
    cell = 256  # 1024 // 2 rows or columns, at most 256
    for row, column, row_index, column_index in wells:
        top = GRID_GAP + row_index * (cell + GRID_GAP)
        left = GRID_GAP + column_index * (cell + GRID_GAP)
        drawn = thumbnail.pixels[top : top + cell, left : left + cell]
        if (row, column) == ("B", "2"):
            assert (drawn == GRID_BACKGROUND).all()
            continue
        field = zarr.open_group(str(tmp_path / "plate.ome.zarr" / row / column / "0"), mode="r")
        alone = render_image(field, cell, cell)
        if (row, column) == ("A", "2"):
            assert "labels cells" in alone.shows
        tile = alone.pixels
        shift_y, shift_x = (cell - tile.shape[0]) // 2, (cell - tile.shape[1]) // 2
        placed = drawn[shift_y : shift_y + tile.shape[0], shift_x : shift_x + tile.shape[1]]
        assert np.array_equal(placed, tile), f"{row}/{column}"


def test_a_huge_lowest_level_in_small_chunks_is_sampled_coarsely():
    from ngff_resave.report.thumbnails import SAMPLED_SIDE, ImageView

    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    ome = {"multiscales": [{"axes": axes, "datasets": [{"path": "0"}]}]}
    shape = (1_000_000, 1_000_000)
    # Each sample a chunk of its own: at most SAMPLED_SIDE^2 chunks are read.
    coarse = ImageView(ome, shape, 512, (4, 4))
    assert math.ceil(shape[0] / coarse.step) <= SAMPLED_SIDE
    # Chunks larger than the stride: several samples share a chunk, the full side is kept.
    fine = ImageView(ome, (4096, 4096), 512, (1024, 1024))
    assert fine.step == 8
