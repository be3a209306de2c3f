"""Thumbnails of converted datasets, read through zarr-python as any reader sees them.

An image is drawn from its lowest resolution level at the middle z (first time point):
channels coloured by the ``omero`` rendering settings when present, else the first channel in
greyscale with an automatic contrast; labels as a coloured overlay. A plate is a grid of its
wells (first field of each), and a bioformats2raw layout shows its first series. A plate's
thousands of small fields are read with zarr-python's own codecs but not its per-array
machinery (see :func:`_read_wells_directly`), and those alike coloured at once (see
:meth:`ImageView.tiles`): the same picture, in a fraction of the time."""

from __future__ import annotations

import asyncio
import colorsys
import itertools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from functools import partial
from typing import Any, cast

import numpy as np
import zarr
from zarr.abc.codec import Codec, SupportsSyncCodec
from zarr.api.asynchronous import open_group as open_group_async
from zarr.codecs.sharding import ShardingCodec, ShardingCodecIndexLocation
from zarr.core.array import AsyncArray
from zarr.core.array_spec import ArrayConfig, ArraySpec
from zarr.core.buffer import default_buffer_prototype
from zarr.core.chunk_grids import RegularChunkGrid
from zarr.core.codec_pipeline import codecs_from_list
from zarr.core.dtype import UInt64
from zarr.core.group import AsyncGroup
from zarr.core.metadata.v3 import ArrayV3Metadata
from zarr.core.sync import sync

from ngff_resave.ome.attributes import multiscale_axes
from ngff_resave.report.pictures import Thumbnail
from ngff_resave.storage import Location, decode_json, encode_line

LOG = logging.getLogger(__name__)

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
# Wells of a plate coloured at once.
PLATE_TILES = 512


def render_dataset(output: Location) -> Thumbnail:
    """The thumbnail of a converted dataset at ``output``."""
    root = zarr.open_group(output.zarr_store(read_only=True), mode="r", zarr_format=3)
    ome = ome_of(root)
    if "plate" in ome:
        return render_plate(root, output)
    if "multiscales" in ome:
        return render_image(root, MAX_SIDE)
    if "bioformats2raw.layout" in ome:
        series = zarr.open_group(root.store, path="0", mode="r", zarr_format=3)
        if "plate" in ome_of(series):
            return render_plate(series, output)
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
        pixels, colouring = self.colour_many(data[np.newaxis])
        levels = self.levels
        shows = (
            f"level {len(levels) - 1} of {len(levels)} ({levels[-1]['path']}), "
            f"z {self.z} of {axis_size(self.shape, self.roles, 'z')}, {colouring}"
        )
        return pixels[0], shows

    def colour_many(self, reads: np.ndarray) -> tuple[np.ndarray, str]:
        """The RGB pictures of planes read at ``selection``, stacked on a first axis, each as
        :meth:`colour` draws it alone; how they are coloured."""
        settings = [setting for _, setting in self.channels]
        return colour_channels(planes_of(reads, self.roles), settings)

    def finish(self, pixels: np.ndarray, shows: str, min_side: int) -> Thumbnail:
        """The picture sampled and enlarged as it says."""
        if self.step > 1:
            shows += f", every {self.step}th pixel"
        factor = enlargement(pixels.shape[:2], min_side)
        if factor > 1:
            pixels = pixels.repeat(factor, axis=0).repeat(factor, axis=1)
            shows += f", enlarged {factor}x"
        return Thumbnail(pixels, shows)

    def tiles(self, reads: np.ndarray, side: int) -> np.ndarray:
        """The pictures of planes read at ``selection``, stacked on a first axis, each as
        :meth:`finish` draws it alone at ``side``: a plate's wells alike, coloured at once."""
        pixels, _ = self.colour_many(reads)
        factor = enlargement(pixels.shape[1:3], side)
        if factor > 1:
            pixels = pixels.repeat(factor, axis=1).repeat(factor, axis=2)
        return pixels


