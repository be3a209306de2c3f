"""Thumbnails of converted datasets, read through zarr-python as any reader sees them.

An image is drawn from its lowest resolution level at the middle z (first time point):
channels coloured by the ``omero`` rendering settings when present, else the first channel in
greyscale with an automatic contrast; labels as a coloured overlay. A plate is a grid of its
wells (first field of each), and a bioformats2raw layout shows its first series."""

from __future__ import annotations

import asyncio
import colorsys
import io
import logging
import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import zarr
from zarr.api.asynchronous import open_group as open_group_async
from zarr.core.array import AsyncArray
from zarr.core.group import AsyncGroup
from zarr.core.sync import sync

from ngff_resave.ome.attributes import multiscale_axes
from ngff_resave.storage import Location

LOG = logging.getLogger(__name__)

THUMBNAIL_FILE = "thumbnail.png"
MAX_SIDE = 512
# Small lowest levels are enlarged by a whole factor (each pixel repeated) up to this side.
MIN_SIDE = 256
# The side of a thumbnail whose every pixel is read from a chunk of its own.
SAMPLED_SIDE = 64
LABEL_ALPHA = 0.5
GREY_PERCENTILES = (0.5, 99.5)
GRID_GAP = 2
GRID_BACKGROUND = 40
# Wells of a plate read at once (reads waiting on storage, not cores).
PLATE_READS = 64


@dataclass
class Thumbnail:
    """An RGB picture (height x width x 3, uint8) and what it shows."""

    pixels: np.ndarray
    shows: str

    def png(self) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        # Not optimize=True: five times the time for 1-2% smaller files, on every dataset.
        Image.fromarray(self.pixels, mode="RGB").save(buffer, format="PNG")
        return buffer.getvalue()


def render_dataset(output: Location) -> Thumbnail:
    """The thumbnail of a converted dataset at ``output``."""
    root = zarr.open_group(output.zarr_store(read_only=True), mode="r", zarr_format=3)
    ome = ome_of(root)
    if "plate" in ome:
        return render_plate(root)
    if "multiscales" in ome:
        return render_image(root, MAX_SIDE)
    if "bioformats2raw.layout" in ome:
        series = zarr.open_group(root.store, path="0", mode="r", zarr_format=3)
        if "plate" in ome_of(series):
            return render_plate(series)
        image = render_image(series, MAX_SIDE)
        return Thumbnail(image.pixels, f"series 0: {image.shows}")
    raise ValueError(f"{output.url}: no image, plate or bioformats2raw layout at the root")


def render_image(group: zarr.Group, max_side: int, min_side: int = MIN_SIDE) -> Thumbnail:
    """One multiscale image, labels over it, its longer side at most ``max_side`` pixels and,
    by whole factors, at least ``min_side`` where it is small."""
    ome = ome_of(group)
    array = level_array(group, lowest_level(ome))
    view = ImageView(ome, array.shape, max_side, array.chunks)
    pixels, shows = view.colour(np.asarray(array.oindex[view.selection]))
    overlaid = overlay_labels(group, pixels, array.shape, view.roles, view.z)
    if overlaid:
        shows += f", labels {', '.join(overlaid)}"
    return view.finish(pixels, shows, min_side)


def lowest_level(ome: dict[str, Any]) -> str:
    """The path of the lowest resolution level of an image's first multiscale."""
    return str(ome["multiscales"][0]["datasets"][-1]["path"])


