from ngff_resave.ome.attributes import group_metadata, ome_attributes


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
