"""Small OME-Zarr 0.4 (Zarr v2) inputs that 0.4 readers accept but OME-Zarr 0.5 forbids, or
that hold content which is not an image.

Each function writes one dataset under the directory it is given and returns that dataset's
root. Pixels, labels and HCS metadata are written by ome-zarr-py 0.18 (``fmt=FormatV04()``),
the tool that makes such inputs in the wild; zarr-python (``zarr_format=2``), numcodecs or
direct ``.zattrs`` / ``.zarray`` edits are used only where no writer produces the defect.
Every array is tiny and its content deterministic (``numpy.random.default_rng(seed)``).
"""

from __future__ import annotations

import importlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numcodecs
import numpy as np
import zarr
from zarr.dtype import VariableLengthBytes, VariableLengthUTF8

# ome_zarr is imported inside the functions: it is a test extra, and a test module should be
# able to import this one (and importorskip("ome_zarr")) without it.

IMAGE_SHAPE = (1, 2, 1, 64, 64)  # t, c, z, y, x
LABEL_SHAPE = (1, 1, 1, 64, 64)
LABEL_NAME = "cells"
TABLE_NAME = "regions"

# zarr-python 2's default compressor, hence what AnnData (through zarr 2) wrote for tables.
_ANNDATA_COMPRESSOR = numcodecs.Blosc(
    cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE, blocksize=0
)


# ---- shared pieces -----------------------------------------------------------------------


def _pixels(
    seed: int,
    shape: tuple[int, ...] = IMAGE_SHAPE,
    dtype: type[np.integer[Any]] = np.uint16,
    high: int = 4096,
) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, shape, dtype=dtype)


def _label_image(seed: int) -> np.ndarray:
    """Blocky labels (8x8 px objects, ids 0-4) so that every pyramid level keeps some."""
    blocks = np.random.default_rng(seed).integers(0, 5, (8, 8), dtype=np.uint8)
    return np.kron(blocks, np.ones((8, 8), dtype=np.uint8)).reshape(LABEL_SHAPE)


def _new_group(path: Path) -> zarr.Group:
    return zarr.open_group(str(path), mode="w", zarr_format=2)


def _scale_factors(levels: int) -> tuple[int, ...]:
    return tuple(2**i for i in range(1, levels))


def _writer() -> ModuleType:
    """ome_zarr.writer, imported quietly: its default ``Scaler(order=0)`` argument is built,
    and warns that Scaler is deprecated, when the module is first imported."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module("ome_zarr.writer")


def _v04() -> Any:
    """The format every writer call is pinned to: OME-Zarr 0.4 on Zarr v2."""
    from ome_zarr.format import FormatV04

    return FormatV04()


def _write_image(
    group: zarr.Group, data: np.ndarray, levels: int, axes: str = "tczyx", **metadata: Any
) -> None:
    """An image by ome-zarr-py, ``levels`` levels halving y and x (s0, s1, ...)."""
    _writer().write_image(
        data, group, scale_factors=_scale_factors(levels), fmt=_v04(), axes=axes, **metadata
    )


def _write_label(group: zarr.Group, data: np.ndarray, levels: int) -> None:
    """``labels/cells`` by ome-zarr-py with an explicit level count.

    ``scaler=None`` is needed: with write_labels' default ``scaler=Scaler(order=0)`` the
    ``scale_factors`` argument is ignored and 5 levels are written whatever it says.
    """
    _writer().write_labels(
        data,
        group,
        name=LABEL_NAME,
        scaler=None,
        scale_factors=_scale_factors(levels),
        fmt=_v04(),
        axes="tczyx",
    )


def _level_count(path: Path) -> int:
    multiscales: Any = zarr.open_group(str(path), mode="r").attrs["multiscales"]
    return len(multiscales[0]["datasets"])


def _edit_json(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite one metadata file in place, as a hand edit (or another tool) would."""
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document, indent=2))


