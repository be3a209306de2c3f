"""OME-Zarr 0.6 inputs (tests/v06_inputs.py; and those ngff-zarr, ome-zarr-models and the
spec's own examples make): read with their coordinate systems and transforms as given, to 0.6
every way a 0.5 input goes (copied, linked, re-sharded, re-chunked, re-encoded, in place, into
S3), the output's metadata the input's; to 0.5 where 0.5 can say it, else refused naming the
transform; the pre-releases made the released form, each change a mend."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore as ts
import v06_inputs
import zarr
from conftest import (
    PYTHON_312,
    checks_on_python_3_12,
    convert_row,
    read_json,
    run_pipeline,
    settings_for,
)
from remote_servers import (  # noqa: F401 - fixtures
    http_folder_fixture,
    s3_bucket_fixture,
    s3_server_fixture,
)
from test_v05_inputs import (
    WAYS,
    assert_valid_06,
    engines,
    files,
    levels,
    snapshot,
)

from ngff_resave.cli.main import main
from ngff_resave.model.plan import read_plan
from ngff_resave.ome import v05 as write_05
from ngff_resave.ome.v06 import TransformError
from ngff_resave.records.ownership import ORIGINALS_ARCHIVE
from ngff_resave.source import v06
from ngff_resave.storage import open_location

KINDS = {
    "image": v06_inputs.image,
    "unsharded": lambda root: v06_inputs.image(root, sharded=False),
    "plate": v06_inputs.plate,
}


def assert_same_pixels(source: Path, output: Path) -> None:
    """Every array of the input read back equal from the output, by zarr-python and by
    tensorstore."""
    for path in levels(source):
        expected = zarr.open_array(source / path, mode="r")[...]
        np.testing.assert_array_equal(zarr.open_array(output / path, mode="r")[...], expected)
        store = ts.open({"driver": "zarr3", "kvstore": f"file://{output / path}"}).result()
        np.testing.assert_array_equal(store.read().result(), expected)


def group_attributes(root: Path) -> dict[str, dict[str, Any]]:
    """Each group's attributes, ``ome._creator`` (the writing tool's own) left out."""
    found = {}
    for path, document in v06_inputs.documents(root).items():
        if document.get("node_type") != "group":
            continue
        attributes = json.loads(json.dumps(document.get("attributes", {})))
        if isinstance(attributes.get("ome"), dict):
            attributes["ome"].pop("_creator", None)
        found[path] = attributes
    return found


def assert_same_metadata(source: Path, output: Path) -> None:
    """The output's group metadata is the input's (groups Zarr v3 needs and the input lacked,
    above a plate's wells, aside)."""
    want, got = group_attributes(source), group_attributes(output)
    assert {p: a for p, a in got.items() if p in want} == want
    assert all(not a for p, a in got.items() if p not in want)


# --- 1, 2: read as given; 0.6 to 0.6 every way ----------------------------------------


@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_06_inputs_convert_every_way_keeping_their_metadata(tmp_path, kind, way):
    source = KINDS[kind](tmp_path / "in.zarr")
    before = files(source)
    asked, engine = WAYS[way]
    output = tmp_path / "out.zarr"
    row = convert_row(tmp_path, source, output, ngff_version="0.6", **asked)
    assert row["valid"] == "True", row["error"]
    assert (row["input_version"], row["ngff_version"], row["mended"]) == ("0.6", "0.6", "")
    assert_same_pixels(source, output)
    assert_valid_06(output)
    assert_same_metadata(source, output)
    assert files(source) == before
    if engine is not None:
        assert engines(tmp_path) == {engine}
    for path in levels(source):
        wanted = read_json(source / path / "zarr.json")
        got = read_json(output / path / "zarr.json")
        # The arrays' documents are the input's, but where the change asks (their chunk grid
        # and codecs), and their attributes (the challenge's statistics).
        changed = {"attributes"}
        if way in ("reshard", "rechunk", "codec"):
            # Written again: its chunks and codecs as asked (and no empty storage_transformers).
            changed |= {"chunk_grid", "codecs", "storage_transformers"}
        assert {k: v for k, v in got.items() if k not in changed} == {
            k: v for k, v in wanted.items() if k not in changed
        }
        if way in ("copy", "links"):
            for name in (source / path).rglob("*"):
                if name.is_file() and name.name != "zarr.json":
                    copy = output / name.relative_to(source)
                    assert copy.read_bytes() == name.read_bytes()
                    assert os.path.samefile(copy, name) == (way == "links")


def test_06_metadata_is_read_as_given_every_transform_kept(tmp_path):
    """Coordinate systems, multiscale-wide transforms of every kind, names, omero and other
    keys, inside and beside ``ome``, come through as the input has them."""
    wide = [*v06_inputs.AFFINE, *v06_inputs.ROTATION, *v06_inputs.BY_DIMENSION]
    source = v06_inputs.image(tmp_path / "in.zarr", wide=wide)
    document = read_json(source / "zarr.json")
    document["attributes"]["ome"]["vendor"] = {"kept": "inside ome"}
    (source / "zarr.json").write_text(json.dumps(document))
    output = tmp_path / "out.zarr"
    row = convert_row(tmp_path, source, output, ngff_version="0.6", mode="reference")
    assert row["valid"] == "True", row["error"]
    assert_same_metadata(source, output)
    ome = read_json(output / "zarr.json")["attributes"]["ome"]
    assert ome["vendor"] == {"kept": "inside ome"}
    assert [s["name"] for s in ome["multiscales"][0]["coordinateSystems"]] == [
        "intrinsic",
        "parts",
        "rotated",
        "tilted",
    ]


# --- 3: pre-releases ----------------------------------------------------------------


@pytest.mark.parametrize("tag", v06.PRE_RELEASES)
def test_pre_release_06_is_written_as_released_06_each_change_a_mend(tmp_path, tag):
    released = v06_inputs.image(tmp_path / "released.zarr", wide=v06_inputs.BY_DIMENSION)
    source = v06_inputs.pre_release(
        v06_inputs.image(tmp_path / "in.zarr", wide=v06_inputs.BY_DIMENSION), tag
    )
    output = tmp_path / "out.zarr"
    row = convert_row(tmp_path, source, output, ngff_version="0.6")
    assert row["valid"] == "True", row["error"]
    assert (row["input_version"], row["ngff_version"]) == (tag, "0.6")
    mended = row["mended"]
    assert f"OME-Zarr {tag} pre-release" in mended and "3 groups tagged" in mended
    assert ("input/output strings written as objects" in mended) == (tag == "0.6.dev3")
    assert ("written as inputAxes/outputAxes" in mended) == (tag != "0.6rc0")
    # Written as released 0.6 says it.
    assert_same_metadata(released, output)
    assert_valid_06(output)
    assert_same_pixels(source, output)
    refused = convert_row(tmp_path / "strict", source, tmp_path / "out2.zarr", mend=False)
    assert refused["valid"] == "False" and f"OME-Zarr {tag} pre-release" in refused["error"]
    assert not (tmp_path / "out2.zarr").exists()


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            lambda ome: ome["multiscales"][0]["coordinateTransformations"][0].update(
                {"input": "s9"}
            ),
            "multiscales[0].coordinateTransformations[0].input 's9' names none of the "
            "multiscale's coordinate systems",
        ),
        (
            lambda ome: ome["multiscales"][0]["coordinateTransformations"][0].update(
                {"input_axes": ["y", "x"]}
            ),
            "multiscales[0].coordinateTransformations[0]: a scale transform with input_axes "
            "(a pre-release subspace of axes)",
        ),
    ],
)
def test_what_a_pre_release_cannot_say_in_06_is_refused_naming_group_and_key(
    tmp_path, change, said
):
    source = v06_inputs.pre_release(
        v06_inputs.image(tmp_path / "in.zarr", wide=v06_inputs.PHYSICAL_SCALE), "0.6.dev3"
    )
    label = source / "labels" / "cells" / "zarr.json"
    document = read_json(label)
    document["attributes"]["ome"]["multiscales"][0]["coordinateTransformations"] = [
        {"type": "scale", "scale": [1, 1, 1], "input": "intrinsic", "output": "intrinsic"}
    ]
    change(document["attributes"]["ome"])
    label.write_text(json.dumps(document))
    row = convert_row(tmp_path, source, tmp_path / "out.zarr", ngff_version="0.6")
    assert row["valid"] == "False"
    assert f"OME-Zarr 0.6.dev3 metadata at labels/cells: {said}" in row["error"], row["error"]
    assert not (tmp_path / "out.zarr").exists()


