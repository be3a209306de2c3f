"""One storage layer for every read and write: local paths, and fsspec URLs (s3://, https://).

Planning, conversion and metadata only ever talk to a :class:`Location`, so a remote store plugs
in here without touching them. Local paths use the operating system directly: it is the
fastest way, and keeps short convert jobs from paying for importing fsspec and zarr.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import fsspec
    from zarr.abc.store import Store


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
        if text.startswith("file://"):
            text = text.removeprefix("file://")
        if not is_url(text):
            text = str(Path(text).absolute())
        return cls(text, dict(storage_options or {}))

    @property
    def is_local(self) -> bool:
        return not is_url(self.url)

    def child(self, path: str) -> str:
        """The full address of ``path`` below this root."""
        return posixpath.join(self.url, path) if path else self.url

    def _remote(self, path: str) -> tuple[fsspec.AbstractFileSystem, str]:
        import fsspec

        fs, root = fsspec.url_to_fs(self.url, **self.storage_options)
        return fs, posixpath.join(root, path) if path else root

    def exists(self, path: str = "") -> bool:
        if self.is_local:
            return os.path.exists(self.child(path))
        fs, full = self._remote(path)
        return bool(fs.exists(full))

    def read_bytes(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        try:
            if self.is_local:
                with open(self.child(path), "rb") as handle:
                    return handle.read()
            fs, full = self._remote(path)
            return bytes(fs.cat_file(full))
        except (FileNotFoundError, NotADirectoryError):
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

    def write_parts(self, path: str, parts: Iterable[bytes]) -> None:
        """Write a whole file from consecutive parts, so a reader never sees half a file:
        locally through a temporary name and a rename; an object store's put is whole already."""
        try:
            if self.is_local:
                self._write_local(self.child(path), parts)
            else:
                fs, full = self._remote(path)
                fs.pipe_file(full, b"".join(parts))
        except OSError as err:
            # The message names what was being written (a full disk is the output's problem).
            raise StorageError(f"cannot write {self.child(path)}: {err}") from err

    @staticmethod
    def _write_local(target: str, parts: Iterable[bytes]) -> None:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{os.path.dirname(target)}/.{os.path.basename(target)}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as handle:
                handle.writelines(parts)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def write_bytes(self, path: str, data: bytes) -> None:
        self.write_parts(path, [data])

    def write_json(self, path: str, value: Any) -> None:
        self.write_bytes(path, json.dumps(value, indent=2).encode() + b"\n")

    def delete(self, path: str) -> None:
        if self.is_local:
            try:
                os.unlink(self.child(path))
            except FileNotFoundError:
                pass
            return
        fs, full = self._remote(path)
        if fs.exists(full):
            fs.rm(full)

    def remove_tree(self) -> None:
        if self.is_local:
            shutil.rmtree(self.url, ignore_errors=True)
            return
        fs, full = self._remote("")
        if fs.exists(full):
            fs.rm(full, recursive=True)

    def list_dir(self, path: str = "") -> list[str]:
        """Names directly below ``path`` (empty when it does not exist)."""
        if self.is_local:
            try:
                return sorted(os.listdir(self.child(path)))
            except (FileNotFoundError, NotADirectoryError):
                return []
        fs, full = self._remote(path)
        try:
            entries = fs.ls(full, detail=False)
        except FileNotFoundError:
            return []
        return sorted(posixpath.basename(str(e).rstrip("/")) for e in entries)

    @property
    def can_list(self) -> bool:
        """Whether folders can be listed (plain HTTP servers and object stores behind HTTPS
        cannot, in general)."""
        return self.is_local or not self.url.startswith(("http://", "https://"))

    def list_entries(self, path: str = "") -> list[tuple[str, bool]]:
        """``(name, is_folder)`` for each entry directly below ``path``, sorted."""
        if self.is_local:
            try:
                with os.scandir(self.child(path)) as entries:
                    return sorted((e.name, e.is_dir()) for e in entries)
            except (FileNotFoundError, NotADirectoryError):
                return []
        fs, full = self._remote(path)
        try:
            entries = fs.ls(full, detail=True)
        except FileNotFoundError:
            return []
        return sorted(
            (posixpath.basename(str(e["name"]).rstrip("/")), e["type"] == "directory")
            for e in entries
        )

    def list_files(self, path: str = "") -> list[str]:
        """Every file below ``path``, relative to it, sorted (empty when nothing is there)."""
        root = self.child(path)
        if self.is_local:
            found = []
            for folder, _, names in os.walk(root):
                relative = os.path.relpath(folder, root)
                found += [n if relative == "." else f"{relative}/{n}" for n in names]
            return sorted(found)
        fs, full = self._remote(path)
        try:
            listed = fs.find(full)
        except FileNotFoundError:
            return []
        prefix = full.rstrip("/") + "/"
        return sorted(str(p)[len(prefix) :] for p in listed if str(p).startswith(prefix))

    def zarr_store(self, path: str = "", read_only: bool = True) -> Store:
        """A zarr-python store rooted at ``path`` below this location."""
        import zarr.storage

        if self.is_local:
            return zarr.storage.LocalStore(self.child(path), read_only=read_only)
        return zarr.storage.FsspecStore.from_url(
            self.child(path), storage_options=self.storage_options, read_only=read_only
        )


def write_local_json(path: str | Path, value: Any) -> None:
    """Write a JSON record atomically, so a crash never leaves a half record that looks done."""
    path = Path(path).absolute()
    Location(str(path.parent)).write_json(path.name, value)


def read_local_record(path: str | Path) -> dict[str, Any] | None:
    """A JSON record (a job's or a dataset's), or None when it is missing or not an object:
    a record that cannot be read stands for no finished work."""
    try:
        value = json.loads(Path(path).read_text())
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
    Location(str(path.parent)).write_bytes(path.name, data)
    return True