# ---- 1, 2: label pyramids that do not match the image's ---------------------------------


def label_with_more_levels(root: Path) -> Path:
    """An image with 3 levels whose label ``labels/cells`` has 5 (written by ome-zarr-py 0.18).

    This is what ``write_labels`` does with its defaults when the image was written with
    fewer levels: its default ``scaler=Scaler(order=0)`` (``max_layer=4``) overrides
    ``scale_factors`` and always gives levels s0-s4. The label's s3 and s4 have no image
    level at the same scale. Image (uint16, 1x2x1x64x64) and label (uint8, 1x1x1x64x64).
    """
    path = root / "label-more-levels.ome.zarr"
    group = _new_group(path)
    _write_image(group, _pixels(seed=1), levels=3)
    with warnings.catch_warnings():
        # The default Scaler is deprecated and warns on every call; the default is the point.
        warnings.simplefilter("ignore", DeprecationWarning)
        _writer().write_labels(
            _label_image(seed=2), group, name=LABEL_NAME, fmt=_v04(), axes="tczyx"
        )
    found = (_level_count(path), _level_count(path / "labels" / LABEL_NAME))
    if found != (3, 5):  # a later ome-zarr-py could change its default
        raise RuntimeError(f"expected 3 image and 5 label levels, ome-zarr-py wrote {found}")
    return path


def label_with_fewer_levels(root: Path) -> Path:
    """An image with 4 levels whose label ``labels/cells`` has 2 (written by ome-zarr-py 0.18).

    The label's s0 and s1 are at the image's s0 and s1 scales (1 and 2 in y, x); the image's
    s2 and s3 have no label level.
    """
    path = root / "label-fewer-levels.ome.zarr"
    group = _new_group(path)
    _write_image(group, _pixels(seed=3), levels=4)
    _write_label(group, _label_image(seed=4), levels=2)
    return path


# ---- 3: HCS acquisitions -----------------------------------------------------------------


def plate_with_unlisted_acquisitions(root: Path) -> Path:
    """A 1 x 2 plate whose wells reference an acquisition the plate does not list.

    Written by ome-zarr-py 0.18 (write_plate_metadata, write_well_metadata, write_image),
    which checks neither: the plate lists ``acquisitions: [{"id": 0, ...}]``, well A/1's field
    0 says ``acquisition: 0`` and well A/2's field 0 says ``acquisition: 1``. Each field is a
    2-level uint16 1x2x1x64x64 image. ome-zarr-models rejects it for 0.5 (and for 0.4 too).
    """
    writer = _writer()
    path = root / "plate-unlisted-acquisition.ome.zarr"
    plate = _new_group(path)
    wells = {"A/1": 0, "A/2": 1}  # well -> acquisition id of its one field
    writer.write_plate_metadata(
        plate,
        ["A"],
        ["1", "2"],
        list(wells),
        fmt=_v04(),
        acquisitions=[{"id": 0, "name": "first pass", "maximumfieldcount": 1}],
        field_count=1,
        name="unlisted-acquisition",
    )
    for seed, (well_path, acquisition) in enumerate(wells.items(), start=5):
        well = plate.require_group(well_path)
        writer.write_well_metadata(well, [{"path": "0", "acquisition": acquisition}], fmt=_v04())
        _write_image(well.require_group("0"), _pixels(seed), levels=2)
    return path


# ---- 4: metadata that 0.4 readers tolerate -----------------------------------------------


