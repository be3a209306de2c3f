"""OME-Zarr metadata through the ``ome-zarr-models`` classes of its version (v05; v06 where
ome-zarr-models 1.8 is installed, which needs Python 3.12) and, for 0.6, the spec's JSON schemas
(:mod:`.spec_schemas`): for a written dataset (validation) and for the documents a plan would
write (planning, before any pixel).

Every group and array ``zarr.json`` is read once (where worker processes check a local
dataset's shards, they read the arrays' themselves, and this process only those its models
need; see :mod:`.pixels`). Each OME group is then validated once by its class, built from those
documents with the members its own ``from_zarr`` would collect; a group that holds other OME
groups (a plate its wells, a well its images, an image its labels) takes their results from
their own validation instead of loading and validating them again.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import posixpath
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from importlib.machinery import PathFinder
from types import ModuleType
from typing import Any

from ngff_resave.arrays.codecs import planned_array_metadata
from ngff_resave.checks import spec_schemas
from ngff_resave.checks.results import Report, content_key, join_path, spell_error
from ngff_resave.model.plan import Plan
from ngff_resave.ome.attributes import group_metadata
from ngff_resave.ome.v06 import TransformError
from ngff_resave.storage import Location, StorageError

LOG = logging.getLogger(__name__)


class Nodes:
    """The output's ``zarr.json`` documents, each read once: those asked for up front (in
    threads; more with :meth:`load`), any other path a model names on first use."""

    def __init__(
        self,
        target: Location | None,
        paths: Iterable[str],
        threads: int,
        documents: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.target = target
        self.threads = threads
        self.docs: dict[str, dict[str, Any] | None] = dict(documents or {})
        self.errors: dict[str, str] = {}
        self._arrays: dict[str, Any] = {}
        self.load(paths)

    def load(self, paths: Iterable[str]) -> None:
        """The documents of ``paths`` not read yet, read now."""
        wanted = [p for p in dict.fromkeys(paths) if p not in self.docs]
        target = self.target
        if target is None or target.local_path is not None or self.threads <= 1:
            # Local files are read faster one after another than handed to threads.
            found = map(self._read, wanted)
            self._keep(wanted, found)
        else:
            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                self._keep(wanted, pool.map(self._read, wanted))

    def _keep(self, paths: list[str], found: Iterable[tuple[dict[str, Any] | None, str]]) -> None:
        for path, (doc, error) in zip(paths, found, strict=True):
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
        place = self.target.child(join_path(path, "zarr.json")) if self.target else f"'{path}'"
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
        return _specs().GroupSpec(attributes=doc.get("attributes", {}), members=None)

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
        spec: Any = _specs().ArraySpec.model_validate(
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


def _specs() -> ModuleType:
    """pydantic-zarr's v3 specs, imported when a model check first needs them: they import
    zarr-python, which planning (in Snakemake's own process for a small sheet) otherwise does
    without."""
    import pydantic_zarr.v3

    return pydantic_zarr.v3


def model_module(version: str) -> ModuleType | None:
    """The ome-zarr-models classes of an OME-Zarr version, or None where they are not
    installed (v06 comes with ome-zarr-models 1.8, for Python 3.12 and later). Looked for
    before importing: the package takes 0.2 s to import, for nothing where they are missing."""
    name = f"v{version.replace('.', '')}"
    package = importlib.util.find_spec("ome_zarr_models")
    if package is None or PathFinder.find_spec(name, package.submodule_search_locations) is None:
        return None
    try:
        return importlib.import_module(f"ome_zarr_models.{name}")
    except ImportError:
        return None


class _Models:
    """Each OME group validated once by its class of ``module``, from the loaded documents.

    The members given to a class are those its ``from_zarr`` collects: an image's arrays and its
    labels tree (the image checks the arrays' dimensions and the label levels; the labels check
    their dtypes), and for a plate, a well and a bioformats2raw root the groups they hold (a
    plate checks its wells' acquisitions). Where ``from_zarr`` validates a contained group through
    its own class (wells of a plate, images of a well, labels of an image), the contained
    group's memoised result is used, so no group is loaded or validated twice.
    """

    def __init__(self, nodes: Nodes, module: ModuleType) -> None:
        self.nodes = nodes
        self.ozm = module
        self.done: dict[tuple[str, str], tuple[Any, dict[str, Any], BaseException | None]] = {}
        # Valid images by content: the fields of a plate are mostly alike, and an image whose
        # documents equal those of a valid one is valid too (its failures are still found one
        # by one, so that each names its own path).
        self.valid_images: dict[bytes, tuple[Any, dict[str, Any]]] = {}

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

    def _image_content(self, path: str) -> bytes | None:
        """An image's group and array documents as one key, or None when it has labels or
        its documents are not all there (then it is validated on its own)."""
        doc = self.nodes.doc(path)
        if doc is None or self.nodes.doc(join_path(path, "labels")) is not None:
            return None
        try:
            multiscales = doc["attributes"]["ome"]["multiscales"]
            paths = [d["path"] for m in multiscales for d in m["datasets"]]
        except (KeyError, TypeError):
            return None
        arrays = [self.nodes.doc(join_path(path, p)) for p in paths]
        if any(a is None for a in arrays):
            return None
        # A multiscale's name is free text (writers put the image's path there): any string
        # validates alike, so names that are strings do not make images differ.
        unnamed = [{**m, "name": ""} if isinstance(m.get("name"), str) else m for m in multiscales]
        ome = {**doc["attributes"]["ome"], "multiscales": unnamed}
        key = {**doc, "attributes": {**doc["attributes"], "ome": ome}}
        return content_key([key, paths, arrays])

    def _nested(self, name: str, path: str) -> tuple[Any, dict[str, Any]]:
        try:
            return self.model(name, path)
        except Exception as err:
            raise _NestedGroupError(
                f"{name} group '{path}' is invalid: {spell_error(err)}"
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
        members = _specs().from_flat_group({k: v for k, v in flat.items() if k}).members
        if ome is not None:
            attributes = {**attributes, "ome": ome}
        return cls(attributes=attributes, members=members)

    def _image(self, path: str) -> tuple[Any, dict[str, Any]]:
        attributes, attrs = self._ome(self.ozm.image.ImageAttrs, path)
        flat: dict[str, Any] = {"": _specs().GroupSpec(attributes=attributes, members=None)}
        for array_path in attrs.get_array_paths():
            flat["/" + array_path.strip("/")] = self.nodes.array_spec(join_path(path, array_path))
        for group_path in attrs.get_optional_group_paths():  # "labels"
            full = join_path(path, group_path)
            if self.nodes.group(full) is None:
                continue
            _, labels_flat = self._nested("Labels", full)
            flat.update({f"/{group_path}{key}": spec for key, spec in labels_flat.items()})
        return self._build(self.ozm.Image, attributes, flat, attrs), flat

    def _imagelabel(self, path: str) -> tuple[Any, dict[str, Any]]:
        image, flat = self.model("Image", path)
        return self.ozm.ImageLabel(
            attributes=image.attributes.model_dump(), members=image.members
        ), flat

    def _labels(self, path: str) -> tuple[Any, dict[str, Any]]:
        attributes, attrs = self._ome(self.ozm.labels.LabelsAttrs, path)
        flat: dict[str, Any] = {"": _specs().GroupSpec(attributes=attributes, members=None)}
        for label in attrs.labels:
            full = join_path(path, label)
            if self.nodes.doc(full) is None:
                raise ValueError(f"Label path '{label}' not found in zarr group")
            try:
                _, label_flat = self.model("ImageLabel", full)
            except Exception as err:
                raise RuntimeError(
                    f"Error validating the label path '{label}' as a OME-Zarr multiscales group: "
                    f"{spell_error(err)}"
                ) from err
            flat.update({f"/{label.strip('/')}{key}": spec for key, spec in label_flat.items()})
        return self._build(self.ozm.Labels, attributes, flat, attrs), flat

    def _children(self, path: str, children: Iterable[str], name: str) -> dict[str, Any]:
        """The contained groups that exist, each validated as ``name``, as shallow members."""
        flat: dict[str, Any] = {}
        for child in children:
            full = join_path(path, child)
            if self.nodes.group(full) is None:
                continue
            self._nested(name, full)
            flat["/" + child.strip("/")] = self.nodes.group_spec(full)
        return flat

    def _well(self, path: str) -> tuple[Any, dict[str, Any]]:
        attributes, attrs = self._ome(self.ozm.well.WellAttrs, path)
        flat = self._children(path, attrs.get_optional_group_paths(), "Image")
        return self._build(self.ozm.Well, attributes, flat, attrs), flat

    def _hcs(self, path: str) -> tuple[Any, dict[str, Any]]:
        attributes, attrs = self._ome(self.ozm.hcs.HCSAttrs, path)
        flat = self._children(path, attrs.get_optional_group_paths(), "Well")
        return self._build(self.ozm.HCS, attributes, flat, attrs), flat

    def _bioformats2raw(self, path: str) -> tuple[Any, dict[str, Any]]:
        doc = self.nodes.group(path)
        if doc is None:
            raise FileNotFoundError(f"no group at '{path}' ({self.nodes.where(path)})")
        attributes = doc.get("attributes", {})
        series: list[str] = []
        while self.nodes.group(join_path(path, str(len(series)))) is not None:
            series.append(str(len(series)))
        flat = self._children(path, series, "Image")
        return self._build(self.ozm.BioFormats2Raw, attributes, flat), flat


def _model_checks(plan: Plan) -> list[tuple[str, str, str]]:
    """(check name, model, group path) for every OME group of the plan."""
    kind = plan.kind
    checks: list[tuple[str, str, str]] = []
    if kind.startswith("bioformats2raw"):
        checks.append(("BioFormats2Raw", "BioFormats2Raw", ""))
    if kind.endswith("plate"):
        checks.append(("HCS (plate, wells, fields)", "HCS", ""))
        wells = sorted({image.rsplit("/", 1)[0] for image in plan.images})
        checks += [(f"Well {well}", "Well", well) for well in wells]
    if kind == "image":
        checks.append(("Image", "Image", ""))
    checks += [(f"Image {image}", "Image", image) for image in plan.images if image]
    for label in plan.labels:
        labels_group = label.rsplit("/", 1)[0]
        checks += [
            (f"Labels {labels_group}", "Labels", labels_group),
            (f"ImageLabel {label}", "ImageLabel", label),
        ]
    return list(dict.fromkeys(checks))


def _schema_checks(
    plan: Plan, nodes: Nodes, report: Report, arrays: Callable[[], Mapping[str, Any]]
) -> None:
    """Each OME group of a 0.6 dataset against the spec's schemas and the cross-document rules."""
    groups = {p: nodes.doc(p) for p in ["", *plan.groups]}
    problems = spec_schemas.hierarchy_problems(groups, arrays)
    for path, found in problems.items():
        report.add(
            f"0.6 JSON schemas {path or '(root)'}",
            not found,
            "; ".join(found[:5]) if found else "valid",
            group=path,
        )


def validate_models(
    plan: Plan, nodes: Nodes, report: Report, arrays: Callable[[], Mapping[str, Any]]
) -> None:
    """Every planned group present, and every OME group through the checks of its version.
    ``arrays``: the arrays' documents, at least as the 0.6 schemas read them (see
    :func:`.spec_schemas.schema_view`); the models read theirs through ``nodes``."""
    missing = []
    for path in plan.groups:
        doc = nodes.doc(path)
        if doc is None or doc.get("node_type") != "group" or doc.get("zarr_format") != 3:
            missing.append(path)
    report.add(
        "groups: every planned group has a v3 group zarr.json",
        not missing,
        "missing or not a v3 group: " + ", ".join(repr(p) for p in missing[:20])
        if missing
        else f"{len(plan.groups)} groups",
    )
    report.blame(groups=missing)
    if plan.ngff_version == spec_schemas.VERSION:
        _schema_checks(plan, nodes, report, arrays)
    module = model_module(plan.ngff_version)
    if module is None:
        LOG.info(
            "%s: ome-zarr-models has no classes for %s here (Python 3.12 and ome-zarr-models 1.8 "
            "have them); checked by the spec's JSON schemas",
            plan.dataset,
            plan.ngff_version,
        )
        return
    models = _Models(nodes, module)
    name_of = module.__name__.rsplit(".", 1)[1]
    for name, model, path in _model_checks(plan):
        report.run(
            f"ome-zarr-models {name_of} {name}", partial(models.model, model, path), group=path
        )


def planned_hierarchy_problems(plan: Plan) -> list[str]:
    """What the checks of the plan's OME-Zarr version reject in the metadata it would write,
    across groups too (label levels against image levels, wells against the plate), before any
    pixel is written: one line per failing group."""
    documents, unwritable = {}, []
    for path, attrs in plan.groups.items():
        try:
            documents[path] = group_metadata(attrs, plan.ngff_version)
        except TransformError as err:
            unwritable.append(f"group {path or '(root)'}: OME-Zarr {plan.ngff_version}: {err}")
    if unwritable:
        return unwritable
    documents.update({a.path: planned_array_metadata(a) for a in plan.arrays})
    report = Report(plan.dataset)
    if plan.ngff_version == spec_schemas.VERSION:
        for path, found in spec_schemas.hierarchy_problems(dict(documents)).items():
            report.add(f"0.6 JSON schemas {path or '(root)'}", not found, "; ".join(found[:5]))
    module = model_module(plan.ngff_version)
    if module is not None:
        models = _Models(Nodes(None, [], 1, documents), module)
        for name, model, path in _model_checks(plan):
            report.run(name, partial(models.model, model, path), group=path)
    return [f"{c['check']}: {c['detail']}" for c in report.checks if not c["ok"]]
