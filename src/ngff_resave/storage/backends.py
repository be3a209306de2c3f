"""Which backend serves a path or URL. Kept apart from :mod:`.base`, which the backends import,
so that the interface never imports its implementations."""

from __future__ import annotations

from typing import Any

from ngff_resave.storage.base import Location, is_url
from ngff_resave.storage.fsspec_store import FsspecLocation
from ngff_resave.storage.local import LocalLocation


def open_location(text: str, storage_options: dict[str, Any] | None = None) -> Location:
    """The backend for ``text``: a local path or ``file://`` URL is local (made absolute), any
    other URL goes through fsspec."""
    text = text.rstrip("/")
    if text.startswith("file://"):
        text = text.removeprefix("file://")
    if is_url(text):
        return FsspecLocation(text, dict(storage_options or {}))
    return LocalLocation.from_path(text, storage_options)
