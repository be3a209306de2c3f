"""A plate's wells read directly (documents and chunk files through the location, chunks decoded
by zarr-python's codecs without its event loop): the same data and the same picture as through
zarr-python, for sharded and unsharded levels and the codecs around them; what it does not
handle is left to zarr-python, failures included. Wells alike are coloured at once: each the
picture it is drawn alone."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import zarr
from zarr.codecs import (
    BloscCodec,
    BytesCodec,
    Crc32cCodec,
    GzipCodec,
    ShardingCodec,
    TransposeCodec,
    ZstdCodec,
)

from ngff_resave.report import thumbnails
from ngff_resave.report.thumbnails import (
    GREY_PERCENTILES,
    GRID_BACKGROUND,
    GRID_GAP,
    ImageView,
    grey_limits,
    render_dataset,
    render_image,
    render_plate,
)
from ngff_resave.storage import open_location

TCZYX = [
    {"name": "t", "type": "time"},
    {"name": "c", "type": "channel"},
    {"name": "z", "type": "space"},
    {"name": "y", "type": "space"},
    {"name": "x", "type": "space"},
]
CYX = [TCZYX[1], TCZYX[3], TCZYX[4]]
YX = TCZYX[3:]

# How each plate's lowest levels are stored: create_array's keywords by the level's axes.
CODECS: dict[str, Any] = {
    "sharded": lambda n: {"chunks": (1,) * (n - 2) + (8, 8), "shards": (1,) * (n - 2) + (16, 16)},
    "sharded, index first, blosc, several shards": lambda n: {
        "chunks": (1,) * (n - 2) + (32, 16),
        "serializer": ShardingCodec(
            chunk_shape=(1,) * (n - 2) + (8, 8),
            codecs=[BytesCodec(), BloscCodec()],
            index_location="start",
        ),
        "compressors": None,
    },
    "unsharded, zstd": lambda n: {"chunks": (1,) * (n - 2) + (8, 8), "compressors": ZstdCodec()},
    "unsharded, transposed, big-endian, gzip": lambda n: {
        "chunks": (1,) * (n - 2) + (8, 16),
        "filters": [TransposeCodec(order=(*range(n - 2), n - 1, n - 2))],
        "serializer": BytesCodec(endian="big"),
        "compressors": [GzipCodec()],
    },
    "unsharded, crc32c only, one chunk": lambda n: {
        "chunks": (1,) * (n - 2) + (128, 128),
        "compressors": [Crc32cCodec()],
    },
}


def _image(
    group: zarr.Group, axes: list[dict[str, str]], storage: dict[str, Any], seed: int, **kw: Any
) -> None:
    """A two-level image; its lowest level stored as ``storage`` says."""
    rng = np.random.default_rng(seed)
    sizes = {"t": 1, "c": 3, "z": 3}
    shape = tuple(sizes.get(axis["name"], 80) for axis in axes)
    dtype = kw.get("dtype", "uint16")
    group.create_array("0", data=rng.integers(0, 4000, shape).astype(dtype))
    low = shape[:-2] + (kw.get("side", 70), 50)
    level = group.create_array("1", shape=low, dtype=dtype, fill_value=kw.get("fill", 0), **storage)
    data = rng.integers(0, 4000, low).astype(dtype)
    if kw.get("partial"):
        # Only part written: the chunks (or inner chunks) elsewhere are absent, read as fill.
        level[..., :20, :20] = data[..., :20, :20]
    else:
        level[...] = data
    ome: dict[str, Any] = {
        "version": "0.5",
        "multiscales": [{"axes": axes, "datasets": [{"path": "0"}, {"path": "1"}]}],
    }
    if kw.get("omero"):
        ome["omero"] = {
            "channels": [
                {"color": "FF0000", "window": {"start": 0, "end": 4000}},
                {"color": "00FF00", "window": {"start": 100, "end": 3000}, "active": False},
                {"color": "0000FF", "window": {"start": 500, "end": 2500}},
            ]
        }
    group.attrs["ome"] = ome


def _plate(root: zarr.Group, storage: dict[str, Any] | Any, columns: int = 40) -> list[str]:
    """A plate of one row of ``columns`` (1,024 // 40: cells of 32 pixels, levels sampled every
    3rd pixel) with wells of every kind; the paths of its wells' first fields."""
    wells = {
        # column: (axes, options of its first field); None: a well without fields.
        1: (TCZYX, {}),
        2: (TCZYX, {"omero": True}),
        3: (CYX, {"dtype": "float32", "partial": True, "fill": 7}),
        4: (YX, {"dtype": "uint8", "side": 20}),
        5: None,
        6: (TCZYX, {"partial": True, "fill": 0, "side": 30}),
    }
    fields = []
    for column, kind in wells.items():
        well = root.require_group("A").create_group(str(column))
        images = [] if kind is None else [{"path": "0"}, {"path": "1"}]
        well.attrs["ome"] = {"version": "0.5", "well": {"images": images}}
        if kind is None:
            continue
        axes, options = kind
        make = storage if isinstance(storage, dict) else storage(len(axes))
        for image in images:
            _image(well.create_group(image["path"]), axes, make, seed=10 * column, **options)
        fields.append(f"A/{column}/0")
    root.attrs["ome"] = {
        "version": "0.5",
        "plate": {
            "rows": [{"name": "A"}],
            "columns": [{"name": str(c)} for c in range(1, columns + 1)],
            "wells": [
                {"path": f"A/{column}", "rowIndex": 0, "columnIndex": column - 1}
                for column in wells
            ],
        },
    }
    return fields


