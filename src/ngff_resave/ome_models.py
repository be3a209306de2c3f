"""Checking converted group attributes against the ``ome-zarr-models`` v05 classes at planning,
so metadata that OME-Zarr 0.5 rejects stops a dataset before any pixel is written."""

from __future__ import annotations

import json
import warnings
from typing import Any

from ome_zarr_models import v05
from pydantic import ValidationError

from ngff_resave.metadata import ome_attributes


def attrs_model(ome: dict[str, Any]) -> Any:
    """The v05 attributes class for a group's ``ome`` block, or None for plain groups."""
    if "plate" in ome:
        return v05.hcs.HCSAttrs
    if "well" in ome:
        return v05.well.WellAttrs
    if "multiscales" in ome:
        return v05.image_label.ImageLabelAttrs if "image-label" in ome else v05.image.ImageAttrs
    if "labels" in ome:
        return v05.labels.LabelsAttrs
    if "bioformats2raw.layout" in ome:
        return v05.bioformats2raw.BioFormats2RawAttrs
    return None


def metadata_problems(groups: dict[str, dict[str, Any]]) -> list[str]:
    """One line per group whose converted attributes the v05 models reject. Groups with the
    same attributes (a plate's fields) are validated once."""
    problems = []
    verdicts: dict[str, str | None] = {}
    for path, attrs in groups.items():
        ome = ome_attributes(attrs).get("ome")
        model = attrs_model(ome) if ome else None
        if model is None or ome is None:
            continue
        key = f"{model.__name__} {_content_key(ome)}"
        if key not in verdicts:
            verdicts[key] = _first_problem(model, ome)
        if verdicts[key] is not None:
            problems.append(f"{path or '(root)'}: {verdicts[key]}")
    return problems


def _content_key(ome: dict[str, Any]) -> str:
    """The ``ome`` block as text, with multiscale names that are strings left out: any string
    validates alike, and writers put each image's own path there."""
    multiscales = ome.get("multiscales")
    if isinstance(multiscales, list):
        ome = {**ome, "multiscales": [
            {**m, "name": ""} if isinstance(m, dict) and isinstance(m.get("name"), str) else m
            for m in multiscales]}
    return json.dumps(ome, sort_keys=True)


def _first_problem(model: Any, ome: dict[str, Any]) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.model_validate(ome)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return f"{where}: {first['msg']}"
    return None