def image_with_loose_metadata(
    root: Path, *, untyped_axes: tuple[str, ...] = ("c", "y", "x")
) -> Path:
    """A c,y,x image (uint8 2x64x64, 2 levels) by ome-zarr-py 0.18, then ``.zattrs`` edited.

    ome-zarr-py writes complete metadata (it requires every omero channel to have a color and
    a full window), so the loose forms are hand edits of the root ``.zattrs``:

    - ``multiscales[0].axes``: the axes named in ``untyped_axes`` lose their ``type`` and are
      ``{"name": ...}`` only (default: all three). ome-zarr-py's Reader accepts at most one
      axis without a known type ("Too many unknown axes types"), so pass ``("c",)`` for a
      variant that reader opens.
    - ``omero.channels[0]`` (DAPI) has no ``window`` at all.
    - ``omero.channels[1]`` (GFP) has ``window: {"start": 10.0, "end": 250.0}``, no min/max.
    - ``multiscales[0].datasets[0]`` (s0): its ``scale`` values are strings
      ``["1.0", "1.0", "1.0"]``; its translation and level s1 stay numbers.
    """
    path = root / "loose-metadata.ome.zarr"
    group = _new_group(path)
    omero = {
        "name": "loose",
        "version": "0.4",
        "rdefs": {"model": "color"},
        "channels": [
            {
                "label": "DAPI",
                "color": "0000FF",
                "active": True,
                "window": {"min": 0, "max": 255, "start": 0, "end": 200},
            },
            {
                "label": "GFP",
                "color": "00FF00",
                "active": True,
                "window": {"min": 0, "max": 255, "start": 10, "end": 250},
            },
        ],
    }
    _write_image(
        group,
        _pixels(seed=7, shape=(2, 64, 64), dtype=np.uint8, high=256),
        levels=2,
        axes="cyx",
        omero=omero,
    )

    def loosen(attrs: dict[str, Any]) -> None:
        multiscale = attrs["multiscales"][0]
        multiscale["axes"] = [
            {"name": axis["name"]} if axis["name"] in untyped_axes else axis
            for axis in multiscale["axes"]
        ]
        scale = multiscale["datasets"][0]["coordinateTransformations"][0]
        scale["scale"] = [str(float(value)) for value in scale["scale"]]
        channels = attrs["omero"]["channels"]
        del channels[0]["window"]
        channels[1]["window"] = {key: channels[1]["window"][key] for key in ("start", "end")}

    _edit_json(path / ".zattrs", loosen)
    return path


# ---- 5: Fractal / AnnData tables ---------------------------------------------------------


def tables_expected(root: Path) -> dict[str, np.ndarray]:
    """The content of every array :func:`image_with_tables` writes under ``tables/``.

    Keys are paths relative to the dataset root. The content is fixed (seeded), so ``root``
    (the dataset, or the directory given to :func:`image_with_tables`) is not read. Strings
    and bytes are object arrays (zarr-python 3 reads vlen-utf8 back as ``StringDType``, which
    compares equal); image and label levels are ome-zarr-py's and are not listed.
    """
    rng = np.random.default_rng(11)
    table = f"tables/{TABLE_NAME}"
    n_obs, n_var = 5, 3

    def strings(*values: str | bytes) -> np.ndarray:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array

    return {
        f"{table}/X": rng.normal(100.0, 20.0, (n_obs, n_var)).astype(np.float32),
        f"{table}/obs/_index": strings(*(str(label) for label in range(1, n_obs + 1))),
        f"{table}/obs/phase/codes": np.array([0, 2, 1, 0, 1], dtype=np.int8),
        f"{table}/obs/phase/categories": strings("G1", "S", "G2/M"),
        # A non-ASCII name checks that UTF-8 survives.
        f"{table}/var/_index": strings("area", "mean_intensity", "diameter_µm"),
        # NUL and empty items check that vlen-bytes is not treated as text.
        f"{table}/uns/blob": strings(b"\x00\x01\x02", b"", b"fractal"),
    }


# Attributes AnnData 0.8-0.10 writes on each element (its "encoding" of the element type).
_ARRAY = {"encoding-type": "array", "encoding-version": "0.2.0"}
_STRING_ARRAY = {"encoding-type": "string-array", "encoding-version": "0.2.0"}
_DICT = {"encoding-type": "dict", "encoding-version": "0.1.0"}