def test_in_place_pre_release_to_06_writes_metadata_only_and_can_be_undone(tmp_path):
    source = v06_inputs.pre_release(v06_inputs.image(tmp_path / "in.zarr"), "0.6.dev3")
    before, everything = files(source), snapshot(source)
    originals = {p: (source / p / "zarr.json").read_bytes() for p in v06_inputs.documents(source)}
    row = convert_row(tmp_path, source, source, ngff_version="0.6", mode="reference", in_place=True)
    assert row["valid"] == "True", row["error"]
    assert row["input_version"] == "0.6.dev3" and "0.6.dev3" in row["mended"]
    after = files(source)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {
        ".ngff-resave.json",
        "ro-crate-metadata.json",
        ORIGINALS_ARCHIVE,
    }
    changed = {k for k, v in snapshot(source).items() if everything.get(k) != v and k in everything}
    assert changed == {"zarr.json", "labels/zarr.json", "labels/cells/zarr.json"}
    assert_valid_06(source)
    # Planned again, the input is read from the documents kept: still the pre-release.
    again = convert_row(
        tmp_path / "again", source, source, ngff_version="0.6", mode="reference", in_place=True
    )
    assert again["valid"] == "True" and again["input_version"] == "0.6.dev3"
    assert main(["restore-in-place", str(source)]) == 0
    assert {p: (source / p / "zarr.json").read_bytes() for p in v06_inputs.documents(source)} == (
        originals
    )
    assert files(source) == before


