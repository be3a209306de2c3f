"""One storage layer for every read and write: local paths now, fsspec URLs (s3://, https://) later.

Planning, conversion and metadata only ever talk to a :class:`Location`, so a remote store plugs
in here without touching them.
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import zarr.storage
from fsspec.implementations.local import LocalFileSystem


class StorageError(RuntimeError):
    """A read or write failed; the message names the location."""


def is_url(text: str) -> bool:
    return "://" in text


@dataclass(frozen=True)
class Location:
    """A directory-like root (an OME-Zarr dataset) addressed by a local path or a URL."""

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def from_text(cls, text: str, storage_options: dict[str, Any] | None = None) -> Location:
        text = text.rstrip("/")
        if not is_url(text):
            text = str(Path(text).absolute())
        return cls(text, dict(storage_options or {}))

    @property
    def is_local(self) -> bool:
        return not is_url(self.url) or self.url.startswith("file://")

    @property
    def local_path(self) -> Path:
        if not self.is_local:
            raise StorageError(f"{self.url} is not a local path")
        return Path(self.url.removeprefix("file://"))

    def child(self, path: str) -> str:
        """The full address of ``path`` below this root."""
        return posixpath.join(self.url, path) if path else self.url

    def _fs(self) -> tuple[fsspec.AbstractFileSystem, str]:
        if self.is_local:
            return LocalFileSystem(), str(self.local_path)
        return fsspec.url_to_fs(self.url, **self.storage_options)

    def _full(self, path: str) -> tuple[fsspec.AbstractFileSystem, str]:
        fs, root = self._fs()
        return fs, posixpath.join(root, path) if path else root

    def exists(self, path: str = "") -> bool:
        fs, full = self._full(path)
        return bool(fs.exists(full))

    def read_bytes(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        fs, full = self._full(path)
        try:
            return bytes(fs.cat_file(full))
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StorageError(f"cannot read {self.child(path)}: {err}") from err

    def read_json(self, path: str) -> dict[str, Any] | None:
        data = self.read_bytes(path)
        if data is None:
            return None
        try:
            value = json.loads(data)
        except ValueError as err:
            raise StorageError(f"{self.child(path)} is not valid JSON: {err}") from err
        if not isinstance(value, dict):
            raise StorageError(f"{self.child(path)} holds JSON but not an object")
        return value

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a whole file; locally through a temporary name and a rename, so a reader
        never sees half a file (object stores give that by themselves)."""
        fs, full = self._full(path)
        if isinstance(fs, LocalFileSystem):
            target = Path(full)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            with open(tmp, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        else:
            fs.pipe_file(full, data)

    def write_json(self, path: str, value: Any) -> None:
        self.write_bytes(path, json.dumps(value, indent=2).encode() + b"\n")

    def delete(self, path: str) -> None:
        fs, full = self._full(path)
        if fs.exists(full):
            fs.rm(full)

    def remove_tree(self) -> None:
        fs, full = self._fs()
        if fs.exists(full):
            fs.rm(full, recursive=True)

    def list_dir(self, path: str = "") -> list[str]:
        """Names directly below ``path`` (empty when it does not exist)."""
        fs, full = self._full(path)
        try:
            entries = fs.ls(full, detail=False)
        except FileNotFoundError:
            return []
        return sorted(posixpath.basename(str(e).rstrip("/")) for e in entries)

    def zarr_store(self, path: str = "", read_only: bool = True) -> zarr.storage.StoreLike:
        """A zarr-python store rooted at ``path`` below this location."""
        if self.is_local:
            return zarr.storage.LocalStore(self.local_path / path, read_only=read_only)
        return zarr.storage.FsspecStore.from_url(
            self.child(path), storage_options=self.storage_options, read_only=read_only
        )


def local_output(path: str | Path) -> Path:
    """Create the parent folder of a local record file and return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def write_local_json(path: str | Path, value: Any) -> None:
    """Write a JSON record atomically, so a crash never leaves a half record that looks done."""
    Location.from_text(str(Path(path).absolute().parent)).write_json(Path(path).name, value)