def _dataframe(columns: list[str]) -> dict[str, Any]:
    return {
        "_index": "_index",
        "column-order": columns,
        "encoding-type": "dataframe",
        "encoding-version": "0.2.0",
    }


def _as_zarr2_written(zarray: Path, fill_value: Any) -> None:
    """Make zarr-python 3's ``.zarray`` what zarr-python 2 (so AnnData) wrote.

    zarr-python 3 writes ``"fill_value": ""`` for vlen arrays and ``dimension_separator``;
    zarr-python 2 wrote ``0`` for any object array and no separator key (keys sorted,
    indent 4). Only the metadata changes; the chunk bytes are the same in both.
    """
    metadata = json.loads(zarray.read_text())
    metadata.pop("dimension_separator", None)
    if metadata["dtype"] == "|O":
        metadata["fill_value"] = fill_value
    zarray.write_text(json.dumps(metadata, indent=4, sort_keys=True))


def _write_table_array(
    path: Path, key: str, values: np.ndarray, attributes: dict[str, Any]
) -> None:
    """One array at ``path / key`` by zarr-python 3 (``zarr_format=2``), then in zarr 2's form."""
    dtype: Any = values.dtype
    fill_value: Any = 0
    if values.dtype == object and isinstance(values.flat[0], bytes):
        # zarr 2's fill_value 0 on a vlen-bytes array is refused by zarr-python 3.1.6
        # ("Invalid type: 0. Expected a string."), so this one gets null, which it reads.
        dtype, fill_value = VariableLengthBytes(), None
    elif values.dtype == object:
        dtype = VariableLengthUTF8()
    array = zarr.create_array(
        str(path / key),
        shape=values.shape,
        chunks=values.shape,
        dtype=dtype,
        compressors=_ANNDATA_COMPRESSOR,
        attributes=attributes,
        zarr_format=2,
    )
    array[...] = values
    _as_zarr2_written(path / key / ".zarray", fill_value)


def image_with_tables(root: Path) -> Path:
    """An image (ome-zarr-py 0.18, 2 levels, with 2-level ``labels/cells``) plus a table.

    ``tables/`` is laid out like a Fractal feature table saved by AnnData (through zarr 2):

    - ``tables/.zattrs`` = ``{"tables": ["regions"]}``; ``tables/README.txt`` a plain file.
    - ``tables/regions``: AnnData's ``encoding-type: anndata`` plus Fractal's ``type:
      feature_table``, ``region``, ``instance_key``, ``fractal_table_version``.
    - ``X`` float32 5x3; ``obs`` a dataframe with ``_index`` (vlen-utf8) and the categorical
      ``phase`` (``codes`` int8, ``categories`` vlen-utf8); ``var/_index`` (vlen-utf8);
      ``uns`` a dict holding ``params`` (a group with attributes only) and ``blob``
      (vlen-bytes); ``layers``, ``obsm``, ``obsp``, ``varm``, ``varp`` empty dict groups.

    Arrays are written with zarr-python 3 and their ``.zarray`` rewritten to zarr 2's form
    (``"dtype": "|O"``, ``"filters": [{"id": "vlen-utf8"}]``, ``"fill_value": 0``, blosc
    lz4); :func:`tables_expected` gives their content.
    """
    path = root / "image-with-tables.ome.zarr"
    group = _new_group(path)
    _write_image(group, _pixels(seed=9), levels=2)
    _write_label(group, _label_image(seed=10), levels=2)

    group.require_group("tables").attrs["tables"] = [TABLE_NAME]
    (path / "tables" / "README.txt").write_text("Measurements of labels/cells, one per row.\n")
    table = f"tables/{TABLE_NAME}"
    groups: dict[str, dict[str, Any]] = {
        table: {
            "encoding-type": "anndata",
            "encoding-version": "0.1.0",
            "fractal_table_version": "1",
            "type": "feature_table",
            "region": {"path": f"../labels/{LABEL_NAME}"},
            "instance_key": "label",
        },
        f"{table}/obs": _dataframe(["phase"]),
        f"{table}/obs/phase": {
            "encoding-type": "categorical",
            "encoding-version": "0.2.0",
            "ordered": False,
        },
        f"{table}/var": _dataframe([]),
        f"{table}/uns": _DICT,
        # An AnnData empty dict: a group whose only content is its attributes.
        f"{table}/uns/params": {**_DICT, "measured_by": "regionprops"},
        **{f"{table}/{name}": _DICT for name in ("layers", "obsm", "obsp", "varm", "varp")},
    }
    for key, attributes in groups.items():
        group.require_group(key).attrs.update(attributes)
    for key, values in tables_expected(path).items():
        encoding = _STRING_ARRAY if values.dtype == object else _ARRAY
        # AnnData has no vlen-bytes element: the blob is a plain zarr array, without encoding.
        _write_table_array(path, key, values, {} if key.endswith("/blob") else encoding)
    return path


