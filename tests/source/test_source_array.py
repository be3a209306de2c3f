"""A source array's sizes."""

from __future__ import annotations

from ngff_resave.source.layout import SourceArray


def _array(shape: list[int], dtype: str) -> SourceArray:
    return SourceArray(
        path="0",
        image="",
        level=0,
        shape=shape,
        dtype=dtype,
        chunks=[1] * len(shape),
        compressor=None,
        filters=None,
        order="C",
        fill_value=0,
        dimension_separator="/",
        dimension_names=[f"d{i}" for i in range(len(shape))],
    )


def test_nbytes_is_exact() -> None:
    assert _array([3, 1024, 1024], "<u2").nbytes == 6 * 1024 * 1024
    assert _array([], "<f8").nbytes == 8
    # Beyond 64 bits, not wrapped around.
    assert _array([2**40, 2**40], "<u2").nbytes == 2**81