class ImageView:
    """What an image's thumbnail shows of its lowest level (of ``shape``): which plane is read
    (``selection``), how it is coloured and what the picture says."""

    def __init__(
        self,
        ome: dict[str, Any],
        shape: tuple[int, ...],
        max_side: int,
        chunks: tuple[int, ...] | None = None,
    ) -> None:
        multiscale = ome["multiscales"][0]
        self.roles = axis_roles(multiscale_axes(multiscale))
        self.levels = multiscale["datasets"]
        self.shape = shape
        self.step = plane_step(shape, self.roles, max_side)
        if chunks is not None and self.step > min(
            axis_size(chunks, self.roles, "y"), axis_size(chunks, self.roles, "x")
        ):
            # Every sample would be a chunk of its own (a huge lowest level in small chunks,
            # such as a sparse single-level label): fewer samples, so that a thumbnail costs
            # at most SAMPLED_SIDE^2 chunk reads, not max_side^2.
            self.step = plane_step(shape, self.roles, min(max_side, SAMPLED_SIDE))
        self.z = middle(shape, self.roles, "z")
        settings = (ome.get("omero") or {}).get("channels") or []
        self.channels = shown_channels(settings, axis_size(shape, self.roles, "c"))
        self.selection = plane_selection(
            self.roles, self.z, self.step, [index for index, _ in self.channels] or [0]
        )

    def colour(self, data: np.ndarray) -> tuple[np.ndarray, str]:
        """The RGB picture of the plane read at ``selection``, and what it shows."""
        planes = plane_of(data, self.roles)
        pixels, colouring = colour_channels(planes, [setting for _, setting in self.channels])
        levels = self.levels
        shows = (
            f"level {len(levels) - 1} of {len(levels)} ({levels[-1]['path']}), "
            f"z {self.z} of {axis_size(self.shape, self.roles, 'z')}, {colouring}"
        )
        return pixels, shows

    def finish(self, pixels: np.ndarray, shows: str, min_side: int) -> Thumbnail:
        """The picture sampled and enlarged as it says."""
        if self.step > 1:
            shows += f", every {self.step}th pixel"
        factor = max(1, min_side // max(pixels.shape[:2]))
        if factor > 1:
            pixels = pixels.repeat(factor, axis=0).repeat(factor, axis=1)
            shows += f", enlarged {factor}x"
        return Thumbnail(pixels, shows)


def axis_roles(axes: list[dict[str, Any]]) -> list[str]:
    """Each axis as ``t``, ``c``, ``z``, ``y``, ``x`` (or ``other``), by its type: the last two
    space axes are y and x, a third one before them z, whatever the axes are named."""
    roles = []
    for axis in axes:
        kind = str(axis.get("type", "")).lower()
        roles.append({"time": "t", "channel": "c", "space": "space"}.get(kind, "other"))
    spaces = [i for i, role in enumerate(roles) if role == "space"]
    for role, index in zip(("x", "y", "z"), reversed(spaces), strict=False):
        roles[index] = role
    return ["other" if role == "space" else role for role in roles]


def shown_channels(settings: list[dict[str, Any]], count: int) -> list[tuple[int, dict[str, Any]]]:
    """The channels drawn in colour: the omero settings' active ones with a window, when the
    settings describe every channel; none (so channel 0 in greyscale) otherwise."""
    if len(settings) != count:
        return []
    return [
        (index, setting)
        for index, setting in enumerate(settings)
        if setting.get("active", True) and "window" in setting
    ]


def level_array(group: zarr.Group, path: str) -> zarr.Array:
    array = group[path]
    if not isinstance(array, zarr.Array):
        raise ValueError(f"{group.path}/{path}: a group where a resolution level should be")
    return array


def ome_of(group: zarr.Group) -> dict[str, Any]:
    """The group's ``ome`` attributes, as plain JSON data."""
    return cast(dict[str, Any], group.attrs.asdict().get("ome", {}))


def axis_size(shape: tuple[int, ...], roles: list[str], role: str) -> int:
    return shape[roles.index(role)] if role in roles else 1


def middle(shape: tuple[int, ...], roles: list[str], role: str) -> int:
    return axis_size(shape, roles, role) // 2


def plane_step(shape: tuple[int, ...], roles: list[str], max_side: int) -> int:
    """The stride that brings the y/x plane within ``max_side`` pixels (a huge lowest level is
    sampled: its chunks are read one at a time, never held whole)."""
    side = max(axis_size(shape, roles, "y"), axis_size(shape, roles, "x"))
    return max(1, math.ceil(side / max_side))


def read_plane(
    array: zarr.Array, roles: list[str], z: int, step: int, channels: list[int]
) -> np.ndarray:
    """The given channels x y x x at ``z`` and the first time point, every ``step``-th pixel;
    only those channels are read."""
    return plane_of(np.asarray(array.oindex[plane_selection(roles, z, step, channels)]), roles)


def plane_selection(roles: list[str], z: int, step: int, channels: list[int]) -> tuple[Any, ...]:
    """The orthogonal selection of :func:`read_plane`."""
    selection: list[Any] = []
    for role in roles:
        if role in ("y", "x"):
            selection.append(slice(None, None, step))
        elif role == "c":
            selection.append(channels)
        elif role == "z":
            selection.append([z])
        else:
            selection.append([0])
    return tuple(selection)


def plane_of(read: np.ndarray, roles: list[str]) -> np.ndarray:
    """The channels x y x x planes (float) of what :func:`plane_selection` read."""
    data = np.asarray(read, dtype=np.float64)
    order = [roles.index(r) for r in ("c", "y", "x") if r in roles]
    data = data.transpose(order + [i for i in range(data.ndim) if i not in order])
    planes = data.reshape(data.shape[: len(order)])
    return planes if "c" in roles else planes[np.newaxis]


def colour_channels(planes: np.ndarray, settings: list[dict[str, Any]]) -> tuple[np.ndarray, str]:
    """RGB from the omero settings of each plane (colour, window), or the one plane in
    greyscale stretched between its low and high percentiles. Missing values (NaN) are black."""
    if settings:
        rgb = np.zeros(planes.shape[1:] + (3,))
        for plane, setting in zip(planes, settings, strict=True):
            window = setting["window"]
            low, high = float(window["start"]), float(window["end"])
            scaled = np.nan_to_num(np.clip((plane - low) / max(high - low, 1e-12), 0.0, 1.0))
            rgb += scaled[..., np.newaxis] * hex_colour(setting.get("color", "FFFFFF"))
        return to_bytes(np.clip(rgb, 0.0, 1.0)), f"{len(settings)} channel(s) coloured by omero"
    plane = planes[0]
    if np.isnan(plane).all():
        low = high = 0.0
    else:
        low, high = np.nanpercentile(plane, GREY_PERCENTILES)
    scaled = np.nan_to_num(np.clip((plane - low) / max(high - low, 1e-12), 0.0, 1.0))
    return (
        to_bytes(np.repeat(scaled[..., np.newaxis], 3, axis=2)),
        "channel 0 in greyscale, auto contrast",
    )


def hex_colour(text: str) -> np.ndarray:
    value = text.lstrip("#")[:6].ljust(6, "F")
    return np.array([int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)])


