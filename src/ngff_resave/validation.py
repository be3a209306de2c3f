"""Validation of a converted dataset: OME-Zarr 0.5 metadata through the ``ome-zarr-models`` v05
classes, every array against its plan and its input, and the RO-Crate.

Metadata: every group and array ``zarr.json`` of the output is read once. Each OME group is
then validated once by its v05 class, built from those documents with the members its own
``from_zarr`` would collect; a group that holds other OME groups (a plate its wells, a well its
images, an image its labels) takes their results from their own validation instead of loading
and validating them again.

Pixels: shard by shard, at most ``threads`` shards in flight, and in both modes every output
chunk is decoded once by zarr-python, so a chunk that does not decode fails. A ``copy`` array
is compared with its input byte for byte (each inner chunk of the shard index against the input
chunk file, whose codecs the zarr.json must name unchanged), never decoding the input; a
``reencode`` array is compared by value with its decoded input. Sample mode compares only
``sample`` random input chunks per array with the input.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import posixpath
import random
import struct
import threading
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import google_crc32c
import numpy as np
import zarr
from ome_zarr_models import v05
from pydantic_zarr.v3 import ArraySpec, GroupSpec, from_flat_group
from zarr.core.metadata import ArrayV3Metadata
from zarr.storage import StorePath

from ngff_resave.codecs import planned_array_metadata, v3_data_type
from ngff_resave.crate import CRATE_FILE, check_crate
from ngff_resave.metadata import OME_KEYS, group_metadata
from ngff_resave.reencode import open_source
from ngff_resave.shards import (
    EMPTY,
    inner_chunk_coords,
    shard_slices,
    unravel,
    v2_chunk_key,
    v3_shard_key,
)
from ngff_resave.storage import Location, StorageError

LOG = logging.getLogger(__name__)
# From this many shards on, pixels are checked in worker processes (see _check_in_processes);
# below, starting them costs more than it saves.
WORTH_PROCESSES = 8


@dataclass
class Report:
    """Every check made; ``failed_arrays`` and ``failed_groups`` name the array and group paths
    whose checks failed, so a caller can redo just those."""

    dataset: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    # Ordered sets: the paths in the order their first failure was found.
    _failed_arrays: dict[str, None] = field(default_factory=dict, repr=False)
    _failed_groups: dict[str, None] = field(default_factory=dict, repr=False)

    def add(
        self,
        check: str,
        ok: bool,
        detail: str = "",
        *,
        array: str | None = None,
        group: str | None = None,
    ) -> bool:
        self.checks.append({"check": check, "ok": bool(ok), "detail": detail})
        (LOG.info if ok else LOG.error)(
            "%s: %s%s", "ok" if ok else "FAILED", check, f" ({detail})" if detail else ""
        )
        if not ok:
            self.blame(
                arrays=[] if array is None else [array], groups=[] if group is None else [group]
            )
        return bool(ok)

    def blame(self, *, arrays: Iterable[str] = (), groups: Iterable[str] = ()) -> None:
        """Name array and group paths as failed (by a check already added)."""
        self._failed_arrays.update(dict.fromkeys(arrays))
        self._failed_groups.update(dict.fromkeys(groups))

    @property
    def failed_arrays(self) -> list[str]:
        """Array paths with a failed check: the arrays to convert again."""
        return list(self._failed_arrays)

    @property
    def failed_groups(self) -> list[str]:
        """Group paths with a failed check (missing, or rejected by ome-zarr-models)."""
        return list(self._failed_groups)

    def run(self, check: str, action: Callable[[], Any], *, group: str | None = None) -> None:
        """Run a model validation; any exception or warning it raises is the failure detail."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                action()
            except Exception as err:  # noqa: BLE001 - every failure is reported, not raised
                self.add(check, False, _spell_error(err)[:2000], group=group)
                return
        self.add(check, True, group=group)

    @property
    def valid(self) -> bool:
        return all(c["ok"] for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        failed = [c["check"] for c in self.checks if not c["ok"]]
        return {
            "dataset": self.dataset,
            "valid": self.valid,
            "failed": failed,
            "failed_arrays": self.failed_arrays,
            "failed_groups": self.failed_groups,
            "checks": self.checks,
        }


def _spell_error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _join(parent: str, child: str) -> str:
    path = posixpath.normpath(posixpath.join(parent, child.strip("/"))) if child else parent
    return "" if path == "." else path


# --- metadata: every zarr.json once, every OME group once --------------------------------------


class _Nodes:
    """The output's ``zarr.json`` documents, each read once: the plan's paths up front (in
    threads), any other path a model names on first use."""

    def __init__(
        self,
        target: Location | None,
        paths: Iterable[str],
        threads: int,
        documents: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.target = target
        self.docs: dict[str, dict[str, Any] | None] = dict(documents or {})
        self.errors: dict[str, str] = {}
        self._arrays: dict[str, Any] = {}
        wanted = [p for p in dict.fromkeys(paths) if p not in self.docs]
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            for path, (doc, error) in zip(wanted, pool.map(self._read, wanted), strict=True):
                self.docs[path] = doc
                if error:
                    self.errors[path] = error

    def _read(self, path: str) -> tuple[dict[str, Any] | None, str]:
        if self.target is None:
            return None, ""
        try:
            return self.target.read_json(posixpath.join(path, "zarr.json")), ""
        except StorageError as err:
            return None, str(err)

    def doc(self, path: str) -> dict[str, Any] | None:
        if path not in self.docs:
            self.docs[path], error = self._read(path)
            if error:
                self.errors[path] = error
        return self.docs[path]

    def where(self, path: str) -> str:
        place = self.target.child(_join(path, "zarr.json")) if self.target else f"'{path}'"
        return self.errors.get(path) or f"{place} missing"

    def group(self, path: str) -> dict[str, Any] | None:
        """A group's document; None when there is no node (raises when it is an array)."""
        doc = self.doc(path)
        if doc is not None and doc.get("node_type") != "group":
            raise ValueError(
                f"Expected to find a group at '{path}', but found a "
                f"{doc.get('node_type')!r} node there instead."
            )
        return doc

    def group_spec(self, path: str) -> Any:
        doc = self.group(path)
        if doc is None:
            raise FileNotFoundError(
                f"Expected to find a group at '{path}', but no group was "
                f"found there ({self.where(path)})."
            )
        return GroupSpec(attributes=doc.get("attributes", {}), members=None)

    def array_spec(self, path: str) -> Any:
        """The ``ArraySpec`` of a required array, built once (what ``check_array_path`` does)."""
        if path in self._arrays:
            return self._arrays[path]
        doc = self.doc(path)
        if doc is None:
            raise ValueError(
                f"Expected to find an array at '{path}', but no array was found "
                f"there ({self.where(path)})."
            )
        if doc.get("node_type") != "array":
            raise ValueError(
                f"Expected to find an array at '{path}', but a "
                f"{doc.get('node_type')!r} node was found there instead."
            )
        spec: Any = ArraySpec.model_validate(
            {
                "attributes": doc.get("attributes", {}),
                "shape": doc.get("shape"),
                "data_type": doc.get("data_type"),
                "chunk_grid": doc.get("chunk_grid"),
                "chunk_key_encoding": doc.get("chunk_key_encoding"),
                "fill_value": doc.get("fill_value"),
                "codecs": doc.get("codecs"),
                "storage_transformers": doc.get("storage_transformers", ()),
                "dimension_names": doc.get("dimension_names"),
            }
        )
        self._arrays[path] = spec
        return spec


class _NestedGroupError(ValueError):
    """A group fails because an OME group it holds fails; the message names that group."""


class _Models:
    """Each OME group validated once by its v05 class, from the loaded documents.

    The members given to a class are those its ``from_zarr`` collects: an image's arrays and its
    labels tree (the image checks the arrays' dimensions and the label levels; the labels check
    their dtypes), and for a plate, a well and a bioformats2raw root the groups they hold (a
    plate checks its wells' acquisitions). Where ``from_zarr`` validates a contained group through
    its own class (wells of a plate, images of a well, labels of an image), the contained
    group's memoised result is used, so no group is loaded or validated twice.
    """

    def __init__(self, nodes: _Nodes) -> None:
        self.nodes = nodes
        self.done: dict[tuple[str, str], tuple[Any, dict[str, Any], BaseException | None]] = {}
        # Valid images by content: the fields of a plate are mostly alike, and an image whose
        # documents equal those of a valid one is valid too (its failures are still found one
        # by one, so that each names its own path).
        self.valid_images: dict[str, tuple[Any, dict[str, Any]]] = {}

    def model(self, name: str, path: str) -> tuple[Any, dict[str, Any]]:
        """The validated model of kind ``name`` at ``path`` and its flat members tree (keys
        ``""``, ``/a``, ``/a/b`` as ``to_flat`` spells them); raises its failure."""
        key = (name, path)
        if key not in self.done:
            content = self._image_content(path) if name == "Image" else None
            if content is not None and content in self.valid_images:
                self.done[key] = (*self.valid_images[content], None)
            else:
                try:
                    built, flat = getattr(self, f"_{name.lower()}")(path)
                    self.done[key] = (built, flat, None)
                    if content is not None:
                        self.valid_images[content] = (built, flat)
                except Exception as err:  # noqa: BLE001 - kept, and raised to every asker
                    self.done[key] = (None, {}, err)
        built, flat, error = self.done[key]
        if error is not None:
            raise error
        return built, flat

    def _image_content(self, path: str) -> str | None:
        """An image's group and array documents as one text, or None when it has labels or
        its documents are not all there (then it is validated on its own)."""
        doc = self.nodes.doc(path)
        if doc is None or self.nodes.doc(_join(path, "labels")) is not None:
            return None
        try:
            multiscales = doc["attributes"]["ome"]["multiscales"]
            paths = [d["path"] for m in multiscales for d in m["datasets"]]
        except (KeyError, TypeError):
            return None
        arrays = [self.nodes.doc(_join(path, p)) for p in paths]
        if any(a is None for a in arrays):
            return None
        # A multiscale's name is free text (writers put the image's path there): any string
        # validates alike, so names that are strings do not make images differ.
        unnamed = [{**m, "name": ""} if isinstance(m.get("name"), str) else m for m in multiscales]
        ome = {**doc["attributes"]["ome"], "multiscales": unnamed}
        key = {**doc, "attributes": {**doc["attributes"], "ome": ome}}
        return json.dumps([key, paths, arrays], sort_keys=True)

    def _nested(self, name: str, path: str) -> tuple[Any, dict[str, Any]]:
        try:
            return self.model(name, path)
        except Exception as err:
            raise _NestedGroupError(
                f"{name} group '{path}' is invalid: {_spell_error(err)}"
            ) from err

    def _ome(self, attrs_cls: Any, path: str) -> tuple[dict[str, Any], Any]:
        """The group's attributes and its ``ome`` block validated by ``attrs_cls``."""
        doc = self.nodes.group(path)
        if doc is None:
            raise FileNotFoundError(f"no group at '{path}' ({self.nodes.where(path)})")
        attributes = doc.get("attributes", {})
        if "ome" not in attributes:
            raise ValueError("Zarr group attributes does not contain an 'ome' key")
        return attributes, attrs_cls.model_validate(attributes["ome"])

    @staticmethod
    def _build(cls: Any, attributes: dict[str, Any], flat: dict[str, Any], ome: Any = None) -> Any:
        """The model from its attributes and flat members; an ``ome`` block validated already
        is passed as the instance (pydantic keeps instances), not validated a second time."""
        members = from_flat_group({k: v for k, v in flat.items() if k}).members
        if ome is not None:
            attributes = {**attributes, "ome": ome}
        return cls(attributes=attributes, members=members)

    def _image(self, path: str) -> tuple[Any, dict[str, Any]]:
        attributes, attrs = self._ome(v05.image.ImageAttrs, path)
        flat: dict[str, Any] = {"": GroupSpec(attributes=attributes, members=None)}
        for array_path in attrs.get_array_paths():
            flat["/" + array_path.strip("/")] = self.nodes.array_spec(_join(path, array_path))
        for group_path in attrs.get_optional_group_paths():  # "labels"
            full = _join(path, group_path)
            if self.nodes.group(full) is None:
                continue
            _, labels_flat = self._nested("Labels", full)
            flat.update({f"/{group_path}{key}": spec for key, spec in labels_flat.items()})
        return self._build(v05.Image, attributes, flat, attrs), flat

    def _imagelabel(self, path: str) -> tuple[Any, dict[str, Any]]:
        image, flat = self.model("Image", path)
        return v05.ImageLabel(attributes=image.attributes.model_dump(), members=image.members), flat

    def _labels(self, path: str) -> tuple[Any, dict[str, Any]]:
        attributes, attrs = self._ome(v05.labels.LabelsAttrs, path)
        flat: dict[str, Any] = {"": GroupSpec(attributes=attributes, members=None)}
        for label in attrs.labels:
            full = _join(path, label)
            if self.nodes.doc(full) is None:
                raise ValueError(f"Label path '{label}' not found in zarr group")
            try:
                _, label_flat = self.model("ImageLabel", full)
            except Exception as err:
                raise RuntimeError(
                    f"Error validating the label path '{label}' as a OME-Zarr multiscales group: "
                    f"{_spell_error(err)}"
                ) from err
            flat.update({f"/{label.strip('/')}{key}": spec for key, spec in label_flat.items()})
        return self._build(v05.Labels, attributes, flat, attrs), flat

    def _children(self, path: str, children: Iterable[str], name: str) -> dict[str, Any]:
        """The contained groups that exist, each validated as ``name``, as shallow members."""
        flat: dict[str, Any] = {}
        for child in children:
            full = _join(path, child)
            if self.nodes.group(full) is None:
                continue
            self._nested(name, full)
            flat["/" + child.strip("/")] = self.nodes.group_spec(full)
        return flat

    def _well(self, path: str) -> tuple[Any, dict[str, Any]]:
        attributes, attrs = self._ome(v05.well.WellAttrs, path)
        flat = self._children(path, attrs.get_optional_group_paths(), "Image")
        return self._build(v05.Well, attributes, flat, attrs), flat

    def _hcs(self, path: str) -> tuple[Any, dict[str, Any]]:
        attributes, attrs = self._ome(v05.hcs.HCSAttrs, path)
        flat = self._children(path, attrs.get_optional_group_paths(), "Well")
        return self._build(v05.HCS, attributes, flat, attrs), flat

    def _bioformats2raw(self, path: str) -> tuple[Any, dict[str, Any]]:
        doc = self.nodes.group(path)
        if doc is None:
            raise FileNotFoundError(f"no group at '{path}' ({self.nodes.where(path)})")
        attributes = doc.get("attributes", {})
        series: list[str] = []
        while self.nodes.group(_join(path, str(len(series)))) is not None:
            series.append(str(len(series)))
        flat = self._children(path, series, "Image")
        return self._build(v05.BioFormats2Raw, attributes, flat), flat


def _model_checks(plan: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(check name, model, group path) for every OME group of the plan."""
    kind = plan["kind"]
    checks: list[tuple[str, str, str]] = []
    if kind.startswith("bioformats2raw"):
        checks.append(("BioFormats2Raw", "BioFormats2Raw", ""))
    if kind.endswith("plate"):
        checks.append(("HCS (plate, wells, fields)", "HCS", ""))
        wells = sorted({image.rsplit("/", 1)[0] for image in plan["images"]})
        checks += [(f"Well {well}", "Well", well) for well in wells]
    if kind == "image":
        checks.append(("Image", "Image", ""))
    checks += [(f"Image {image}", "Image", image) for image in plan["images"] if image]
    for label in plan["labels"]:
        labels_group = label.rsplit("/", 1)[0]
        checks += [
            (f"Labels {labels_group}", "Labels", labels_group),
            (f"ImageLabel {label}", "ImageLabel", label),
        ]
    return list(dict.fromkeys(checks))


def _validate_models(plan: dict[str, Any], nodes: _Nodes, report: Report) -> None:
    """Every planned group present, and every OME group through its ome-zarr-models v05 class."""
    missing = []
    for path in plan["groups"]:
        doc = nodes.doc(path)
        if doc is None or doc.get("node_type") != "group" or doc.get("zarr_format") != 3:
            missing.append(path)
    report.add(
        "groups: every planned group has a v3 group zarr.json",
        not missing,
        "missing or not a v3 group: " + ", ".join(repr(p) for p in missing[:20])
        if missing
        else f"{len(plan['groups'])} groups",
    )
    report.blame(groups=missing)
    models = _Models(nodes)
    for name, model, path in _model_checks(plan):
        report.run(f"ome-zarr-models v05 {name}", partial(models.model, model, path), group=path)


def planned_hierarchy_problems(plan: Any) -> list[str]:
    """What the ome-zarr-models v05 classes reject in the metadata a plan would write, across
    groups too (label levels against image levels, wells against the plate), before any
    pixel is written: one line per failing group."""
    plan = _plain(plan)
    documents = {path: group_metadata(attrs) for path, attrs in plan["groups"].items()}
    documents.update({a["path"]: planned_array_metadata(a) for a in plan["arrays"]})
    report = Report(plan["dataset"])
    models = _Models(_Nodes(None, [], 1, documents))
    for name, model, path in _model_checks(plan):
        report.run(name, partial(models.model, model, path), group=path)
    return [f"{c['check']}: {c['detail']}" for c in report.checks if not c["ok"]]


# --- arrays: zarr.json as planned, pixels shard by shard ---------------------------------------


def _dig(value: Any, *keys: str | int) -> Any:
    """``value[k1][k2]...``, or None where the document does not have that shape."""
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _metadata_checks(
    array: dict[str, Any], doc: dict[str, Any] | None, where: str
) -> list[tuple[str, bool, str]]:
    """The array's zarr.json against the plan: layout, dimension names, and the codec chain,
    fill value and chunk keys the converter writes (so copied chunk bytes mean the same)."""
    path = array["path"]
    names = [
        f"array {path}: shape, dtype, chunks, shards as planned",
        f"array {path}: dimension_names equal the axes",
        f"array {path}: codecs, fill value and chunk keys as planned",
    ]
    if doc is None or doc.get("node_type") != "array":
        detail = where if doc is None else f"node_type {doc.get('node_type')!r}"
        return [(name, False, detail) for name in names]
    expected = planned_array_metadata(array)
    shards = _dig(doc, "chunk_grid", "configuration", "chunk_shape")
    chunks = _dig(doc, "codecs", 0, "configuration", "chunk_shape")
    layout_ok = (
        doc.get("shape") == array["shape"]
        and doc.get("data_type") == v3_data_type(array["dtype"])[0]
        and shards == array["output"]["shards"]
        and chunks == array["output"]["chunks"]
    )
    names_found = doc.get("dimension_names")
    dimension_names = list(names_found) if isinstance(names_found, list) else []
    wrong = [
        key
        for key in ("codecs", "fill_value", "chunk_key_encoding")
        if doc.get(key) != expected[key]
    ]
    return [
        (
            names[0],
            layout_ok,
            f"shape {doc.get('shape')}, dtype {doc.get('data_type')}, "
            f"chunks {chunks}, shards {shards}",
        ),
        (
            names[1],
            dimension_names == array["dimension_names"],
            ",".join(map(str, dimension_names)),
        ),
        (
            names[2],
            not wrong,
            "; ".join(f"{key} {doc.get(key)!r}, planned {expected[key]!r}" for key in wrong)[:2000],
        ),
    ]


def _shard_index(data: bytes, count: int, where: str) -> list[tuple[int, int]]:
    """The ``(offset, nbytes)`` pairs at the end of a shard, after checking their CRC32C."""
    size = 16 * count + 4
    if len(data) < size:
        raise ValueError(f"{where}: {len(data)} bytes, shorter than its index ({size} bytes)")
    index = data[-size:-4]
    if struct.unpack("<I", data[-4:])[0] != google_crc32c.value(index):
        raise ValueError(f"{where}: the CRC32C of the shard index does not match")
    values = struct.unpack(f"<{2 * count}Q", index)
    return list(zip(values[0::2], values[1::2], strict=True))


@dataclass
class _ArrayCheck:
    """One array's pixel comparison: shards are checked by worker threads, problems gathered."""

    array: dict[str, Any]
    doc: dict[str, Any] | None
    sampled: set[tuple[int, ...]] | None  # input chunk coordinates compared; None: all
    source: Location
    target: Location
    source_store: Any
    target_store: Any
    problems: dict[int, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _opened: dict[str, Any] = field(default_factory=dict)
    _shards_done: int = 0

    @property
    def path(self) -> str:
        return str(self.array["path"])

    def _open(self, side: str) -> Any:
        with self._lock:
            if side not in self._opened:
                if side == "output":
                    if self.doc is None or self.doc.get("node_type") != "array":
                        raise FileNotFoundError(f"no array zarr.json at {self._out()}")
                    # zarr parses the already loaded zarr.json; it is not read again.
                    self._opened[side] = zarr.Array(
                        zarr.AsyncArray(
                            metadata=ArrayV3Metadata.from_dict(dict(self.doc)),
                            store_path=StorePath(self.target_store, self.path),
                        )
                    )
                else:
                    self._opened[side] = open_source(self.source_store, self.array)
            return self._opened[side]

    def _out(self, key: str = "") -> str:
        return self.target.child(_join(self.path, key))

    def check_shard(self, index: int) -> None:
        region = shard_slices(self.array["shape"], self.array["output"]["shards"], index)
        try:
            if self.array["mode"] == "copy":
                problem = self._copied_bytes(index) or self._decoded(region, None)
            else:
                problem = self._reencoded(region)
        except Exception as err:  # noqa: BLE001 - an unreadable shard is a failed check
            problem = (
                f"cannot read [{_spell(region)}] of {self._out()} or "
                f"{self.source.child(self.path)}: {_spell_error(err)}"
            )
        with self._lock:
            if problem:
                self.problems[index] = problem
            self._shards_done += 1
            if self._shards_done == self.array["shards"]:
                self._opened.clear()  # a plate has thousands of arrays: keep none open

    def _copied_bytes(self, index: int) -> str:
        """Each inner chunk of the shard (the sampled ones in sample mode) is the input chunk
        file byte for byte, and a missing input chunk is an empty index entry."""
        array = self.array
        shape, shards = array["shape"], array["output"]["shards"]
        coords = list(inner_chunk_coords(shape, array["output"]["chunks"], shards, index))
        wanted = [
            i
            for i, c in enumerate(coords)
            if self.sampled is None or (c is not None and c in self.sampled)
        ]
        if not wanted:
            return ""
        key = v3_shard_key(shape, shards, index)
        data = self.target.read_bytes(_join(self.path, key))
        entries = None if data is None else _shard_index(data, len(coords), self._out(key))
        end = 0 if data is None else len(data) - 16 * len(coords) - 4
        separator = array["input"]["dimension_separator"]
        for i in wanted:
            coord = coords[i]
            chunk_key = "" if coord is None else v2_chunk_key(coord, separator)
            expected = (
                None if coord is None else self.source.read_bytes(_join(self.path, chunk_key))
            )
            offset, nbytes = (EMPTY, EMPTY) if entries is None else entries[i]
            where = f"inner chunk {i} of {self._out(key)}"
            if (offset, nbytes) == (EMPTY, EMPTY):
                if expected is not None:
                    return (
                        f"{where} is missing; the input has {self.source.child(self.path)}"
                        f"/{chunk_key}"
                    )
                continue
            if expected is None:
                return (
                    f"{where} holds {nbytes} bytes; the input has no chunk "
                    f"{'past the edge' if coord is None else chunk_key}"
                )
            if offset + nbytes > end:
                return f"{where} lies outside the shard's chunk bytes"
            # A bytes slice compares by memcmp; a memoryview compares item by item.
            if data is None or data[offset : offset + nbytes] != expected:
                return f"{where} differs from {self.source.child(self.path)}/{chunk_key}"
        return ""

    def _decoded(self, region: tuple[slice, ...], compare: Callable[[Any], str] | None) -> str:
        """The whole shard decoded by zarr-python (every chunk once), then compared."""
        got = self._open("output")[region]
        return compare(got) if compare is not None else ""

    def _reencoded(self, region: tuple[slice, ...]) -> str:
        expected_array = self._open("input")
        equal_nan = np.dtype(expected_array.dtype).kind == "f"
        if self.sampled is None:

            def whole(got: Any) -> str:
                same = np.array_equal(expected_array[region], got, equal_nan=equal_nan)
                return "" if same else f"first difference in [{_spell(region)}]"

            return self._decoded(region, whole)
        chunks = self.array["input"]["chunks"]
        parts = []
        for coord in sorted(self.sampled):
            part = tuple(
                slice(max(r.start, c * n), min(r.stop, (c + 1) * n))
                for r, c, n in zip(region, coord, chunks, strict=True)
            )
            if all(p.start < p.stop for p in part):
                parts.append(part)

        def sampled(got: Any) -> str:
            for part in parts:
                local = tuple(
                    slice(p.start - r.start, p.stop - r.start)
                    for p, r in zip(part, region, strict=True)
                )
                if not np.array_equal(expected_array[part], got[local], equal_nan=equal_nan):
                    return f"first difference in [{_spell(part)}]"
            return ""

        return self._decoded(region, sampled)

    def result(self) -> tuple[bool, str]:
        shards = self.array["shards"]
        if self.problems:
            first = min(self.problems)
            more = len(self.problems) - 1
            return False, self.problems[first] + (f" (and {more} more shards)" if more else "")
        how = (
            "every inner chunk byte-identical to its input chunk"
            if self.array["mode"] == "copy"
            else "values equal the decoded input"
        )
        if self.sampled is not None:
            how = f"{len(self.sampled)} sampled input chunks: {how}"
        return True, f"{shards} shards decoded; {how}"


def _sample(array: dict[str, Any], rng: random.Random, sample: int) -> set[tuple[int, ...]]:
    """``sample`` random input chunks (drawn as before, so a seed picks the same chunks)."""
    grid = [-(-s // c) for s, c in zip(array["shape"], array["input"]["chunks"], strict=True)]
    total = int(np.prod(grid))
    return {tuple(unravel(i, grid)) for i in rng.sample(range(total), min(sample, total))}


def _run_bounded(tasks: Iterable[Callable[[], None]], threads: int) -> None:
    """Run tasks on ``threads`` workers with at most ``threads`` of them in flight."""
    threads = max(1, threads)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: set[Future[None]] = set()
        for task in tasks:
            if len(pending) >= threads:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
            pending.add(pool.submit(task))
        for future in pending:
            future.result()


def _check_shards(checks: list[_ArrayCheck], tasks: list[tuple[int, int]], send: Any) -> None:
    """In a worker process: these (array, shard) checks one after another; the problems found
    go back through the pipe."""
    try:
        for check_index, shard in tasks:
            checks[check_index].check_shard(shard)
        send.send({i: checks[i].problems for i in {i for i, _ in tasks}})
    finally:
        send.close()


def _check_in_processes(checks: list[_ArrayCheck], workers: int) -> None:
    """Decoding and comparing costs Python time per shard and per array, which threads do not
    share out: split the shards over forked worker processes."""
    tasks = [(i, shard) for i, check in enumerate(checks) for shard in range(check.array["shards"])]
    context = multiprocessing.get_context("fork")
    running = []
    for worker in range(workers):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_check_shards, args=(checks, tasks[worker::workers], send), daemon=True
        )
        process.start()
        send.close()
        running.append((receive, process))
    for receive, process in running:
        try:
            found = receive.recv()
        except EOFError as err:
            raise RuntimeError(f"a validation worker died (exit code {process.exitcode})") from err
        finally:
            process.join()
        for check_index, problems in found.items():
            checks[check_index].problems.update(problems)


def _compare_arrays(
    plan: dict[str, Any],
    nodes: _Nodes,
    source: Location,
    target: Location,
    mode: str,
    sample: int,
    seed: int,
    threads: int,
    report: Report,
) -> None:
    rng = random.Random(seed)
    if mode == "sample":
        LOG.info(
            "sample mode: %d random input chunks per array, seed %d; every output chunk is decoded",
            sample,
            seed,
        )
    source_store = source.zarr_store(read_only=True)
    target_store = target.zarr_store(read_only=True)
    checks = [
        _ArrayCheck(
            array,
            nodes.doc(array["path"]),
            _sample(array, rng, sample) if mode == "sample" else None,
            source,
            target,
            source_store,
            target_store,
        )
        for array in plan["arrays"]
    ]
    shards = sum(check.array["shards"] for check in checks)
    if threads > 1 and shards >= WORTH_PROCESSES:
        _check_in_processes(checks, threads)
    else:
        _run_bounded(
            (
                partial(check.check_shard, index)
                for check in checks
                for index in range(check.array["shards"])
            ),
            threads,
        )
    for check in checks:
        for name, ok, detail in _metadata_checks(check.array, check.doc, nodes.where(check.path)):
            report.add(name, ok, detail, array=check.path)
        ok, detail = check.result()
        report.add(
            f"array {check.path}: values equal the input ({mode})", ok, detail, array=check.path
        )


def _check_extras(
    plan: dict[str, Any], nodes: _Nodes, source: Location, target: Location, report: Report
) -> None:
    """Groups outside the OME metadata keep their attributes; arrays that are not image
    levels read back equal to the input."""
    from ngff_resave.extras import differences

    ome_groups = {path for path, attrs in plan["groups"].items() if set(attrs) & set(OME_KEYS)}
    for path, attrs in plan["groups"].items():
        if path in ome_groups or not attrs:
            continue
        doc = nodes.doc(path) or {}
        report.add(
            f"group {path}: attributes equal the input's",
            doc.get("attributes") == attrs,
            "" if doc.get("attributes") == attrs else nodes.where(path),
            group=path,
        )
    for extra in plan.get("extras", []):
        if extra["action"] != "migrate":
            continue
        try:
            problem = differences(source, target, extra)
        except Exception as err:  # noqa: BLE001 - an unreadable array is a failed check
            problem = _spell_error(err)
        report.add(
            f"array {extra['path']}: migrated values equal the input",
            not problem,
            problem,
            array=extra["path"],
        )


def _spell(region: tuple[slice, ...]) -> str:
    return ",".join(f"{s.start}:{s.stop}" for s in region)


def _plain(plan: Any) -> dict[str, Any]:
    """The plan as plain JSON data (a dict, or a pydantic plan model)."""
    if isinstance(plan, dict):
        return plan
    return dict(plan.model_dump(mode="json"))


def validate_dataset(
    plan: dict[str, Any],
    mode: str = "full",
    sample: int = 8,
    seed: int | None = None,
    threads: int = 2,
) -> Report:
    """Check the converted dataset of a plan; never raises for an invalid dataset."""
    plan = _plain(plan)
    report = Report(plan["dataset"])
    source = Location.from_text(plan["input"], plan.get("input_storage"))
    target = Location.from_text(plan["output"], plan.get("output_storage"))
    nodes = _Nodes(target, ["", *plan["groups"], *(a["path"] for a in plan["arrays"])], threads)
    root_json = nodes.doc("")
    version = ((root_json or {}).get("attributes", {}).get("ome", {}) or {}).get("version")
    if not report.add(
        "root zarr.json has ome.version 0.5",
        version == "0.5",
        nodes.errors.get("") or f"{target.child('zarr.json')}: version {version!r}",
        group="",
    ):
        return report
    _validate_models(plan, nodes, report)
    for path in plan["files"]:
        report.add(f"file {path} copied", source.read_bytes(path) == target.read_bytes(path))
    _check_extras(plan, nodes, source, target, report)
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    _compare_arrays(plan, nodes, source, target, mode, sample, seed, threads, report)
    if mode == "sample":
        report.checks.append({"check": "sample seed", "ok": True, "detail": str(seed)})
    if plan.get("crate"):
        document = target.read_json(CRATE_FILE)
        if report.add("crate: ro-crate-metadata.json present", document is not None):
            assert document is not None
            for check, ok, detail in check_crate(document, plan["crate"]):
                report.add(check, ok, detail)
    return report
