import pytest

from ngff_resave.checks import spec_schemas
from ngff_resave.model.patterns import NGFF_VERSIONS
from ngff_resave.ome.attributes import (
    WRITERS,
    group_metadata,
    multiscale_axes,
    ome_attributes,
)
from ngff_resave.ome.v06 import TransformError


def test_versions_move_to_ome_once_per_group():
    attrs = {
        "multiscales": [{"version": "0.4", "axes": [], "datasets": []}],
        "omero": {"channels": []},
        "image-label": {"version": "0.4", "colors": []},
        "custom": {"kept": True},
        "_creator": {"name": "someone else"},
    }
    out = ome_attributes(attrs, notes="converted in a test")
    ome = out["ome"]
    assert ome["version"] == "0.5"
    assert "version" not in ome["multiscales"][0]
    assert "version" not in ome["image-label"]
    assert ome["omero"] == {"channels": []}
    assert ome["_creator"]["name"] == "ngff-resave"
    assert ome["_creator"]["notes"] == "converted in a test"
    assert out["custom"] == {"kept": True}
    assert attrs["multiscales"][0]["version"] == "0.4"  # the input dict is not modified


def test_plate_keeps_a_version_well_loses_it():
    plate = ome_attributes({"plate": {"version": "0.4", "wells": []}})
    assert plate["ome"]["plate"]["version"] == "0.5"
    well = ome_attributes({"well": {"version": "0.4", "images": []}})
    assert "version" not in well["ome"]["well"]


def test_plain_groups_get_no_ome_block():
    assert group_metadata({}) == {"zarr_format": 3, "node_type": "group", "attributes": {}}
    assert ome_attributes({"bioformats2raw.layout": 3})["ome"]["bioformats2raw.layout"] == 3
    assert ome_attributes({"series": ["0"]})["ome"]["series"] == ["0"]


# --- OME-Zarr 0.6 -------------------------------------------------------------------------

AXES = [
    {"name": "c", "type": "channel"},
    {"name": "y", "type": "space", "unit": "micrometer"},
    {"name": "x", "type": "space", "unit": "micrometer"},
]


def image_04(**multiscale_extra):
    return {
        "multiscales": [
            {
                "version": "0.4",
                "name": "cells",
                "axes": AXES,
                "datasets": [
                    {"path": "0", "coordinateTransformations": [scale(1.0)]},
                    {
                        "path": "1",
                        "coordinateTransformations": [
                            scale(2.0),
                            {"type": "translation", "translation": [0.0, 0.5, 0.5]},
                        ],
                    },
                ],
                "type": "gaussian",
                "metadata": {"method": "mean"},
                **multiscale_extra,
            }
        ],
        "omero": {"channels": [{"label": "DAPI", "active": True, "color": "0000FF"}]},
        "custom": {"kept": True},
    }


def scale(factor):
    return {"type": "scale", "scale": [1.0, 0.5 * factor, 0.5 * factor]}


def test_v06_levels_name_their_array_and_the_intrinsic_system():
    ome = ome_attributes(image_04(), "0.6")["ome"]
    assert ome["version"] == "0.6"
    (multiscale,) = ome["multiscales"]
    assert "version" not in multiscale and "axes" not in multiscale
    assert multiscale["coordinateSystems"] == [{"name": "intrinsic", "axes": AXES}]
    first, second = (d["coordinateTransformations"] for d in multiscale["datasets"])
    assert first == [{**scale(1.0), "input": {"path": "0"}, "output": {"name": "intrinsic"}}]
    assert second == [
        {
            "type": "sequence",
            "input": {"path": "1"},
            "output": {"name": "intrinsic"},
            "transformations": [
                scale(2.0),
                {"type": "translation", "translation": [0.0, 0.5, 0.5]},
            ],
        }
    ]
    # Everything else the input had is kept, omero included (ome-zarr-models' own
    # to_version("0.6") drops it).
    assert multiscale["name"] == "cells" and multiscale["metadata"] == {"method": "mean"}
    assert ome["omero"]["channels"][0] == {"label": "DAPI", "active": True, "color": "0000FF"}
    assert ome_attributes(image_04(), "0.6")["custom"] == {"kept": True}
    assert spec_schemas.group_problems(ome_attributes(image_04(), "0.6")) == []


def test_v06_multiscale_transforms_lead_to_a_physical_system():
    wide = [{"type": "scale", "scale": [1.0, 2.0, 2.0]}]
    (multiscale,) = ome_attributes(image_04(coordinateTransformations=wide), "0.6")["ome"][
        "multiscales"
    ]
    assert [s["name"] for s in multiscale["coordinateSystems"]] == ["intrinsic", "physical"]
    assert multiscale["coordinateTransformations"] == [
        {**wide[0], "input": {"name": "intrinsic"}, "output": {"name": "physical"}}
    ]
    attributes = ome_attributes(image_04(coordinateTransformations=wide), "0.6")
    assert spec_schemas.group_problems(attributes) == []


def test_v06_drops_every_per_object_version():
    colors = [{"label-value": 1, "rgba": [255, 0, 0, 255]}]
    label = ome_attributes(
        {**image_04(), "image-label": {"version": "0.4", "colors": colors}}, "0.6"
    )
    assert "version" not in label["ome"]["image-label"]
    plate = {"version": "0.4", "rows": [{"name": "A"}], "columns": [{"name": "1"}]}
    plate["wells"] = [{"path": "A/1", "rowIndex": 0, "columnIndex": 0}]
    assert "version" not in ome_attributes({"plate": plate}, "0.6")["ome"]["plate"]
    well = ome_attributes({"well": {"version": "0.4", "images": [{"path": "0"}]}}, "0.6")
    assert "version" not in well["ome"]["well"]
    for attributes in (label, ome_attributes({"plate": plate}, "0.6"), well):
        assert spec_schemas.group_problems(attributes) == [], attributes


def test_v06_refuses_a_level_transform_it_has_no_form_for():
    attrs = image_04()
    attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"] = [
        {"type": "translation", "translation": [0, 0, 0]}
    ]
    with pytest.raises(TransformError, match="translation"):
        ome_attributes(attrs, "0.6")


def test_the_axes_of_a_written_multiscale_in_either_version():
    for version in NGFF_VERSIONS:
        (multiscale,) = ome_attributes(image_04(), version)["ome"]["multiscales"]
        assert multiscale_axes(multiscale) == AXES, version


def test_one_writer_per_version_the_sheet_accepts():
    assert tuple(WRITERS) == NGFF_VERSIONS