# --- 4: 0.6 to 0.5 --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "wide"),
    [("image", None), ("plate", None), ("image", v06_inputs.PHYSICAL_SCALE)],
)
def test_06_is_written_as_05_where_05_can_say_it(tmp_path, kind, wide):
    source = (
        v06_inputs.image(tmp_path / "in.zarr", wide=wide)
        if kind == "image"
        else v06_inputs.plate(tmp_path / "in.zarr")
    )
    output = tmp_path / "out.zarr"
    row = convert_row(tmp_path, source, output, ngff_version="0.5", shards=[2, 64, 64])
    assert row["valid"] == "True", row["error"]
    assert (row["input_version"], row["ngff_version"]) == ("0.6", "0.5")
    validation = read_json(tmp_path / "results" / "d" / "validation.json")
    v05_checks = [c for c in validation["checks"] if c["check"].startswith("ome-zarr-models v05")]
    assert v05_checks and all(c["ok"] for c in v05_checks)
    assert_same_pixels(source, output)
    image = "A/1/0" if kind == "plate" else ""
    written = read_json(output / image / "zarr.json")["attributes"]["ome"]
    (multiscale,) = written["multiscales"]
    assert written["version"] == "0.5" and multiscale["axes"] == v06_inputs.AXES
    assert multiscale["datasets"][1]["coordinateTransformations"] == [
        {"type": "scale", "scale": [1.0, 1.0, 1.0]},
        {"type": "translation", "translation": [0.0, 0.25, 0.25]},
    ]
    if wide:
        assert multiscale["coordinateTransformations"] == [
            {"type": "scale", "name": "to physical", "scale": [1.0, 2.0, 2.0]}
        ]


