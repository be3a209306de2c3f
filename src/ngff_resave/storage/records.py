"""Local JSON records (a job's, a dataset's) and other small local files, written atomically.

Records mark finished work, so a crash must never leave half a record that looks done; they go
through :class:`LocalLocation`'s temporary-name-and-rename writing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ngff_resave.storage.documents import decode_json
from ngff_resave.storage.local import LocalLocation


def write_local_json(path: str | Path, value: Any) -> None:
    """Write a JSON record atomically, so a crash never leaves a half record that looks done."""
    path = Path(path).absolute()
    LocalLocation(str(path.parent)).write_json(path.name, value)


def read_local_record(path: str | Path) -> dict[str, Any] | None:
    """A JSON record (a job's or a dataset's), or None when it is missing or not an object:
    a record that cannot be read stands for no finished work."""
    try:
        value = decode_json(Path(path).read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_local_bytes(path: str | Path, data: bytes, only_if_changed: bool = False) -> bool:
    """Write a local file atomically; with ``only_if_changed``, an identical file is left as it
    is (its time stamp too, so Snakemake does not redo what reads it). True when written."""
    path = Path(path).absolute()
    if only_if_changed:
        try:
            if path.read_bytes() == data:
                return False
        except FileNotFoundError:
            pass
    LocalLocation(str(path.parent)).write_bytes(path.name, data)
    return True


def read_local_bytes(path: str | Path) -> bytes | None:
    """A local file's bytes (a plan, an outcome), or None when it is missing."""
    path = Path(path).absolute()
    return LocalLocation(str(path.parent)).read_bytes(path.name)


def delete_local(path: str | Path) -> None:
    """Delete a local file (a record no longer true); a missing one is fine."""
    path = Path(path).absolute()
    LocalLocation(str(path.parent)).delete(path.name)