def enlargement(size: tuple[int, ...], min_side: int) -> int:
    """The whole factor that brings a picture of ``size`` (height, width) to ``min_side``."""
    return max(1, min_side // max(size))


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


def plane_selection(roles: list[str], z: int, step: int, channels: list[int]) -> tuple[Any, ...]:
    """The channels, the middle z, the first time point and every ``step``-th y and x."""
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


def planes_of(reads: np.ndarray, roles: list[str]) -> np.ndarray:
    """The n x channels x y x x planes (float) of n reads of :func:`plane_selection` stacked
    on a first axis."""
    data = np.asarray(reads, dtype=np.float64)
    order = [1 + roles.index(r) for r in ("c", "y", "x") if r in roles]
    data = data.transpose([0, *order, *(i for i in range(1, data.ndim) if i not in order)])
    planes = data.reshape(data.shape[: 1 + len(order)])
    return planes if "c" in roles else planes[:, np.newaxis]


def colour_channels(planes: np.ndarray, settings: list[dict[str, Any]]) -> tuple[np.ndarray, str]:
    """RGB pictures (n x y x x x 3) of n stacks of planes (n x channels x y x x), each from the
    omero settings of its planes (colour, window), or its first plane in greyscale stretched
    between its low and high percentiles. Missing values (NaN) are black."""
    if settings:
        rgb = np.zeros((planes.shape[0], *planes.shape[2:], 3))
        for plane, setting in zip(np.moveaxis(planes, 1, 0), settings, strict=True):
            window = setting["window"]
            low, high = float(window["start"]), float(window["end"])
            scaled = np.nan_to_num(np.clip((plane - low) / max(high - low, 1e-12), 0.0, 1.0))
            rgb += scaled[..., np.newaxis] * hex_colour(setting.get("color", "FFFFFF"))
        return to_bytes(np.clip(rgb, 0.0, 1.0)), f"{len(settings)} channel(s) coloured by omero"
    first = planes[:, 0]
    lows, highs = (limits[:, np.newaxis, np.newaxis] for limits in grey_limits(first))
    scaled = np.nan_to_num(np.clip((first - lows) / np.maximum(highs - lows, 1e-12), 0.0, 1.0))
    return (
        np.repeat(to_bytes(scaled)[..., np.newaxis], 3, axis=-1),
        "channel 0 in greyscale, auto contrast",
    )


def grey_limits(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each plane's low and high percentiles, both 0 for a plane of missing values only. For
    planes without missing values (integer data's always) numpy's percentiles along an axis:
    one call for all, the same values as one call per plane."""
    flat = planes.reshape(len(planes), -1)
    missing = np.isnan(flat)
    if flat.size and not missing.any():
        low, high = np.percentile(flat, GREY_PERCENTILES, axis=1)
        return low, high
    limits = np.zeros((2, len(planes)))
    for index, (plane, gaps) in enumerate(zip(flat, missing, strict=True)):
        if not gaps.all():
            limits[:, index] = np.nanpercentile(plane, GREY_PERCENTILES)
    return limits[0], limits[1]


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


def render_plate(plate_group: zarr.Group, location: Location | None = None) -> Thumbnail:
    """The wells in their rows and columns, each the first field's thumbnail. With the
    ``location`` the plate's store is at, wells are read directly (see
    :func:`_read_wells_directly`); those it leaves, and every well without it, through
    zarr-python."""
    plate = ome_of(plate_group)["plate"]
    rows, columns = len(plate["rows"]), len(plate["columns"])
    cell = max(32, min(256, 1024 // max(rows, columns)))
    height = rows * cell + (rows + 1) * GRID_GAP
    width = columns * cell + (columns + 1) * GRID_GAP
    grid = np.full((height, width, 3), GRID_BACKGROUND, dtype=np.uint8)
    wells = plate["wells"]
    found: dict[int, WellRead] = {}
    if location is not None:
        found = _read_wells_directly(location, plate_group.path, wells, cell)
    remaining = [index for index in range(len(wells)) if index not in found]
    if remaining:
        # Every well left read at once through zarr-python's asynchronous API, in one call of
        # its event loop: through the synchronous one, a well is five calls, each waiting on
        # that loop's thread (and that on the file reads), thousands of waits for a large plate.
        reads = sync(_read_wells(plate_group, [wells[index] for index in remaining], cell))
        found.update(zip(remaining, reads, strict=True))
    tiles: dict[int, np.ndarray] = {}
    # Wells read through one view (the direct read's alike wells) coloured at once: the same
    # pixels as one by one, without a dozen numpy calls for each of thousands of wells.
    alike: dict[int, tuple[ImageView, list[int], list[np.ndarray]]] = {}
    for index, read in found.items():
        if isinstance(read, zarr.Group):
            # A field with labels: drawn as an image is, its labels over it.
            tiles[index] = render_image(read, cell, cell).pixels
        elif read is not None:
            view, data = read
            _, indices, planes = alike.setdefault(id(view), (view, [], []))
            indices.append(index)
            planes.append(data)
    for view, indices, planes in alike.values():
        # So many at once, so that a large plate's floating-point planes are not all held.
        for start in range(0, len(indices), PLATE_TILES):
            drawn = view.tiles(np.stack(planes[start : start + PLATE_TILES]), cell)
            tiles.update(zip(indices[start : start + PLATE_TILES], drawn, strict=True))
    shown = 0
    for index, well in enumerate(wells):
        tile = tiles.get(index)
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


# A well read directly decodes at most this many elements of its lowest level (whole chunks or
# shards); a larger one is read through zarr-python, which reads only the inner chunks it needs.
DIRECT_ELEMENTS = 1 << 20
# The shard index's mark of an absent inner chunk (offset and length).
ABSENT = 2**64 - 1
# What a field's direct read looks for: its own document, and whether it has labels.
FIELD_DOCUMENTS = ("zarr.json", "labels/zarr.json")


class _LeftToZarr(Exception):
    """What the direct read of a well does not handle: zarr-python reads that well."""


@dataclass
class _DirectWell:
    """A well read directly, as far as it got."""

    field: str
    ome: dict[str, Any] = dataclass_field(default_factory=dict)
    level: str = ""
    alike: _Alike | None = None
    keys: dict[tuple[int, ...], str] = dataclass_field(default_factory=dict)
    data: np.ndarray | None = None


def _read_wells_directly(
    location: Location, plate_path: str, wells: list[dict[str, Any]], cell: int
) -> dict[int, WellRead]:
    """What :func:`_read_wells` reads, by well index, for the wells read here: the same
    documents and chunk (or shard) files, each stage of every well at once through the
    location's ``read_many``, chunks decoded one by one by zarr-python's own codecs. Wells
    alike (see :class:`_Alike`) share one view and one plan of what to decode, each worked out
    once. (zarr-python parses every array's document again and reads through a dozen tasks of
    its event loop per array: for a plate of thousands of tiny fields, nearly all of the time.)

    Left to :func:`_read_wells`, and so read (or failing) as before: a well with anything out of
    the ordinary, such as a document missing, not Zarr v3 or with consolidated metadata, a
    field with labels, a codec that decodes only in the event loop, a lowest level of more than
    ``DIRECT_ELEMENTS`` to decode, any error."""
    prefix = f"{plate_path}/" if plate_path else ""
    done: dict[int, WellRead] = {}
    live: dict[int, _DirectWell] = {}
    documents = location.read_many([f"{prefix}{well['path']}/zarr.json" for well in wells])
    for index, (well, document) in enumerate(zip(wells, documents, strict=True)):
        try:
            images = _ome_attributes(_node(document, "group")["attributes"])["well"]["images"]
            if images:
                live[index] = _DirectWell(f"{prefix}{well['path']}/{images[0]['path']}")
            else:
                done[index] = None
        except Exception:  # noqa: BLE001, S112 - zarr-python reads it, as it always did
            continue
    paths = [f"{state.field}/{name}" for state in live.values() for name in FIELD_DOCUMENTS]
    fields = location.read_many(paths)
    _each(live, _open_field, fields[0::2], fields[1::2])
    paths = [f"{state.field}/{state.level}/zarr.json" for state in live.values()]
    alikes: dict[str, _Alike] = {}
    _each(live, partial(_plan_reads, alikes=alikes, cell=cell), location.read_many(paths))
    states = list(live.items())
    # In batches, so that the files of only so many wells are held at once.
    for start in range(0, len(states), PLATE_READS):
        batch = dict(states[start : start + PLATE_READS])
        paths = [path for state in batch.values() for path in state.keys.values()]
        chunks = dict(zip(paths, location.read_many(paths), strict=True))
        _each(batch, _read_level, [chunks] * len(batch))
        for index, state in batch.items():
            if state.alike is not None and state.data is not None:
                done[index] = (state.alike.view, state.data)
    return done


def _each(live: dict[int, _DirectWell], step: Callable[..., None], *values: list[Any]) -> None:
    """``step(state, *values of that well)`` for every well still read directly (``values``
    follow the order of ``live``); a well whose step raises is left to zarr-python."""
    for (index, state), *arguments in zip(list(live.items()), *values, strict=True):
        try:
            step(state, *arguments)
        except Exception:  # noqa: BLE001 - zarr-python reads it, as it always did
            LOG.debug("well %d: read through zarr-python", index, exc_info=True)
            del live[index]


def _node(document: bytes | None, kind: str) -> dict[str, Any]:
    """A Zarr v3 node's document of ``kind`` (``group`` or ``array``) as the direct read takes
    it, or :class:`_LeftToZarr`."""
    if document is None:
        raise _LeftToZarr("no document")
    node = decode_json(document)
    if not isinstance(node, dict) or node.get("zarr_format") != 3:
        raise _LeftToZarr("not a Zarr v3 document")
    if node.get("node_type") != kind or node.get("consolidated_metadata") is not None:
        raise _LeftToZarr(f"not a {kind} of its own")
    if not isinstance(node.setdefault("attributes", {}), dict):
        raise _LeftToZarr("attributes not an object")
    return node


def _open_field(state: _DirectWell, document: bytes | None, labels: bytes | None) -> None:
    if labels is not None:
        raise _LeftToZarr("a field with labels")
    state.ome = _ome_attributes(_node(document, "group")["attributes"])
    state.level = lowest_level(state.ome)


def _plan_reads(
    state: _DirectWell, document: bytes | None, alikes: dict[str, _Alike], cell: int
) -> None:
    """The well's :class:`_Alike` and the chunk files of its lowest level that it reads."""
    node = {key: value for key, value in _node(document, "array").items() if key != "attributes"}
    # All that the view and the reading depend on: a plate's thousands of wells are alike but
    # for their fields' names and their levels' attributes.
    settings = (state.ome.get("omero") or {}).get("channels") or []
    axes = multiscale_axes(state.ome["multiscales"][0])
    key = encode_line([node, axes, settings])
    if key not in alikes:
        alikes[key] = _Alike(ArrayV3Metadata.from_dict(node), state.ome, cell)
    alike = state.alike = alikes[key]
    level = f"{state.field}/{state.level}"
    state.keys = {coords: f"{level}/{chunk}" for coords, chunk in alike.keys.items()}


def _read_level(state: _DirectWell, chunks: dict[str, bytes | None]) -> None:
    alike = state.alike
    assert alike is not None

    def load(part: _Part) -> np.ndarray | None:
        data = chunks[state.keys[part.coords]]
        if data is None:
            return None
        if not data:
            raise _LeftToZarr("an empty chunk file")
        return alike.chunk.read(memoryview(data), part)

    state.data = alike.selection.gather(load)


class _Alike:
    """What the direct read of wells alike shares: lowest levels of one array document (but
    for its attributes), fields of the same axes and channel settings. How a chunk of the
    level is read, which chunks and what of them, and the view that draws the wells (its
    ``levels`` those of the first well: a plate's wells are drawn without what they show)."""

    def __init__(self, metadata: ArrayV3Metadata, ome: dict[str, Any], cell: int) -> None:
        if not isinstance(metadata.chunk_grid, RegularChunkGrid):
            raise _LeftToZarr("not a regular chunk grid")
        chunk_shape = metadata.chunk_grid.chunk_shape
        # Every chunk of a regular grid has the same spec (edge chunks are whole chunks).
        spec = metadata.get_chunk_spec(
            (0,) * len(metadata.shape), ArrayConfig.from_dict({}), default_buffer_prototype()
        )
        self.chunk = _ChunkReader(metadata.codecs, spec)
        self.view = ImageView(ome, metadata.shape, cell, metadata.chunks)
        wanted = _wanted_indices(self.view.selection, metadata.shape)
        touched = math.prod(len(chunks) for chunks in _chunk_indices(wanted, chunk_shape))
        if touched * math.prod(chunk_shape) > DIRECT_ELEMENTS:
            raise _LeftToZarr("a large lowest level")
        self.selection = _Selection(chunk_shape, wanted, self.chunk)
        self.keys = {
            part.coords: metadata.encode_chunk_key(part.coords) for part in self.selection.parts
        }


@dataclass
class _Part:
    """One chunk's share of a :class:`_Selection`."""

    coords: tuple[int, ...]
    # Where its values go in the selection's answer; None when they are the whole answer.
    target: tuple[np.ndarray, ...] | None
    # Its wanted values' indices in the chunk (numpy's open mesh of them); None for all of
    # them, in order.
    local: tuple[np.ndarray, ...] | None
    # For a shard, the shares of its inner chunks.
    inner: _Selection | None


class _Selection:
    """The ``wanted`` indices along each axis (an orthogonal selection) of an array (or shard)
    in chunks of ``chunk_shape``, each read by ``reader``: which chunks hold them, and what of
    each. Worked out once for all the arrays read alike."""

    def __init__(
        self, chunk_shape: tuple[int, ...], wanted: list[np.ndarray], reader: _ChunkReader
    ) -> None:
        self.shape = tuple(len(indices) for indices in wanted)
        self.dtype = reader.spec.dtype.to_native_dtype()
        self.fill_value = reader.spec.fill_value
        touched = list(itertools.product(*_chunk_indices(wanted, chunk_shape)))
        owners = [indices // size for indices, size in zip(wanted, chunk_shape, strict=True)]
        self.parts: list[_Part] = []
        for coords in touched:
            where = [
                np.flatnonzero(owner == chunk) for owner, chunk in zip(owners, coords, strict=True)
            ]
            local = [
                indices[positions] - chunk * size
                for indices, positions, chunk, size in zip(
                    wanted, where, coords, chunk_shape, strict=True
                )
            ]
            target = np.ix_(*where) if len(touched) > 1 else None
            whole = all(
                np.array_equal(indices, np.arange(size))
                for indices, size in zip(local, chunk_shape, strict=True)
            )
            inner = reader.inner_selection(local)
            self.parts.append(_Part(coords, target, None if whole else np.ix_(*local), inner))

    def gather(self, load: Callable[[_Part], np.ndarray | None]) -> np.ndarray:
        """The selected values; ``load(part)`` reads a chunk's share, None for an absent chunk
        (the fill value there)."""
        if len(self.parts) == 1:
            # All in one chunk: its share is the whole answer.
            values = load(self.parts[0])
            if values is None:
                return np.full(self.shape, self.fill_value, self.dtype)
            return np.asarray(values, dtype=self.dtype)
        out = np.empty(self.shape, dtype=self.dtype)
        for part in self.parts:
            values = load(part)
            out[part.target] = self.fill_value if values is None else values
        return out


class _ChunkReader:
    """Reads the wanted part of an encoded chunk (or shard, or a shard's inner chunk) of
    ``spec`` with ``codecs``, as zarr-python's codec pipeline does, without its event loop:
    with each codec's own synchronous decoding, and for a shard its index and only the inner
    chunks that hold wanted indices."""

    def __init__(self, codecs: tuple[Codec, ...], spec: ArraySpec) -> None:
        self.spec = spec
        self.shard: ShardingCodec | None = None
        self.stages: list[tuple[SupportsSyncCodec, ArraySpec]] = []
        if len(codecs) == 1 and isinstance(codecs[0], ShardingCodec):
            self.shard = codec = codecs[0]
            per_shard = tuple(s // c for s, c in zip(spec.shape, codec.chunk_shape, strict=True))
            index_spec = ArraySpec(
                shape=(*per_shard, 2),
                dtype=UInt64(endianness="little"),
                fill_value=ABSENT,
                config=ArrayConfig(order="C", write_empty_chunks=False),
                prototype=spec.prototype,
            )
            self.index = _ChunkReader(codec.index_codecs, index_spec)
            self.index_size = 16 * math.prod(per_shard)
            for index_codec in codec.index_codecs:
                self.index_size = index_codec.compute_encoded_size(self.index_size, index_spec)
                index_spec = index_codec.resolve_metadata(index_spec)
            self.inner = _ChunkReader(codec.codecs, replace(spec, shape=codec.chunk_shape))
            return
        array_codecs, bytes_codec, bytes_codecs = codecs_from_list(codecs)
        for stage in (*array_codecs, bytes_codec, *bytes_codecs):
            if not isinstance(stage, SupportsSyncCodec) or isinstance(stage, ShardingCodec):
                raise _LeftToZarr(f"codec {stage}: no synchronous decoding")
            self.stages.append((stage, spec))
            spec = cast(Codec, stage).resolve_metadata(spec)

    def inner_selection(self, wanted: list[np.ndarray]) -> _Selection | None:
        """For a shard, what its inner chunks hold of the ``wanted`` indices; else None."""
        if self.shard is None:
            return None
        return _Selection(self.shard.chunk_shape, wanted, self.inner)

    def read(self, data: memoryview, part: _Part) -> np.ndarray:
        """The ``part`` wanted of one encoded chunk."""
        if part.inner is None:
            chunk = self.decode(data)
            # All of the chunk: copied (indexing takes several times as long), not kept as it
            # is: it may be a view of the file read (a whole shard), which the well would hold.
            return chunk.copy() if part.local is None else chunk[part.local]
        size = self.index_size
        if size > len(data):
            raise _LeftToZarr("a shard shorter than its index")
        shard = cast(ShardingCodec, self.shard)
        at_start = shard.index_location == ShardingCodecIndexLocation.start
        index = self.index.decode(data[:size] if at_start else data[len(data) - size :])

        def load(inner: _Part) -> np.ndarray | None:
            offset, length = (int(value) for value in index[inner.coords])
            if offset == ABSENT and length == ABSENT:
                return None
            return self.inner.read(data[offset : offset + length], inner)

        return part.inner.gather(load)

    def decode(self, data: memoryview) -> np.ndarray:
        """One whole chunk (no shard) decoded."""
        decoded: Any = self.spec.prototype.buffer.from_bytes(data)
        for codec, spec in reversed(self.stages):
            decoded = codec._decode_sync(decoded, spec)
        return cast(np.ndarray, decoded.as_numpy_array())


def _wanted_indices(selection: tuple[Any, ...], shape: tuple[int, ...]) -> list[np.ndarray]:
    """The indices along each axis that the orthogonal ``selection`` (of :func:`plane_selection`:
    slices and lists of indices) picks from an array of ``shape``."""
    wanted = []
    for selector, size in zip(selection, shape, strict=True):
        if isinstance(selector, slice):
            indices = np.arange(*selector.indices(size))
        else:
            indices = np.asarray(selector, dtype=np.intp)
            if ((indices < 0) | (indices >= size)).any():
                raise _LeftToZarr("an index out of bounds")
        if not len(indices):
            raise _LeftToZarr("nothing selected")
        wanted.append(indices)
    return wanted


def _chunk_indices(wanted: list[np.ndarray], chunk_shape: tuple[int, ...]) -> list[list[int]]:
    """Along each axis, the chunks that hold a wanted index, in order."""
    return [
        sorted(set((indices // size).tolist()))
        for indices, size in zip(wanted, chunk_shape, strict=True)
    ]


def _ome_attributes(attributes: Any) -> dict[str, Any]:
    return cast(dict[str, Any], dict(attributes).get("ome", {}))


def _join(group: zarr.Group, path: str) -> str:
    return f"{group.path}/{path}" if group.path else path
