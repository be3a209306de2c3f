"""storage.documents against the standard library: the same values back, whatever the encoder
chose, and the standard library's own text where orjson would change a value."""

import json
import math

import pytest

from ngff_resave.storage import copy_json, decode_json, encode_json, encode_line

VALUES = [
    {"zarr_format": 3, "node_type": "group", "attributes": {"ome": {"version": "0.6"}}},
    {"shape": [1, 2, 3], "fill_value": 0, "scale": [0.5, 1e-07, 123456.789]},
    {"name": "Zelle µm ✓", "nested": [[], {}, [{"a": [True, False]}]]},
    {"big": 2**70, "small": -(2**63)},
    {"none": None, "label": "x"},
]


@pytest.mark.parametrize("value", VALUES)
def test_encoded_documents_read_back_as_the_value(value):
    data = encode_json(value)
    assert data.endswith(b"\n")
    assert json.loads(data) == value
    assert decode_json(data) == value
    assert copy_json(value) == value
    line = encode_line(value)
    assert "\n" not in line
    assert json.loads(line) == value


def test_an_encoded_document_is_indented_by_two_spaces():
    assert encode_json({"a": [1]}) == json.dumps({"a": [1]}, indent=2).encode() + b"\n"


@pytest.mark.parametrize("special", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_kept_not_made_null(special):
    value = {"fill": special, "list": [1.0, special]}
    data = encode_json(value)
    assert data == json.dumps(value, indent=2).encode() + b"\n"
    back = decode_json(data)
    copied = copy_json(value)
    for result in (back, copied, json.loads(encode_line(value))):
        assert result["fill"] is not None
        assert (math.isnan(result["fill"]) and math.isnan(special)) or result["fill"] == special


@pytest.mark.parametrize("where", ["top", "nested"])
def test_nan_beside_null_is_kept_apart_from_it(where):
    special = {"x": math.nan} if where == "top" else {"x": [{"y": [1, math.nan]}]}
    value = {"missing": None, **special}
    data = encode_json(value)
    assert data == json.dumps(value, indent=2).encode() + b"\n"
    for result in (decode_json(data), copy_json(value)):
        assert result["missing"] is None
        found = result["x"] if where == "top" else result["x"][0]["y"][1]
        assert math.isnan(found)


def test_a_copy_is_deep():
    value = {"a": {"b": [1, 2]}}
    copied = copy_json(value)
    copied["a"]["b"].append(3)
    assert value == {"a": {"b": [1, 2]}}


@pytest.mark.parametrize(
    "text",
    [
        b'{"n": 123456789012345678901234567890}',
        b'{"n": [1, -18446744073709551617]}',
        b'{"a": "12345678901234567890123", "n": 18446744073709551616}',
    ],
)
def test_integers_beyond_64_bits_are_read_exactly(text):
    # repr, not ==: 2**64 read as a float compares equal to the integer.
    assert repr(decode_json(text)) == repr(json.loads(text))


def test_text_that_is_not_json_is_refused():
    with pytest.raises(ValueError):
        decode_json(b"{not json")
