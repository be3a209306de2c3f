"""JSON documents (``zarr.json``, records) to and from bytes, by orjson where it says the same.

A plate has thousands of documents; the standard library's indented encoder is pure Python
and took most of the time of writing them. orjson writes ``null`` for NaN and infinities,
refuses to write integers beyond 64 bits and reads them as floats, where the standard library
keeps them all: such documents go through the standard library, so no value changes.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
# 19 digits in a row may be an integer beyond 64 bits (or a long fraction: read alike by both).
# Found by mapping every digit to "0" and anything else to " ": ten times faster than a regular
# expression, which took 18 us of each of a plate's 20,001 documents.
_DIGITS_AS_ZEROS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_LONG_NUMBER = b"0" * 19


def encode_json(value: Any) -> bytes:
    """``value`` as indented JSON (two spaces, a final newline)."""
    try:
        data = orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        return _standard(value)
    # orjson writes null for None, NaN and infinities alike: where a null is written and a
    # float is not finite, the standard library tells them apart.
    return _standard(value) if b"null" in data and not _finite(value) else data


def encode_line(value: Any) -> str:
    """``value`` as compact JSON on one line."""
    try:
        data = orjson.dumps(value)
    except TypeError:
        data = None  # an integer beyond 64 bits
    if data is None or (b"null" in data and not _finite(value)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return data.decode()


def decode_json(data: bytes | str) -> Any:
    """The value of JSON text; NaN, infinities and integers beyond 64 bits as the standard
    library reads them. Raises ValueError when it is not JSON."""
    raw = data.encode() if isinstance(data, str) else data
    if _LONG_NUMBER in raw.translate(_DIGITS_AS_ZEROS):
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
    if b"null" in data and not _finite(value):
        return json.loads(json.dumps(value))
    return orjson.loads(data)


def _finite(value: Any) -> bool:
    """Whether no float in a JSON value is NaN or infinite."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return True


def _standard(value: Any) -> bytes:
    return json.dumps(value, indent=2).encode() + b"\n"
