"""JSON documents (``zarr.json``, records) to and from bytes, by orjson where it says the same.

A plate has thousands of documents; the standard library's indented encoder is pure Python
and took most of the time of writing them. orjson writes ``null`` for NaN and infinities,
refuses to write integers beyond 64 bits and reads them as floats, where the standard library
keeps them all: such documents go through the standard library, so no value changes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
# 19 digits in a row may be an integer beyond 64 bits (or a long fraction: read alike by both).
_LONG_NUMBER = re.compile(rb"\d{19}")


def encode_json(value: Any) -> bytes:
    """``value`` as indented JSON (two spaces, a final newline)."""
    try:
        data = orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        return _standard(value)
    # orjson writes null for None, NaN and infinities alike: rare in these documents, and
    # where one is there, the standard library tells them apart.
    return _standard(value) if b"null" in data else data


def decode_json(data: bytes | str) -> Any:
    """The value of JSON text; NaN, infinities and integers beyond 64 bits as the standard
    library reads them. Raises ValueError when it is not JSON."""
    raw = data.encode() if isinstance(data, str) else data
    if _LONG_NUMBER.search(raw):
        return json.loads(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, strings, numbers, booleans, None)."""
    try:
        data = orjson.dumps(value)
    except TypeError:
        return json.loads(json.dumps(value))
    return json.loads(json.dumps(value)) if b"null" in data else orjson.loads(data)


def _standard(value: Any) -> bytes:
    return json.dumps(value, indent=2).encode() + b"\n"
