"""OME-Zarr 0.6 metadata against the spec's own JSON schemas, for a written dataset and for the
documents a plan would write; and the rules between documents that the schemas cannot state.

The schemas are the released 0.6 files that ngff-zarr ships (``ngff_zarr/spec/0.6/schemas``),
found without importing ngff-zarr, and resolved from a local registry keyed by their ``$id``s
(nothing is fetched). Each OME group is checked against the schema of each OME key it holds
(an image label against both the image and the label schema); the ``labels`` group, which has
no schema, by hand. Then what ome-zarr-models also checks: each level's transform maps its own
array path into the one coordinate system all levels share, a scale has one factor per axis,
each array's ``dimension_names`` are the axes' names, and a label image has its image's levels.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema import validators as jsonschema_validators
from referencing import Registry, Resource

from ngff_resave.checks.results import content_key, join_path

VERSION = "0.6"
# OME key -> schema file; an image label is also an image.
SCHEMA_OF_KEY = {
    "multiscales": "image",
    "image-label": "label",
    "plate": "plate",
    "well": "well",
    "bioformats2raw.layout": "bf2raw",
    "series": "ome",
}


class SchemasMissing(RuntimeError):
    """ngff-zarr, which carries the released 0.6 schemas, is not installed."""


def schema_folder() -> Path:
    spec = importlib.util.find_spec("ngff_zarr")
    if spec is None or not spec.submodule_search_locations:
        raise SchemasMissing("the OME-Zarr 0.6 schemas come with ngff-zarr, which is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "spec" / VERSION / "schemas"


def _canonical(value: Any) -> Any:
    """A JSON value in a form where values JSON Schema deems equal are equal (1 and 1.0; the
    order of an object's keys); true stays apart from 1."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    return value


def unique_items(
    validator: Any, unique: bool, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """``uniqueItems`` in one pass: jsonschema compares every pair of objects, which takes
    seconds for a plate's thousands of wells."""
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for item in instance:
        key = json.dumps(_canonical(item), sort_keys=True)
        if key in seen:
            yield ValidationError(f"{instance!r} has non-unique elements")
            return
        seen.add(key)


Validator = jsonschema_validators.extend(Draft202012Validator, {"uniqueItems": unique_items})


@cache
def validators() -> dict[str, Any]:
    """One validator per schema file, all sharing one registry of the folder's schemas."""
    schemas = [json.loads(p.read_text()) for p in sorted(schema_folder().glob("*.schema"))]
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas
    )
    return {
        schema["$id"].rsplit("/", 1)[1].removesuffix(".schema"): Validator(
            schema, registry=registry
        )
        for schema in schemas
    }


def _errors(name: str, attributes: dict[str, Any]) -> list[str]:
    found = sorted(validators()[name].iter_errors(attributes), key=lambda e: list(e.path))
    return [
        f"{name}.schema: {'/'.join(map(str, e.absolute_path)) or 'attributes'}: {e.message}"
        for e in found
    ]


def group_problems(attributes: dict[str, Any]) -> list[str]:
    """What the 0.6 schemas reject in one group's ``attributes`` (empty: none)."""
    ome = attributes.get("ome")
    if not isinstance(ome, dict):
        return []
    problems: list[str] = []
    names = [schema for key, schema in SCHEMA_OF_KEY.items() if key in ome]
    for name in names:
        problems += _errors(name, attributes)
    if "labels" in ome:
        labels = ome["labels"]
        if not (isinstance(labels, list) and all(isinstance(n, str) for n in labels)):
            problems.append("labels: ome.labels is not a list of names")
        if ome.get("version") != VERSION:
            problems.append(f"labels: ome.version is {ome.get('version')!r}, not {VERSION!r}")
    if not names and "labels" not in ome:
        problems.append(f"ome holds none of {', '.join(SCHEMA_OF_KEY)} or labels")
    return problems


def _multiscale_problems(
    multiscale: dict[str, Any], path: str, documents: dict[str, dict[str, Any] | None]
) -> list[str]:
    systems = {s.get("name"): s.get("axes", []) for s in multiscale.get("coordinateSystems", [])}
    outputs = set()
    problems = []
    for dataset in multiscale.get("datasets", []):
        level = dataset.get("path")
        for transform in dataset.get("coordinateTransformations", []):
            if transform.get("input") != {"path": level}:
                problems.append(f"level {level}: transform input {transform.get('input')}")
            output = (transform.get("output") or {}).get("name")
            outputs.add(output)
            axes = systems.get(output)
            if axes is None:
                problems.append(f"level {level}: output {output!r} is no coordinate system")
                continue
            steps = transform.get("transformations") or [transform]
            for step in steps:
                values = step.get(step.get("type"))
                if isinstance(values, list) and len(values) != len(axes):
                    problems.append(
                        f"level {level}: {step.get('type')} has {len(values)} values for "
                        f"{len(axes)} axes"
                    )
            array = documents.get(join_path(path, level)) or {}
            names = [a.get("name") for a in axes]
            if array and array.get("dimension_names") != names:
                problems.append(
                    f"level {level}: dimension_names {array.get('dimension_names')} are not "
                    f"the axes {names}"
                )
    if len(outputs) > 1:
        problems.append(f"levels map into different coordinate systems {sorted(map(str, outputs))}")
    return problems


def _schema_key(attributes: dict[str, Any]) -> bytes:
    """The attributes as the schemas see them: a multiscale's name is free text, so any string
    validates alike (a plate's thousands of fields then cost one validation)."""
    ome = attributes.get("ome")
    if isinstance(ome, dict) and isinstance(ome.get("multiscales"), list):
        unnamed = [
            {**m, "name": ""} if isinstance(m, dict) and isinstance(m.get("name"), str) else m
            for m in ome["multiscales"]
        ]
        attributes = {**attributes, "ome": {**ome, "multiscales": unnamed}}
    return content_key(attributes)


def schema_view(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """What :func:`hierarchy_problems` reads of the document at an array's path: of an array
    whose attributes hold no ``ome`` key (every array, as written), that it is there and its
    ``dimension_names``; of any other, all of it. Small enough to hand between processes."""
    if not document or document.get("node_type") != "array":
        return document
    attributes = document.get("attributes", {})
    if not isinstance(attributes, dict) or "ome" in attributes:
        return document
    return {"node_type": "array", "dimension_names": document.get("dimension_names")}


def _ome(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """A group's ``ome`` attributes; None for any other node, or one without them."""
    if not document or document.get("node_type") != "group":
        return None
    ome = document.get("attributes", {}).get("ome")
    return ome if isinstance(ome, dict) else None


def hierarchy_problems(
    documents: dict[str, dict[str, Any] | None],
    arrays: Callable[[], Mapping[str, dict[str, Any] | None]] | None = None,
) -> dict[str, list[str]]:
    """Per group path, what the 0.6 schemas and the rules between documents reject.
    ``arrays``: the documents of the arrays' paths that ``documents`` lacks (at least as
    :func:`schema_view` gives them), asked for once every group is checked against the
    schemas, as they may still be being read meanwhile."""
    verdicts: dict[bytes, list[str]] = {}

    def verdict(doc: dict[str, Any]) -> list[str]:
        attributes = doc.get("attributes", {})
        key = _schema_key(attributes)
        if key not in verdicts:
            verdicts[key] = group_problems(attributes)
        return verdicts[key]

    checked = {
        path: (doc, verdict(doc))
        for path, doc in documents.items()
        if doc is not None and _ome(doc) is not None
    }
    if arrays is not None:
        documents = {**documents, **arrays()}
    found: dict[str, list[str]] = {}
    for path, doc in documents.items():
        if doc is None or (ome := _ome(doc)) is None:
            continue
        known, problems = checked.get(path, (None, []))
        problems = list(problems if known is doc else verdict(doc))
        for multiscale in ome.get("multiscales", []):
            problems += _multiscale_problems(multiscale, path, documents)
        if "image-label" in ome and "multiscales" in ome:
            parent = documents.get(path.rsplit("/labels/", 1)[0] if "/labels/" in path else "")
            problems += _label_levels(ome, parent)
        found[path] = problems
    return found


def _label_levels(ome: dict[str, Any], parent: dict[str, Any] | None) -> list[str]:
    """A label image has as many levels as the image it labels."""
    image = ((parent or {}).get("attributes", {}).get("ome") or {}).get("multiscales")
    if not image:
        return []
    want = len(image[0].get("datasets", []))
    have = len(ome["multiscales"][0].get("datasets", []))
    return [] if want == have else [f"label has {have} levels, its image {want}"]
