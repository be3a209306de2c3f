"""OME-Zarr 0.6 outputs: written for every kind, checked by the spec's JSON schemas and the rules
between documents, read back by zarr-python, tensorstore and a 0.6 reader (ngff-zarr), and by
ome-zarr-models 1.8's v06 classes on Python 3.12 where this machine has it."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorstore as ts
import zarr
from conftest import (
    FIXTURE_KINDS,
    checks_on_python_3_12,
    read_json,
    run_pipeline,
    settings_for,
)
from jsonschema import Draft202012Validator

from ngff_resave.checks import spec_schemas
from ngff_resave.checks.validation import validate_dataset
from ngff_resave.steps import load_plan


def convert_06(source: Path, tmp_path: Path, name: str, **extra) -> Path:
    output = tmp_path / f"{name}.ome.zarr"
    run = run_pipeline(settings_for(name, source, output, ngff_version="0.6", **extra), tmp_path)
    assert run.report.valid, [c for c in run.report.checks if not c["ok"]]
    return output


def documents(root: Path) -> dict[str, dict]:
    return {
        "" if p.parent == root else str(p.parent.relative_to(root)): read_json(p)
        for p in root.rglob("zarr.json")
    }


@pytest.fixture(scope="module")
def image_06(examples, tmp_path_factory) -> Path:
    return convert_06(examples["image-with-labels"], tmp_path_factory.mktemp("v06"), "img")


@pytest.mark.parametrize("dataset", ["image-with-labels", "plate", "bioformats2raw"])
def test_every_example_kind_written_as_0_6_reads_back_identically(examples, tmp_path, dataset):
    output = convert_06(examples[dataset], tmp_path, dataset)
    docs = documents(output)
    assert docs[""]["attributes"]["ome"]["version"] == "0.6"
    assert not any(spec_schemas.hierarchy_problems(docs).values())
    arrays = [p for p, d in docs.items() if d["node_type"] == "array"]
    assert arrays
    for path in arrays:
        expected = zarr.open_array(examples[dataset] / path, mode="r", zarr_format=2)[...]
        np.testing.assert_array_equal(zarr.open_array(output / path, mode="r")[...], expected)
        store = ts.open({"driver": "zarr3", "kvstore": f"file://{output / path}"}).result()
        np.testing.assert_array_equal(store.read().result(), expected)


@pytest.mark.parametrize("name", sorted(FIXTURE_KINDS))
def test_every_challenge_fixture_written_as_0_6_passes_the_schemas(
    challenge_fixtures, tmp_path, name
):
    output = convert_06(challenge_fixtures / f"{name}.zarr", tmp_path, name)
    assert not any(spec_schemas.hierarchy_problems(documents(output)).values())


def test_a_0_6_reader_reads_the_image(image_06, examples):
    from ngff_zarr import from_ngff_zarr

    multiscales = from_ngff_zarr(str(image_06), validate=True)
    source = read_json(examples["image-with-labels"] / ".zattrs")["multiscales"][0]
    assert list(multiscales.images[0].dims) == [a["name"] for a in source["axes"]]
    assert len(multiscales.images) == len(source["datasets"])
    expected = zarr.open_array(examples["image-with-labels"] / "0", mode="r", zarr_format=2)
    np.testing.assert_array_equal(np.asarray(multiscales.images[0].data), expected[...])


def test_reference_mode_writes_0_6_over_the_input_chunks(examples, tmp_path):
    output = convert_06(examples["plate"], tmp_path, "plate-ref", mode="reference")
    docs = documents(output)
    assert docs[""]["attributes"]["ome"]["version"] == "0.6"
    assert not any(spec_schemas.hierarchy_problems(docs).values())


def damaged_copy(image: Path, tmp_path: Path, edit) -> Path:
    copy = tmp_path / "damaged.ome.zarr"
    shutil.copytree(image, copy)
    document = read_json(copy / "zarr.json")
    edit(document["attributes"]["ome"]["multiscales"][0])
    (copy / "zarr.json").write_text(json.dumps(document))
    return copy


def _string_input(multiscale):
    multiscale["datasets"][0]["coordinateTransformations"][0]["input"] = "0"


def _other_level_input(multiscale):
    multiscale["datasets"][0]["coordinateTransformations"][0]["input"] = {"path": "1"}


def _two_outputs(multiscale):
    multiscale["coordinateSystems"].append({**multiscale["coordinateSystems"][0], "name": "other"})
    multiscale["datasets"][1]["coordinateTransformations"][0]["output"] = {"name": "other"}


def _short_scale(multiscale):
    multiscale["datasets"][0]["coordinateTransformations"][0]["scale"].pop()


def _renamed_axis(multiscale):
    multiscale["coordinateSystems"][0]["axes"][-1]["name"] = "w"


def _axes_back(multiscale):
    multiscale["axes"] = multiscale.pop("coordinateSystems")[0]["axes"]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_string_input, "image.schema"),
        (_axes_back, "'coordinateSystems' is a required property"),
        (_other_level_input, "transform input {'path': '1'}"),
        (_two_outputs, "different coordinate systems"),
        (_short_scale, "values for"),
        (_renamed_axis, "dimension_names"),
    ],
)
def test_validation_names_what_breaks_0_6(image_06, tmp_path, edit, expected):
    damaged = damaged_copy(image_06, tmp_path, edit)
    problems = spec_schemas.hierarchy_problems(documents(damaged))[""]
    assert any(expected in p for p in problems), problems
    plan, _ = load_plan(image_06.parent / "img" / "plan.json")
    report = validate_dataset(plan.model_copy(update={"output": str(damaged)}))
    assert not report.valid
    assert "" in report.failed_groups
    assert any(expected in c["detail"] for c in report.checks if not c["ok"])


def test_label_levels_must_match_their_image(image_06, tmp_path):
    copy = tmp_path / "labels.ome.zarr"
    shutil.copytree(image_06, copy)
    label = copy / "labels" / "cells" / "zarr.json"
    document = read_json(label)
    document["attributes"]["ome"]["multiscales"][0]["datasets"].pop()
    label.write_text(json.dumps(document))
    problems = spec_schemas.hierarchy_problems(documents(copy))["labels/cells"]
    assert any("levels, its image" in p for p in problems), problems


def test_the_labels_group_is_checked_by_hand():
    good = {"ome": {"version": "0.6", "labels": ["cells"]}}
    assert spec_schemas.group_problems(good) == []
    bad = {"ome": {"version": "0.5", "labels": "cells"}}
    assert len(spec_schemas.group_problems(bad)) == 2


def test_ome_zarr_models_v06_classes_accept_every_kind_on_python_3_12(venv_312, examples, tmp_path):
    for dataset in ("image-with-labels", "plate", "bioformats2raw"):
        output = convert_06(examples[dataset], tmp_path, dataset)
        checks = checks_on_python_3_12(venv_312, tmp_path / dataset / "plan.json", output)
        assert any(c["check"].startswith("ome-zarr-models v06") for c in checks), dataset
        assert all(c["ok"] for c in checks), [c for c in checks if not c["ok"]]


def test_python_3_11_here_has_no_v06_classes():
    """The reason the 0.6 checks above need Python 3.12 (if this fails, ome-zarr-models has a
    v06 for 3.11: then run its classes here too)."""
    from ngff_resave.checks.hierarchy import model_module

    assert sys.version_info < (3, 12)
    assert model_module("0.6") is None
    assert model_module("0.5") is not None


def test_in_place_writes_0_6_beside_the_v2_files_and_switches_back(example_copy, tmp_path):
    source = example_copy("plate")
    v2_files = {
        str(p.relative_to(source)): p.read_bytes() for p in source.rglob("*") if p.is_file()
    }
    for version in ("0.6", "0.5"):
        settings = settings_for(
            "plate", source, source, mode="reference", in_place=True, ngff_version=version
        )
        run = run_pipeline(settings, tmp_path / "r")
        assert run.report.valid, run.report.failed
        assert read_json(source / "zarr.json")["attributes"]["ome"]["version"] == version
        for path, data in v2_files.items():  # the input's own files, untouched
            assert (source / path).read_bytes() == data, path
    wells = read_json(source / "A" / "1" / "zarr.json")["attributes"]["ome"]
    assert wells["version"] == "0.5"


def test_a_level_0_6_cannot_hold_is_refused_at_planning_naming_group_and_level(
    example_copy, tmp_path
):
    from ngff_resave.model.plan import PlanError

    source = example_copy("image-with-labels")
    attrs = read_json(source / ".zattrs")
    attrs["multiscales"][0]["datasets"][1]["coordinateTransformations"] = [
        {"type": "translation", "translation": [0, 0, 0, 0, 0]}
    ]
    (source / ".zattrs").write_text(json.dumps(attrs))
    settings = settings_for("bad", source, tmp_path / "bad.ome.zarr", ngff_version="0.6")
    with pytest.raises(
        PlanError, match=r"group \(root\): OME-Zarr 0.6: level 1: transforms"
    ) as info:
        run_pipeline(settings, tmp_path / "r")
    assert "dataset 'bad'" in str(info.value) and str(source) in str(info.value)
    assert not (tmp_path / "bad.ome.zarr" / "zarr.json").exists()


@pytest.mark.parametrize(
    "items",
    [
        [1, 1.0],
        [1, True],
        [0, False],
        [{"a": 1, "b": [1, 2]}, {"b": [1.0, 2], "a": 1}],
        [{"a": 1}, {"a": 2}],
        [[1, 2], [2, 1]],
        ["x", "x"],
        [None, None],
        [None, 0],
        [{"rowIndex": i % 7, "columnIndex": i // 7} for i in range(60)],
        [{"rowIndex": i % 7, "columnIndex": i // 7} for i in range(60)]
        + [{"rowIndex": 0, "columnIndex": 0}],
    ],
)
def test_unique_items_judges_as_jsonschema_does(items):
    schema = {"type": "array", "uniqueItems": True}
    ours = spec_schemas.Validator(schema).is_valid(items)
    assert ours == Draft202012Validator(schema).is_valid(items), items
