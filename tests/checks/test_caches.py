"""Work done once per distinct document (a plate's thousands of documents have a few contents):
documents that differ in any one value are never taken as the same."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ngff_resave.checks import pixels, spec_schemas
from ngff_resave.checks.hierarchy import Nodes
from ngff_resave.checks.results import content_key
from ngff_resave.storage import open_location

ARRAY = {
    "zarr_format": 3,
    "node_type": "array",
    "shape": [2, 64, 64],
    "data_type": "uint16",
    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1, 64, 64]}},
    "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
    "fill_value": 0,
    "codecs": [
        {
            "name": "sharding_indexed",
            "configuration": {
                "chunk_shape": [1, 32, 32],
                "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
                "index_codecs": [
                    {"name": "bytes", "configuration": {"endian": "little"}},
                    {"name": "crc32c"},
                ],
                "index_location": "end",
            },
        }
    ],
    "dimension_names": ["c", "y", "x"],
    "attributes": {"stats": {"elapsed": 1.5}},
}


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (1, 1.0),
        (1, True),
        (0, False),
        (None, math.nan),
        (None, math.inf),
        (math.nan, "NaN"),
        (2**70, 2**70 + 1),
        ([1, 2], [2, 1]),
        ({"a": None}, {"a": "null"}),
        ("x", "x "),
    ],
)
def test_values_that_differ_have_different_keys(one, other):
    assert content_key({"v": one}) != content_key({"v": other})
    assert content_key({"v": one}) == content_key({"v": one})


def test_the_order_of_keys_makes_no_difference():
    assert content_key({"a": 1, "b": [None, 2]}) == content_key({"b": [None, 2], "a": 1})


def test_arrays_share_a_layout_but_where_a_value_differs():
    attributes_apart = {**ARRAY, "attributes": {"stats": {"elapsed": 2.5}}}
    assert pixels._layout(ARRAY) is pixels._layout(attributes_apart)
    for key, value in [
        ("fill_value", 1),
        ("shape", [2, 64, 65]),
        ("dimension_names", ["c", "y", None]),
        ("chunk_key_encoding", {"name": "default", "configuration": {"separator": "."}}),
    ]:
        other = {**ARRAY, key: value}
        layout = pixels._layout(other)
        assert layout is not pixels._layout(ARRAY)
        assert json.loads(json.dumps(layout.metadata.to_dict()))[key] == value
    start = json.loads(json.dumps(ARRAY))
    start["codecs"][0]["configuration"]["index_location"] = "start"
    assert pixels._layout(start).chain().shard.index_at_start  # type: ignore[union-attr]
    assert not pixels._layout(ARRAY).chain().shard.index_at_start  # type: ignore[union-attr]


def image_group(name: str, axis_type: str = "space") -> dict:
    axes = [{"name": "y", "type": axis_type}, {"name": "x", "type": "space"}]
    return {
        "zarr_format": 3,
        "node_type": "group",
        "attributes": {
            "ome": {
                "version": "0.6",
                "multiscales": [
                    {
                        "name": name,
                        "coordinateSystems": [{"name": "physical", "axes": axes}],
                        "datasets": [
                            {
                                "path": "0",
                                "coordinateTransformations": [
                                    {
                                        "type": "scale",
                                        "scale": [1.0, 1.0],
                                        "input": {"path": "0"},
                                        "output": {"name": "physical"},
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        },
    }


def test_groups_alike_but_for_one_value_are_judged_apart():
    documents = {
        "a": image_group("a"),
        "b": image_group("b"),
        "c": image_group("c", axis_type="no such type"),
    }
    problems = spec_schemas.hierarchy_problems(documents)
    assert problems["a"] == problems["b"] == []
    assert problems["c"] and all("image.schema" in p for p in problems["c"])


def test_an_unreadable_file_fails_its_read_alone(tmp_path):
    (tmp_path / "a").write_bytes(b"data")
    target = open_location(str(tmp_path))
    prototype = pixels.default_buffer_prototype()
    check = pixels._ArrayCheck.__new__(pixels._ArrayCheck)
    check.target = target
    found = pixels._read_local(prototype, (check, "a"))
    assert bytes(found.as_numpy_array()) == b"data"
    assert pixels._read_local(prototype, (check, "b")) is None
    (tmp_path / "d").mkdir()
    assert isinstance(pixels._read_local(prototype, (check, "d")), Exception)


def test_a_path_of_its_own_is_read_on_first_use(tmp_path: Path):
    (tmp_path / "zarr.json").write_text(json.dumps({"node_type": "group"}))
    nodes = Nodes(open_location(str(tmp_path)), [], threads=1)
    assert nodes.doc("") == {"node_type": "group"}