def to_bytes(unit: np.ndarray) -> np.ndarray:
    return np.round(unit * 255).astype(np.uint8)


def overlay_labels(
    image: zarr.Group, pixels: np.ndarray, image_shape: tuple[int, ...], roles: list[str], z: int
) -> list[str]:
    """Paint every label image listed under ``labels`` over ``pixels``; their names."""
    try:
        labels = zarr.open_group(image.store, path=_join(image, "labels"), mode="r", zarr_format=3)
    except (FileNotFoundError, KeyError, zarr.errors.GroupNotFoundError):
        return []
    names = ome_of(labels).get("labels", [])
    for name in names:
        group = zarr.open_group(image.store, path=_join(labels, name), mode="r", zarr_format=3)
        values = label_plane(group, image_shape, roles, z, pixels.shape[:2])
        colours = label_colours(ome_of(group).get("image-label", {}))
        found, inverse = np.unique(values, return_inverse=True)
        # One colour per label value, looked up for every pixel at once.
        table = np.array([colours.get(int(v), generated_colour(int(v))) for v in found])
        painted = (values != 0).reshape(-1)
        flat = pixels.reshape(-1, 3)
        flat[painted] = np.round(
            (1 - LABEL_ALPHA) * flat[painted]
            + LABEL_ALPHA * 255 * table[inverse.reshape(-1)][painted]
        ).astype(np.uint8)
    return [str(n) for n in names]


def label_plane(
    group: zarr.Group,
    image_shape: tuple[int, ...],
    roles: list[str],
    z: int,
    size: tuple[int, ...],
) -> np.ndarray:
    """The label values under each thumbnail pixel (nearest neighbour), from the label's
    smallest level that is not smaller than the image's lowest level."""
    multiscale = ome_of(group)["multiscales"][0]
    label_roles = axis_roles(multiscale_axes(multiscale))
    wanted = axis_size(image_shape, roles, "y"), axis_size(image_shape, roles, "x")
    levels = [level_array(group, level["path"]) for level in multiscale["datasets"]]
    big_enough = [
        array
        for array in levels
        if axis_size(array.shape, label_roles, "y") >= wanted[0]
        and axis_size(array.shape, label_roles, "x") >= wanted[1]
    ]
    chosen = big_enough[-1] if big_enough else levels[0]
    shape = chosen.shape
    label_z = min(
        z * axis_size(shape, label_roles, "z") // max(axis_size(image_shape, roles, "z"), 1),
        axis_size(shape, label_roles, "z") - 1,
    )
    selection: list[Any] = []
    for role in label_roles:
        if role == "y":
            selection.append(nearest(axis_size(shape, label_roles, "y"), size[0]))
        elif role == "x":
            selection.append(nearest(axis_size(shape, label_roles, "x"), size[1]))
        elif role == "z":
            selection.append([label_z])
        else:
            selection.append([0])
    values = np.asarray(chosen.oindex[tuple(selection)])
    return values.reshape(size)


def nearest(source: int, target: int) -> np.ndarray:
    """Indices into ``source`` samples for ``target`` evenly spaced pixels."""
    return np.minimum(((np.arange(target) + 0.5) * source / target).astype(int), source - 1)


