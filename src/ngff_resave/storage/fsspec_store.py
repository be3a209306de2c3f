"""The fsspec backend: every URL that is not a local path (s3://, https://, memory://, ...).

fsspec is imported only when a store is first used, so importing the storage package (which
every job does) stays fast.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ngff_resave.storage.base import Capabilities, Location, StorageError

if TYPE_CHECKING:
    import fsspec
    from zarr.abc.store import Store

# Plain HTTP servers (and object stores behind HTTPS) cannot list folders, in general.
_UNLISTABLE = ("http://", "https://")


@dataclass(frozen=True)
class FsspecLocation(Location):
    """A root addressed by a URL that fsspec understands; ``storage_options`` go to fsspec."""

    @property
    def capabilities(self) -> Capabilities:
        # Decided from the URL alone: asking must not open a connection.
        return Capabilities(can_list=not self.url.startswith(_UNLISTABLE), atomic_put=True)

    def _fs(self, path: str) -> tuple[fsspec.AbstractFileSystem, str]:
        """The file system, and the full fsspec path of ``path`` on it."""
        import fsspec

        # fsspec caches file system instances, so this is cheap after the first call.
        fs, root = fsspec.url_to_fs(self.url, **self.storage_options)
        return fs, posixpath.join(root, path) if path else root

    def exists(self, path: str = "") -> bool:
        fs, full = self._fs(path)
        return bool(fs.exists(full))

    def read_bytes(self, path: str) -> bytes | None:
        try:
            fs, full = self._fs(path)
            return bytes(fs.cat_file(full))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as err:
            raise StorageError(f"cannot read {self.child(path)}: {err}") from err

    def write_parts(self, path: str, parts: Iterable[bytes]) -> None:
        # One put of the whole object: a reader sees the old object or the new one.
        try:
            fs, full = self._fs(path)
            fs.pipe_file(full, b"".join(parts))
        except OSError as err:
            raise StorageError(f"cannot write {self.child(path)}: {err}") from err

    def delete(self, path: str) -> None:
        fs, full = self._fs(path)
        if fs.exists(full):
            fs.rm(full)

    def remove_tree(self) -> None:
        fs, full = self._fs("")
        if fs.exists(full):
            fs.rm(full, recursive=True)

    def list_dir(self, path: str = "") -> list[str]:
        return [name for name, _ in self.list_entries(path)]

    def list_entries(self, path: str = "") -> list[tuple[str, bool]]:
        fs, full = self._fs(path)
        try:
            entries = fs.ls(full, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        own = full.rstrip("/")
        return sorted(
            (posixpath.basename(str(e["name"]).rstrip("/")), e["type"] == "directory")
            for e in entries
            # Listing a file gives the file itself: like a local file, it has no entries.
            if str(e["name"]).rstrip("/") != own
        )

    def list_files(self, path: str = "") -> list[str]:
        fs, full = self._fs(path)
        try:
            listed = fs.find(full)
        except FileNotFoundError:
            return []
        prefix = full.rstrip("/") + "/"
        return sorted(str(p)[len(prefix) :] for p in listed if str(p).startswith(prefix))

    def zarr_store(self, path: str = "", read_only: bool = True) -> Store:
        import zarr.storage

        return zarr.storage.FsspecStore.from_url(
            self.child(path), storage_options=self.storage_options, read_only=read_only
        )

    def tensorstore_kvstore(self, path: str = "") -> dict[str, Any] | None:
        # Not yet: tensorstore reaches S3 and HTTP with its own drivers, added later.
        return None

    def clear_interrupted_writes(self) -> int:
        # Puts are whole objects: a killed writer leaves nothing behind.
        return 0