@pytest.mark.parametrize(
    ("wide", "said"),
    [
        (v06_inputs.AFFINE, "transform 'tilt' (affine) has no OME-Zarr 0.5 form"),
        (v06_inputs.ROTATION, "transform (sequence of rotation, translation) has no OME-Zarr 0.5"),
        (v06_inputs.BY_DIMENSION, "transform (byDimension) has no OME-Zarr 0.5 form"),
        (
            [
                {
                    **v06_inputs.PHYSICAL_SCALE[0],
                    "output": {"name": "intrinsic", "path": "labels/cells"},
                }
            ],
            "transform 'to physical' links coordinate system 'intrinsic' of group 'labels/cells'",
        ),
    ],
)
def test_06_to_05_is_refused_at_planning_naming_the_transform(tmp_path, wide, said):
    source = v06_inputs.image(tmp_path / "in.zarr", wide=wide)
    row = convert_row(tmp_path, source, tmp_path / "out.zarr", ngff_version="0.5")
    assert row["valid"] == "False"
    assert (
        "would not be valid OME-Zarr 0.5: group (root): OME-Zarr 0.5: multiscales[0]"
        in (row["error"])
    )
    assert said in row["error"], row["error"]
    assert not (tmp_path / "out.zarr").exists()
    # The same row to 0.6 keeps them all; switched to 0.5 after, the plan is refused again.
    row = convert_row(tmp_path, source, tmp_path / "out.zarr", ngff_version="0.6")
    assert row["valid"] == "True", row["error"]
    row = convert_row(tmp_path, source, tmp_path / "out.zarr", ngff_version="0.5")
    assert row["valid"] == "False" and said in row["error"]


def test_05_reduction_names_what_05_cannot_hold():
    systems = [{"name": "intrinsic", "axes": v06_inputs.AXES}]
    level = {
        "path": "0",
        "coordinateTransformations": [
            {
                "type": "scale",
                "scale": [1, 1, 1],
                "input": {"path": "0"},
                "output": {"name": "intrinsic"},
            }
        ],
    }
    lonely = {
        "coordinateSystems": [*systems, {"name": "other", "axes": v06_inputs.AXES}],
        "datasets": [level],
    }
    with pytest.raises(TransformError, match="coordinate system 'other' would be lost"):
        write_05.from_06(lonely, "multiscales[0]")
    renamed = [{**a, "name": a["name"].upper()} for a in v06_inputs.AXES]
    other_axes = {
        "coordinateSystems": [*systems, {"name": "physical", "axes": renamed}],
        "datasets": [level],
        "coordinateTransformations": [
            {"type": "identity", "input": {"name": "intrinsic"}, "output": {"name": "physical"}}
        ],
    }
    with pytest.raises(TransformError, match="'physical' has other axes than 'intrinsic'"):
        write_05.from_06(other_axes, "multiscales[0]")
    inverse = {
        **other_axes,
        "coordinateSystems": [*systems, {"name": "physical", "axes": v06_inputs.AXES}],
    }
    inverse["coordinateTransformations"] = [
        {
            "type": "scale",
            "scale": [1, 2, 2],
            "input": {"name": "physical"},
            "output": {"name": "intrinsic"},
        }
    ]
    with pytest.raises(TransformError, match="maps 'physical' to 'intrinsic'"):
        write_05.from_06(inverse, "multiscales[0]")
    identity = {
        "coordinateSystems": systems,
        "datasets": [
            {
                **level,
                "coordinateTransformations": [
                    {"type": "identity", "input": {"path": "0"}, "output": {"name": "intrinsic"}}
                ],
            }
        ],
    }
    assert write_05.from_06(identity, "m")["datasets"][0]["coordinateTransformations"] == [
        {"type": "scale", "scale": [1.0, 1.0, 1.0]}
    ]


# --- 5: other writers ------------------------------------------------------------------


