"""Checking converted group attributes against the ``ome-zarr-models`` v05 classes at planning,
so metadata that OME-Zarr 0.5 rejects stops a dataset before any pixel is written."""

from __future__ import annotations

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
    """One line per group whose converted attributes the v05 models reject."""
    problems = []
    for path, attrs in groups.items():
        ome = ome_attributes(attrs).get("ome")
        model = attrs_model(ome) if ome else None
        if model is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model.model_validate(ome)
            except ValidationError as err:
                first = err.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                problems.append(f"{path or '(root)'}: {where}: {first['msg']}")
    return problems
