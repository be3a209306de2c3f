"""A thumbnail as the report keeps it: an RGB picture and what it shows, its PNG bytes, and
the card that stands in for a dataset without one. Apart from :mod:`.thumbnails`, which draws
them through zarr-python: the report's pages need these without importing it."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

THUMBNAIL_FILE = "thumbnail.png"
# zlib's level for thumbnail PNGs (see Thumbnail.png).
PNG_LEVEL = 3


@dataclass
class Thumbnail:
    """An RGB picture (height x width x 3, uint8) and what it shows."""

    pixels: np.ndarray
    shows: str

    def png(self) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        # Not optimize=True: five times the time for 1-2% smaller files, on every dataset. zlib
        # level 3, not Pillow's 6: measured 3-4 times faster and smaller too (a 1,536-well
        # plate's 1634 x 1090: 0.12 s, 1.50 MB against 0.37 s, 1.61 MB; a 512 x 512 image:
        # 0.06 s, 353 kB against 0.15 s, 475 kB). The same pixels either way.
        Image.fromarray(self.pixels, mode="RGB").save(
            buffer, format="PNG", compress_level=PNG_LEVEL
        )
        return buffer.getvalue()


def placeholder(text: str, size: tuple[int, int] = (160, 320)) -> Thumbnail:
    """A grey card with ``text``: what stands in for a dataset that has no picture."""
    from PIL import Image, ImageDraw

    card = Image.new("RGB", (size[1], size[0]), (90, 90, 90))
    draw = ImageDraw.Draw(card)
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > 48 and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    draw.multiline_text((8, 8), "\n".join(lines[:9]), fill=(255, 255, 255))
    return Thumbnail(np.asarray(card), text)