@pytest.mark.parametrize("sharded", [False, True], ids=["unsharded", "sharded"])
def test_06_written_by_ngff_zarr_to_06_and_05(tmp_path, sharded):
    import ngff_zarr

    data = np.random.default_rng(4).integers(0, 4000, (2, 96, 80), dtype=np.uint16)
    image = ngff_zarr.to_ngff_image(
        data, dims=["c", "y", "x"], scale={"y": 0.4, "x": 0.4}, translation={"y": 1.0, "x": 2.0}
    )
    multiscales = ngff_zarr.to_multiscales(image, scale_factors=[2], chunks=32)
    source = tmp_path / "in.ome.zarr"
    ngff_zarr.to_ngff_zarr(
        str(source), multiscales, version="0.6", **({"chunks_per_shard": 2} if sharded else {})
    )
    assert read_json(source / "zarr.json")["attributes"]["ome"]["version"] == "0.6"
    for version in ("0.6", "0.5"):
        output = tmp_path / version / "out.zarr"
        row = convert_row(tmp_path / version, source, output, ngff_version=version)
        assert row["valid"] == "True", row["error"]
        assert (row["input_version"], row["mended"]) == ("0.6", "")
        assert_same_pixels(source, output)
        if version == "0.6":
            assert_same_metadata(source, output)
            assert_valid_06(output)
            read_back = ngff_zarr.from_ngff_zarr(str(output), validate=True)
            np.testing.assert_array_equal(np.asarray(read_back.images[0].data), data)
        else:
            (multiscale,) = read_json(output / "zarr.json")["attributes"]["ome"]["multiscales"]
            assert [a["name"] for a in multiscale["axes"]] == ["c", "y", "x"]


@pytest.mark.parametrize("name", sorted(v06_inputs.SPEC_EXAMPLES))
def test_the_spec_s_06_examples_to_06_and_05(tmp_path, name):
    attributes, sizes, reducible = v06_inputs.SPEC_EXAMPLES[name]
    source = v06_inputs.from_example(
        tmp_path / "in.zarr", json.loads(json.dumps(attributes)), sizes
    )
    output = tmp_path / "06" / "out.zarr"
    row = convert_row(tmp_path / "06", source, output, ngff_version="0.6")
    assert row["valid"] == "True", row["error"]
    assert row["input_version"] == "0.6rc0" and "OME-Zarr 0.6rc0 pre-release" in row["mended"]
    released = json.loads(json.dumps(attributes))
    released["ome"]["version"] = "0.6"
    assert group_attributes(output)[""] == released
    assert_valid_06(output)
    assert_same_pixels(source, output)
    row = convert_row(tmp_path / "05", source, tmp_path / "05" / "out.zarr", ngff_version="0.5")
    assert (row["valid"] == "True") == reducible, row["error"]
    if not reducible:
        assert "transform 'transform-name' (mapAxis) has no OME-Zarr 0.5 form" in row["error"]