# ---- 6: an array Zarr v3 cannot hold -----------------------------------------------------


def image_with_unsupported_array(root: Path) -> Path:
    """An image (ome-zarr-py 0.18, 2 levels) plus ``extras/objects``, a json2 object array.

    ``extras/objects`` is what zarr-python 2 wrote for ``dtype=object,
    object_codec=numcodecs.JSON()``: ``"dtype": "|O"``, ``"filters": [{"id": "json2", ...}]``
    and one chunk holding 4 mixed items (a dict, a list, a string, None). Zarr v3 has no data
    type for arbitrary objects, so it cannot be migrated. zarr-python 3.1.6 can neither write
    it (so ``.zarray`` and the chunk are written here with numcodecs) nor open it, nor list
    the members of ``extras`` ("No Zarr data type found that matches ... json2"); the root
    group and the image open normally.
    """
    path = root / "image-with-object-array.ome.zarr"
    group = _new_group(path)
    _write_image(group, _pixels(seed=12), levels=2)
    group.require_group("extras")

    items = np.empty(4, dtype=object)
    items[:] = [{"roi": 1, "tags": ["edge"]}, [1, 2, 3], "free text", None]
    codec = numcodecs.JSON()
    array = path / "extras" / "objects"
    array.mkdir()
    zarray = {
        "chunks": [len(items)],
        "compressor": _ANNDATA_COMPRESSOR.get_config(),
        "dtype": "|O",
        "fill_value": 0,
        "filters": [codec.get_config()],
        "order": "C",
        "shape": [len(items)],
        "zarr_format": 2,
    }
    (array / ".zarray").write_text(json.dumps(zarray, indent=4, sort_keys=True))
    (array / "0").write_bytes(_ANNDATA_COMPRESSOR.encode(codec.encode(items)))
    return path


# ---- chunk files that are not where the metadata says -------------------------------------


def label_with_undeclared_nested_keys(root: Path) -> tuple[Path, np.ndarray]:
    """An image with labels, both by ome-zarr-py (which nests chunk keys, ``0/0/0/1/2``), then
    the labels' ``.zarray`` files stripped of ``dimension_separator``, as early nested stores
    wrote them (so '.' by the spec). The labels' first tile is empty, as in sparse label
    images, so their chunk 0 is absent. Returns the root and the label's level 0."""
    group = _new_group(root)
    _write_image(group, _pixels(11), levels=2)
    labels = _label_image(12)
    labels[..., :16, :16] = 0  # the first 16 x 16 tile: no object there
    _writer().write_labels(
        labels,
        group,
        name=LABEL_NAME,
        scaler=None,
        scale_factors=_scale_factors(2),
        fmt=_v04(),
        axes="tczyx",
        storage_options={"chunks": (1, 1, 1, 16, 16)},
    )
    for zarray in (root / "labels" / LABEL_NAME).glob("*/.zarray"):
        _edit_json(zarray, lambda meta: meta.pop("dimension_separator", None))
    return root, labels