def _no_zarr_wells(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail when any well is left to zarr-python."""

    async def refuse(plate_group: zarr.Group, wells: list[dict[str, Any]], cell: int) -> list[Any]:
        raise AssertionError(f"left to zarr-python: {[well['path'] for well in wells]}")

    monkeypatch.setattr(thumbnails, "_read_wells", refuse)


@pytest.mark.parametrize("codecs", list(CODECS))
def test_direct_read_is_a_plain_zarr_read_of_each_wells_first_field(tmp_path, codecs):
    path = tmp_path / "plate.ome.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    fields = _plate(root, CODECS[codecs])
    wells = thumbnails.ome_of(root)["plate"]["wells"]
    read = thumbnails._read_wells_directly(open_location(str(path)), "", wells, 32)
    # Every well read directly: A/5 (no fields) as None, the others as zarr-python reads them.
    assert sorted(read) == list(range(len(wells)))
    assert read[4] is None
    for index, field in zip([0, 1, 2, 3, 5], fields, strict=True):
        found = read[index]
        assert isinstance(found, tuple)
        view, data = found
        group = zarr.open_group(str(path / field), mode="r")
        array = group["1"]
        assert isinstance(array, zarr.Array)
        expected = ImageView(thumbnails.ome_of(group), array.shape, 32, array.chunks)
        assert view.selection == expected.selection
        plain = np.asarray(array.oindex[expected.selection])
        assert data.dtype == plain.dtype and data.shape == plain.shape, field
        assert np.array_equal(data, plain, equal_nan=True), field


@pytest.mark.parametrize("codecs", list(CODECS))
def test_plate_thumbnail_read_directly_is_the_one_read_through_zarr_python(
    tmp_path, monkeypatch, codecs
):
    path = tmp_path / "plate.ome.zarr"
    _plate(zarr.open_group(str(path), mode="w", zarr_format=3), CODECS[codecs])
    group = zarr.open_group(str(path), mode="r", zarr_format=3)
    through_zarr = render_plate(group)
    assert "5 wells" in through_zarr.shows and "32 px cells" in through_zarr.shows
    _no_zarr_wells(monkeypatch)
    direct = render_dataset(open_location(str(path)))
    assert direct.shows == through_zarr.shows
    assert np.array_equal(direct.pixels, through_zarr.pixels)


def test_plate_of_a_bioformats2raw_layout_is_read_directly(tmp_path, monkeypatch):
    path = tmp_path / "layout.ome.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    root.attrs["ome"] = {"version": "0.5", "bioformats2raw.layout": 3}
    _plate(root.create_group("0"), CODECS["sharded"], columns=6)
    through_zarr = render_plate(zarr.open_group(str(path / "0"), mode="r", zarr_format=3))
    _no_zarr_wells(monkeypatch)
    direct = render_dataset(open_location(str(path)))
    assert direct.shows == through_zarr.shows
    assert np.array_equal(direct.pixels, through_zarr.pixels)


def test_what_the_direct_read_does_not_handle_is_read_through_zarr_python(tmp_path, monkeypatch):
    path = tmp_path / "plate.ome.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    _plate(root, CODECS["sharded"])
    # A/1's first field has labels, A/2's lowest level is too large to read whole.
    labels = root["A/1/0"].create_group("labels")  # type: ignore[union-attr]
    labels.attrs["ome"] = {"version": "0.5", "labels": []}
    monkeypatch.setattr(thumbnails, "DIRECT_ELEMENTS", 4096)
    group = zarr.open_group(str(path), mode="r", zarr_format=3)
    through_zarr = render_plate(group)
    left: list[str] = []
    read_wells = thumbnails._read_wells

    async def spy(plate_group: zarr.Group, wells: list[dict[str, Any]], cell: int) -> list[Any]:
        left.extend(well["path"] for well in wells)
        return await read_wells(plate_group, wells, cell)

    monkeypatch.setattr(thumbnails, "_read_wells", spy)
    direct = render_plate(group, open_location(str(path)))
    # A/1 (labels) and the wells whose 70 x 50 plane lies in 5 x 4 shards of 16 x 16 (more than
    # 4,096 elements) left; A/4's and A/6's planes are in 2 x 4.
    assert left == ["A/1", "A/2", "A/3"]
    assert direct.shows == through_zarr.shows
    assert np.array_equal(direct.pixels, through_zarr.pixels)


@pytest.mark.parametrize("damage", ["field document", "chunk checksum"])
def test_a_broken_well_fails_as_it_did_through_zarr_python(tmp_path, damage):
    path = tmp_path / "plate.ome.zarr"
    _plate(zarr.open_group(str(path), mode="w", zarr_format=3), CODECS["sharded"])
    if damage == "field document":
        (path / "A" / "2" / "0" / "zarr.json").unlink()
    else:
        # The shard of the first time point, channel and middle z, which the thumbnail reads.
        shard = path / "A" / "2" / "0" / "1" / "c" / "0" / "0" / "1" / "0" / "0"
        data = bytearray(shard.read_bytes())
        data[-1] ^= 0xFF  # the index's checksum
        shard.write_bytes(bytes(data))
    group = zarr.open_group(str(path), mode="r", zarr_format=3)
    wells = thumbnails.ome_of(group)["plate"]["wells"]
    read = thumbnails._read_wells_directly(open_location(str(path)), "", wells, 32)
    assert 1 not in read and 0 in read  # A/2 left to zarr-python, A/1 read
    with pytest.raises(Exception) as through_zarr:
        render_plate(group)
    with pytest.raises(Exception) as direct:
        render_plate(group, open_location(str(path)))
    assert type(direct.value) is type(through_zarr.value)
    assert str(direct.value) == str(through_zarr.value)


def test_png_is_the_same_picture(tmp_path):
    from io import BytesIO

    from PIL import Image

    path = tmp_path / "plate.ome.zarr"
    _plate(zarr.open_group(str(path), mode="w", zarr_format=3), CODECS["sharded"], columns=6)
    thumbnail = render_dataset(open_location(str(path)))
    with Image.open(BytesIO(thumbnail.png())) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), thumbnail.pixels)


# The kinds of wells of a plate of many alike: (axes, options of _image), None for no fields.
KINDS: list[tuple[list[dict[str, str]], dict[str, Any]] | None] = [
    (TCZYX, {}),
    (TCZYX, {"omero": True}),
    # Missing values (NaN) where the level is not written.
    (CYX, {"dtype": "float32", "partial": True, "fill": float("nan")}),
    (YX, {"dtype": "uint8", "side": 20}),
    None,
    (TCZYX, {"partial": True, "side": 30}),
    (CYX, {"dtype": "float32"}),
]


def _plate_of_alike_wells(root: zarr.Group, storage: Any, rows: int, columns: int) -> None:
    """Wells of each kind of KINDS (their data different), two fields of two levels each; the
    lowest level of one float well all missing values."""
    wells = []
    for row in range(rows):
        for column in range(columns):
            path = f"{chr(ord('A') + row)}/{column + 1}"
            wells.append({"path": path, "rowIndex": row, "columnIndex": column})
            kind = KINDS[(row + column) % len(KINDS)]
            images = [] if kind is None else [{"path": "0"}, {"path": "1"}]
            well = root.create_group(path)
            well.attrs["ome"] = {"version": "0.5", "well": {"images": images}}
            if kind is None:
                continue
            axes, options = kind
            for image in images:
                seed = 100 * row + column + 50 * int(image["path"])
                _image(well.create_group(image["path"]), axes, storage(len(axes)), seed, **options)
    missing = root[f"A/{len(KINDS)}/0/1"]
    assert isinstance(missing, zarr.Array)
    missing[...] = np.nan
    root.attrs["ome"] = {
        "version": "0.5",
        "plate": {
            "rows": [{"name": chr(ord("A") + row)} for row in range(rows)],
            "columns": [{"name": str(column + 1)} for column in range(columns)],
            "wells": wells,
        },
    }


@pytest.mark.parametrize("codecs", ["sharded", "unsharded, transposed, big-endian, gzip"])
def test_alike_wells_coloured_at_once_are_each_drawn_as_alone(tmp_path, monkeypatch, codecs):
    path = tmp_path / "plate.ome.zarr"
    rows, columns = 5, 8
    _plate_of_alike_wells(
        zarr.open_group(str(path), mode="w", zarr_format=3), CODECS[codecs], rows, columns
    )
    stacks: list[int] = []
    tiles = ImageView.tiles

    def spy(view: ImageView, reads: np.ndarray, side: int) -> np.ndarray:
        stacks.append(len(reads))
        return tiles(view, reads, side)

    monkeypatch.setattr(ImageView, "tiles", spy)
    _no_zarr_wells(monkeypatch)
    drawn = render_dataset(open_location(str(path)))
    # Every kind of well with fields, five or six of each, coloured together.
    assert sorted(stacks) == [5, 5, 6, 6, 6, 6]
    # The straightforward way: each well's first field drawn alone through zarr-python, in
    # its cell of the grid.
    cell = 1024 // columns
    expected = np.full_like(drawn.pixels, GRID_BACKGROUND)
    for row in range(rows):
        for column in range(columns):
            if KINDS[(row + column) % len(KINDS)] is None:
                continue
            field = zarr.open_group(str(path / chr(ord("A") + row) / str(column + 1) / "0"))
            tile = render_image(field, cell, cell).pixels
            top = GRID_GAP + row * (cell + GRID_GAP) + (cell - tile.shape[0]) // 2
            left = GRID_GAP + column * (cell + GRID_GAP) + (cell - tile.shape[1]) // 2
            expected[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
    assert drawn.shows == f"plate of 5 x 8: 34 wells, first field of each, {cell} px cells"
    assert np.array_equal(drawn.pixels, expected)


def test_grey_limits_are_each_planes_percentiles():
    rng = np.random.default_rng(3)
    integers = rng.integers(0, 4000, (6, 17, 23)).astype(np.float64)
    floats = rng.normal(0, 1e3, (6, 17, 23))
    floats[1, :5] = np.nan
    floats[4] = np.nan
    for planes in (integers, floats):
        low, high = grey_limits(planes)
        for index, plane in enumerate(planes):
            if np.isnan(plane).all():
                assert low[index] == high[index] == 0
            else:
                assert [low[index], high[index]] == list(np.nanpercentile(plane, GREY_PERCENTILES))