# ome-zarr-models 1.8's v06 classes writing an image with a label and a plate (under Python
# 3.12); argv: the folder to write into. Their own dumps are kept as they are (nulls for what a
# model leaves unset, which the reader mends), but the label's key: to_zarr dumps a model by
# its field names (image_label), which OME-Zarr spells image-label.
WRITE_WITH_OME_ZARR_MODELS = """
import sys
from pathlib import Path

import numpy as np
import zarr
from ome_zarr_models.v06 import HCS, Image, ImageLabel
from ome_zarr_models.v06.coordinate_transforms import Axis, CoordinateSystem
from ome_zarr_models.v06.hcs import HCSAttrs
from ome_zarr_models.v06.labels import LabelsAttrs
from ome_zarr_models.v06.well import WellAttrs
from pydantic_zarr.v3 import ArraySpec

root = Path(sys.argv[1])
AXES = (
    Axis(name="c", type="channel"),
    Axis(name="y", type="space", unit="micrometer"),
    Axis(name="x", type="space", unit="micrometer"),
)
CODECS = [
    {"name": "bytes", "configuration": {"endian": "little"}},
    {"name": "zstd", "configuration": {"level": 1}},
]
GRID = {"name": "regular", "configuration": {"chunk_shape": [1, 16, 16]}}


def image(seed, shape, dtype, name):
    data = np.random.default_rng(seed).integers(0, 200, shape, dtype=dtype)
    levels = [data, np.ascontiguousarray(data[:, ::2, ::2])]
    specs = [
        ArraySpec.from_array(a, chunk_grid=GRID, codecs=CODECS, dimension_names=["c", "y", "x"])
        for a in levels
    ]
    model = Image.new(
        array_specs=specs,
        paths=["s0", "s1"],
        scales=[[1.0, 0.5, 0.5], [1.0, 1.0, 1.0]],
        translations=[None, [0.0, 0.25, 0.25]],
        physical_coord_system=CoordinateSystem(name="physical", axes=AXES),
        name=name,
    )
    return model, levels


def write(model, path, levels):
    group = model.to_zarr(zarr.storage.LocalStore(root), path=path)
    for name, level in zip(["s0", "s1"], levels):
        group[name][...] = level
    return group


def group(path, attrs):
    ome = attrs.model_dump(mode="json", by_alias=True)
    zarr.open_group(str(root / path), mode="a", zarr_format=3).attrs.update({"ome": ome})


model, levels = image(1, (2, 48, 64), np.uint16, "image")
write(model, "image.ome.zarr", levels)
label, label_levels = image(2, (1, 48, 64), np.uint8, "cells")
attrs = label.attributes.model_dump(exclude_none=True)
attrs["ome"]["image-label"] = {"colors": [{"label-value": 1, "rgba": [255, 0, 0, 255]}]}
label = ImageLabel(attributes=attrs, members=label.members)
written = write(label, "image.ome.zarr/labels/cells", label_levels)
written.attrs.update({"ome": label.attributes.ome.model_dump(mode="json", by_alias=True)})
group("image.ome.zarr/labels", LabelsAttrs(version="0.6", labels=["cells"]))
wells = [("A", "1"), ("A", "2")]
for number, (row, column) in enumerate(wells):
    field, field_levels = image(10 + number, (2, 32, 32), np.uint16, row + column)
    write(field, f"plate.ome.zarr/{row}/{column}/0", field_levels)
    well = WellAttrs(version="0.6", well={"images": [{"path": "0"}]})
    group(f"plate.ome.zarr/{row}/{column}", well)
    zarr.open_group(str(root / "plate.ome.zarr" / row), mode="a", zarr_format=3)
plate = {
    "name": "plate",
    "rows": [{"name": "A"}],
    "columns": [{"name": "1"}, {"name": "2"}],
    "wells": [
        {"path": f"{r}/{c}", "rowIndex": 0, "columnIndex": i} for i, (r, c) in enumerate(wells)
    ],
    "field_count": 1,
}
group("plate.ome.zarr", HCSAttrs.model_validate({"version": "0.6", "plate": plate}))
# Read back by the classes themselves: what they wrote is theirs.
Image.from_zarr(zarr.open_group(str(root / "image.ome.zarr"), mode="r"))
HCS.from_zarr(zarr.open_group(str(root / "plate.ome.zarr"), mode="r"))
"""


@pytest.fixture(scope="module")
def ome_zarr_models_06(venv_312, tmp_path_factory) -> Path:
    """An image with a label and a plate, written by ome-zarr-models 1.8's v06 classes."""
    folder = tmp_path_factory.mktemp("ome-zarr-models-06")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [venv_312, "-c", WRITE_WITH_OME_ZARR_MODELS, folder],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


@pytest.mark.skipif(not PYTHON_312.exists(), reason=f"no Python 3.12 here ({PYTHON_312})")
@pytest.mark.parametrize("kind", ["image", "plate"])
def test_06_written_by_ome_zarr_models_to_06_and_05(tmp_path, kind, ome_zarr_models_06, venv_312):
    source = ome_zarr_models_06 / f"{kind}.ome.zarr"
    for version in ("0.6", "0.5"):
        output = tmp_path / version / "out.zarr"
        row = convert_row(tmp_path / version, source, output, ngff_version=version)
        assert row["valid"] == "True", row["error"]
        assert row["input_version"] == "0.6"
        # ome-zarr-models writes null for what a model leaves unset; 0.6's schemas take none.
        assert "OME-Zarr 0.6 keys without a value" in row["mended"]
        assert_same_pixels(source, output)
        plan = tmp_path / version / "results" / "d" / "plan.json"
        checks = checks_on_python_3_12(venv_312, plan, output)
        models = [c for c in checks if c["check"].startswith(f"ome-zarr-models v0{version[-1]}")]
        assert models and all(c["ok"] for c in checks), [c for c in checks if not c["ok"]]
        if version == "0.6":
            assert_valid_06(output)


