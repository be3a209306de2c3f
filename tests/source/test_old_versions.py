"""OME-Zarr 0.1, 0.2 and 0.3 inputs (tests/old_versions.py): converted to 0.5 and 0.6 with
every inference recorded as a mend, pixels read back equal by zarr-python and tensorstore;
refused under ``mend: false``, and refused where the axes cannot be known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import old_versions
import pytest
import tensorstore as ts
import zarr
from conftest import convert_row, read_json

from ngff_resave.checks import spec_schemas
from ngff_resave.model.plan import read_plan
from ngff_resave.source.v01_v03 import level_scales, well_indices


def convert(tmp_path: Path, source: Path, **settings) -> dict:
    return convert_row(tmp_path, source, tmp_path / "d.ome.zarr", **settings)


def image_arrays(root: Path) -> list[str]:
    return sorted(
        str(p.parent.relative_to(root)) for p in root.rglob(".zarray") if p.parent != root
    )


CASES = {
    "0.1": (old_versions.image_v01, ["OME-Zarr 0.1 axes", "OME-Zarr 0.1 scales"]),
    "0.2-labels": (
        old_versions.image_v02_with_labels,
        ["OME-Zarr 0.2 axes", "OME-Zarr 0.2 scales"],
    ),
    "0.3-zyx": (
        lambda root: old_versions.image_v03(root, "zyx"),
        ["OME-Zarr 0.3 axes", "OME-Zarr 0.3 scales"],
    ),
    "0.3-cyx": (
        lambda root: old_versions.image_v03(root, "cyx"),
        ["OME-Zarr 0.3 axes", "OME-Zarr 0.3 scales"],
    ),
    "0.3-tyx": (
        lambda root: old_versions.image_v03(root, "tyx"),
        ["OME-Zarr 0.3 axes", "OME-Zarr 0.3 scales"],
    ),
    "0.3-plate": (
        old_versions.plate_v03,
        ["OME-Zarr 0.3 axes", "OME-Zarr 0.3 scales", "OME-Zarr 0.3 wells"],
    ),
}


@pytest.mark.parametrize("ngff_version", ["0.5", "0.6"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_old_versions_convert_with_every_inference_recorded(tmp_path, case, ngff_version):
    make, rules = CASES[case]
    source = make(tmp_path / "in.zarr")
    row = convert(tmp_path, source, ngff_version=ngff_version)
    assert row["valid"] == "True", row["error"]
    assert row["input_version"] == case[:3] and row["ngff_version"] == ngff_version
    plan = read_plan(tmp_path / "results" / "d" / "plan.json")
    assert plan.input_version == case[:3]
    assert set(rules) <= {m.rule for m in plan.mends}
    for rule in rules:
        assert rule in row["mended"]
    output = tmp_path / "d.ome.zarr"
    crate = read_json(output / "ro-crate-metadata.json")
    root = next(item for item in crate["@graph"] if item["@id"] == "./")
    assert all(any(rule in text for text in root["correction"]) for rule in rules)
    for path in image_arrays(source):
        expected = zarr.open_array(source / path, mode="r", zarr_format=2)[...]
        np.testing.assert_array_equal(zarr.open_array(output / path, mode="r")[...], expected)
        store = ts.open({"driver": "zarr3", "kvstore": f"file://{output / path}"}).result()
        np.testing.assert_array_equal(store.read().result(), expected)
    if ngff_version == "0.6":
        documents = {
            "" if p.parent == output else str(p.parent.relative_to(output)): read_json(p)
            for p in output.rglob("zarr.json")
        }
        assert not any(spec_schemas.hierarchy_problems(documents).values())


def test_axes_and_scales_are_inferred_as_the_spec_says(tmp_path):
    source = old_versions.image_v03(tmp_path / "in.zarr", "cyx")
    assert convert(tmp_path, source)["valid"] == "True"
    (multiscale,) = read_json(tmp_path / "d.ome.zarr" / "zarr.json")["attributes"]["ome"][
        "multiscales"
    ]
    assert multiscale["axes"] == [
        {"name": "c", "type": "channel"},
        {"name": "y", "type": "space"},
        {"name": "x", "type": "space"},
    ]
    scales = [d["coordinateTransformations"][0]["scale"] for d in multiscale["datasets"]]
    assert scales == [[1.0, 1.0, 1.0], [1.0, 2.0, 2.0], [1.0, 4.0, 4.0]]
    zarray = read_json(tmp_path / "d.ome.zarr" / "0" / "zarr.json")
    assert zarray["dimension_names"] == ["c", "y", "x"]


def test_plate_wells_get_their_indices_from_their_paths(tmp_path):
    source = old_versions.plate_v03(tmp_path / "in.zarr")
    assert convert(tmp_path, source)["valid"] == "True"
    plate = read_json(tmp_path / "d.ome.zarr" / "zarr.json")["attributes"]["ome"]["plate"]
    assert [(w["path"], w["rowIndex"], w["columnIndex"]) for w in plate["wells"]] == [
        ("A/1", 0, 0),
        ("B/2", 1, 1),
    ]


@pytest.mark.parametrize("case", ["0.1", "0.3-plate"])
def test_mend_false_refuses_the_inferences(tmp_path, case):
    make, rules = CASES[case]
    source = make(tmp_path / "in.zarr")
    row = convert(tmp_path, source, mend=False)
    assert row["valid"] == "False"
    assert "(mend: false)" in row["error"]
    assert all(rule in row["error"] for rule in rules), row["error"]
    assert not (tmp_path / "d.ome.zarr").exists()


def test_a_0_1_array_that_is_not_5d_is_refused_naming_it(tmp_path):
    source = old_versions.image_v01_4d(tmp_path / "in.zarr")
    row = convert(tmp_path, source)
    assert row["valid"] == "False"
    assert f"{source}/0" in row["error"] and "5D (t, c, z, y, x)" in row["error"]
    assert not (tmp_path / "d.ome.zarr").exists()


def test_unknown_versions_are_refused_naming_the_version(tmp_path):
    source = old_versions.image_v03(tmp_path / "in.zarr", "zyx")
    attrs = read_json(source / ".zattrs")
    attrs["multiscales"][0]["version"] = "0.3.1-dev"
    (source / ".zattrs").write_text(__import__("json").dumps(attrs))
    row = convert(tmp_path, source)
    assert row["valid"] == "False"
    assert "OME-Zarr version 0.3.1-dev" in row["error"]


def test_inference_helpers():
    assert level_scales([[1, 64, 48], [1, 32, 24], [1, 16, 12]]) == [
        [1.0, 1.0, 1.0],
        [1.0, 2.0, 2.0],
        [1.0, 4.0, 4.0],
    ]
    rows, columns = [{"name": "A"}, {"name": "B"}], [{"name": "1"}, {"name": "2"}]
    assert well_indices("B/1", rows, columns) == (1, 0)
    assert well_indices("2020-10-10/A/2", rows, columns) == (0, 1)
    assert well_indices("C/1", rows, columns) is None