def label_colours(image_label: dict[str, Any]) -> dict[int, np.ndarray]:
    colours = {}
    for entry in image_label.get("colors", []):
        if "label-value" in entry and "rgba" in entry:
            colours[int(entry["label-value"])] = np.array(entry["rgba"][:3]) / 255
    return colours


def generated_colour(value: int) -> np.ndarray:
    """A bright colour per label value; neighbours' values get far-apart hues."""
    hue = (value * 0.618033988749895) % 1.0
    return np.array(colorsys.hsv_to_rgb(hue, 0.85, 1.0))


def render_plate(plate_group: zarr.Group) -> Thumbnail:
    """The wells in their rows and columns, each the first field's thumbnail."""
    plate = ome_of(plate_group)["plate"]
    rows, columns = len(plate["rows"]), len(plate["columns"])
    cell = max(32, min(256, 1024 // max(rows, columns)))
    height = rows * cell + (rows + 1) * GRID_GAP
    width = columns * cell + (columns + 1) * GRID_GAP
    grid = np.full((height, width, 3), GRID_BACKGROUND, dtype=np.uint8)
    # Every well read at once through zarr-python's asynchronous API, in one call of its event
    # loop: through the synchronous one, a well is five calls, each waiting on that loop's
    # thread (and that on the file reads), thousands of waits for a large plate.
    found = sync(_read_wells(plate_group, plate["wells"], cell))
    tiles: list[np.ndarray | None] = []
    for read in found:
        if isinstance(read, zarr.Group):
            # A field with labels: drawn as an image is, its labels over it.
            tiles.append(render_image(read, cell, cell).pixels)
        elif read is not None:
            view, data = read
            tiles.append(view.finish(*view.colour(data), cell).pixels)
        else:
            tiles.append(None)
    shown = 0
    for well, tile in zip(plate["wells"], tiles, strict=True):
        if tile is None:
            continue
        top = GRID_GAP + well["rowIndex"] * (cell + GRID_GAP) + (cell - tile.shape[0]) // 2
        left = GRID_GAP + well["columnIndex"] * (cell + GRID_GAP) + (cell - tile.shape[1]) // 2
        grid[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
        shown += 1
    return Thumbnail(
        grid, f"plate of {rows} x {columns}: {shown} wells, first field of each, {cell} px cells"
    )


WellRead = tuple[ImageView, np.ndarray] | zarr.Group | None


async def _read_wells(
    plate_group: zarr.Group, wells: list[dict[str, Any]], cell: int
) -> list[WellRead]:
    """For each well, its first field's lowest level as :func:`render_image` reads it (or the
    field, when it has labels); None for a well without fields."""
    limit = asyncio.Semaphore(PLATE_READS)
    store = plate_group.store

    async def open_group(path: str) -> AsyncGroup:
        return await open_group_async(store=store, path=path, mode="r", zarr_format=3)

    async def read(well: dict[str, Any]) -> WellRead:
        async with limit:
            well_group = await open_group(_join(plate_group, well["path"]))
            images = _ome_attributes(well_group.attrs)["well"]["images"]
            if not images:
                return None
            path = f"{well_group.path}/{images[0]['path']}"
            field = await open_group(path)
            try:
                await open_group(f"{path}/labels")
            except (FileNotFoundError, KeyError, zarr.errors.GroupNotFoundError):
                pass
            else:
                return zarr.Group(field)
            ome = _ome_attributes(field.attrs)
            array = await field.getitem(lowest_level(ome))
            if not isinstance(array, AsyncArray):
                raise ValueError(f"{path}/{lowest_level(ome)}: a group where a level should be")
            view = ImageView(ome, array.shape, cell, array.chunks)
            data = await array.get_orthogonal_selection(view.selection)
            return view, np.asarray(data)

    return await asyncio.gather(*(read(well) for well in wells))


def _ome_attributes(attributes: Any) -> dict[str, Any]:
    return cast(dict[str, Any], dict(attributes).get("ome", {}))


def _join(group: zarr.Group, path: str) -> str:
    return f"{group.path}/{path}" if group.path else path


def placeholder(text: str, size: tuple[int, int] = (160, 320)) -> Thumbnail:
    """A grey card with ``text``: what stands in for a dataset that has no picture."""
    from PIL import Image, ImageDraw

    card = Image.new("RGB", (size[1], size[0]), (90, 90, 90))
    draw = ImageDraw.Draw(card)
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > 48 and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    draw.multiline_text((8, 8), "\n".join(lines[:9]), fill=(255, 255, 255))
    return Thumbnail(np.asarray(card), text)