# --- into S3, from HTTP -----------------------------------------------------------------


def test_a_06_image_is_resharded_into_s3(tmp_path, s3_server, s3_bucket):
    source = v06_inputs.image(tmp_path / "in.zarr")
    output = f"{s3_bucket}/out/image.ome.zarr"
    settings = settings_for("d", source, output, ngff_version="0.6", shards=[2, 64, 64])
    settings.output_storage = {"endpoint_url": s3_server.endpoint}
    result = run_pipeline(settings, tmp_path / "results")
    assert result.report.valid, result.report.failed
    assert result.plan.input_version == "0.6"
    location = open_location(output, settings.output_storage)
    ome = location.read_json("zarr.json")["attributes"]["ome"]
    assert {k: v for k, v in ome.items() if k != "_creator"} == read_json(source / "zarr.json")[
        "attributes"
    ]["ome"]
    for path in levels(source):
        got = zarr.open_array(location.zarr_store(path), mode="r", zarr_format=3)[...]
        np.testing.assert_array_equal(got, zarr.open_array(source / path, mode="r")[...])


def test_a_06_plate_behind_http_is_converted(tmp_path, http_folder):
    source = v06_inputs.plate(tmp_path / "served" / "plate.zarr")
    url = f"{http_folder(tmp_path / 'served')}/plate.zarr"
    output = tmp_path / "out.zarr"
    row = convert_row(tmp_path, url, output, ngff_version="0.6")
    assert row["valid"] == "True", row["error"]
    assert_same_pixels(source, output)
    assert_same_metadata(source, output)


def test_06_transform_parameters_in_an_array_are_copied_or_refused_behind_http(
    tmp_path, http_folder
):
    wide = [
        {
            "type": "displacements",
            "path": "coordinateTransformations/field",
            "interpolation": "linear",
            "input": {"name": "intrinsic"},
            "output": {"name": "warped"},
        }
    ]
    source = v06_inputs.image(tmp_path / "served" / "in.zarr", labels=False, wide=wide)
    field = zarr.create_array(
        str(source / "coordinateTransformations" / "field"),
        shape=(2, 48, 64, 3),
        chunks=(1, 48, 64, 3),
        dtype=np.float32,
        zarr_format=3,
    )
    field[...] = 0.5
    output = tmp_path / "out.zarr"
    row = convert_row(tmp_path, source, output, ngff_version="0.6")
    assert row["valid"] == "True", row["error"]
    np.testing.assert_array_equal(
        zarr.open_array(output / "coordinateTransformations" / "field", mode="r")[...], field[...]
    )
    url = f"{http_folder(tmp_path / 'served')}/in.zarr"
    row = convert_row(tmp_path / "http", url, tmp_path / "http" / "out.zarr", ngff_version="0.6")
    assert row["valid"] == "False"
    assert "its parameters are kept in the array 'coordinateTransformations/field'" in row["error"]


def test_06_plan_records_the_input_version_and_no_mends(tmp_path):
    source = v06_inputs.image(tmp_path / "in.zarr", labels=False)
    row = convert_row(tmp_path, source, tmp_path / "out.zarr", ngff_version="0.6")
    plan = read_plan(tmp_path / "results" / "d" / "plan.json")
    assert plan is not None and plan.input_version == "0.6" and not plan.mends
    assert plan.input_zarr_format == 3 and row["valid"] == "True"


# Every pair (plan, output) validated under Python 3.12 in one process: what each check found.
VALIDATE_MANY_312 = """
import json, sys
from pathlib import Path
import ome_zarr_models
from ngff_resave.checks.validation import validate_dataset
from ngff_resave.steps import load_plan
found = {}
for plan_path, output in json.loads(sys.argv[1]):
    plan, _ = load_plan(Path(plan_path))
    report = validate_dataset(plan.model_copy(update={"output": output}))
    found[output] = report.checks
print(json.dumps({"version": ome_zarr_models.__version__, "found": found}))
"""


def test_every_kind_of_06_input_passes_the_v06_classes_written_as_06(tmp_path, venv_312):
    """The 0.6 outputs of ngff-zarr's 0.6, the spec's examples and each pre-release, checked by
    ome-zarr-models 1.8's v06 classes too (the spec's schemas check them in the tests above)."""
    import ngff_zarr

    sources = {}
    data = np.random.default_rng(5).integers(0, 4000, (2, 64, 64), dtype=np.uint16)
    multiscales = ngff_zarr.to_multiscales(
        ngff_zarr.to_ngff_image(data, dims=["c", "y", "x"]), scale_factors=[2]
    )
    sources["ngff-zarr"] = tmp_path / "ngff-zarr.ome.zarr"
    ngff_zarr.to_ngff_zarr(
        str(sources["ngff-zarr"]), multiscales, version="0.6", chunks_per_shard=2
    )
    for name, (attributes, sizes, _) in v06_inputs.SPEC_EXAMPLES.items():
        sources[name] = v06_inputs.from_example(
            tmp_path / f"{name}.zarr", json.loads(json.dumps(attributes)), sizes
        )
    for tag in v06.PRE_RELEASES:
        image = v06_inputs.image(tmp_path / f"{tag}.zarr", wide=v06_inputs.PHYSICAL_SCALE)
        sources[tag] = v06_inputs.pre_release(image, tag)
    sources["plate"] = v06_inputs.plate(tmp_path / "plate.zarr")
    pairs = []
    for name, source in sources.items():
        work = tmp_path / "runs" / name
        row = convert_row(work, source, work / "out.zarr", ngff_version="0.6")
        assert row["valid"] == "True", (name, row["error"])
        pairs.append([str(work / "results" / "d" / "plan.json"), str(work / "out.zarr")])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [venv_312, "-c", VALIDATE_MANY_312, json.dumps(pairs)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["version"].startswith("1.8")
    for output, checks in found["found"].items():
        assert any(c["check"].startswith("ome-zarr-models v06") for c in checks), output
        assert all(c["ok"] for c in checks), (output, [c for c in checks if not c["ok"]])


def test_a_06_label_with_fewer_levels_than_its_image_gets_them_computed(tmp_path):
    """The label-levels mend writes the added level's transform as 0.6 has it: its own input,
    the levels' output, the scale grown by the level's size."""
    source = v06_inputs.image(tmp_path / "in.zarr")
    label = source / "labels" / "cells"
    document = read_json(label / "zarr.json")
    (multiscale,) = document["attributes"]["ome"]["multiscales"]
    multiscale["datasets"] = multiscale["datasets"][:1]
    (label / "zarr.json").write_text(json.dumps(document))
    for file in sorted((label / "1").rglob("*"), reverse=True):
        file.unlink() if file.is_file() else file.rmdir()
    (label / "1").rmdir()
    output = tmp_path / "out.zarr"
    row = convert_row(tmp_path, source, output, ngff_version="0.6")
    assert row["valid"] == "True", row["error"]
    assert "label has fewer levels than its image at labels/cells" in row["mended"]
    written = read_json(output / "labels" / "cells" / "zarr.json")["attributes"]["ome"]
    added = written["multiscales"][0]["datasets"][1]
    assert added["coordinateTransformations"] == [
        {
            "type": "scale",
            "scale": [1.0, 1.0, 1.0],
            "input": {"path": "1"},
            "output": {"name": "intrinsic"},
        }
    ]
    assert zarr.open_array(output / "labels" / "cells" / "1", mode="r").shape == (1, 24, 32)
