"""The storage interface every backend implements, and what all of them share.

Planning, conversion and metadata only ever talk to a :class:`Location`, so a new store (S3,
say) is one more subclass, not another branch in every method. Where backends really differ,
callers ask :class:`Capabilities` (or :meth:`Location.tensorstore_kvstore`) instead of asking
which backend they hold.
"""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ngff_resave.storage.documents import decode_json, encode_json
from ngff_resave.storage.retries import RetryCount

if TYPE_CHECKING:
    from zarr.abc.store import Store


S = TypeVar("S")
T = TypeVar("T")


class StorageError(RuntimeError):
    """A read or write failed; the message names the location."""


class StoredOtherwise(StorageError):
    """The server's checksum of an object just written is not the one of the bytes sent, or an
    object changed between two reads that must see the same one: the message names it."""


@dataclass(frozen=True)
class StoredChecksum:
    """What a store tells of an object without sending it (see
    :meth:`Location.stored_checksum`): its size, the CRC32C the store keeps with it (S3's
    additional checksum; None when it keeps another or none) and its version (S3's ETag), which
    :meth:`Location.read_range` can insist on."""

    size: int
    crc32c: int | None
    version: str | None = None


# How a job knows that storage holds a file it wrote (see :meth:`Location.write_proven`).
SERVER_CHECKSUM = "server checksum"
READ_BACK = "read back"


def is_url(text: str) -> bool:
    return "://" in text


# Options of the storage layer itself, beside the backend's own (fsspec's) in a location's
# storage options: requests in flight per job, and retries of a transient failure.
LAYER_OPTIONS = ("concurrency", "retries")
DEFAULT_CONCURRENCY = 32
DEFAULT_RETRIES = 5


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, where backends differ."""

    # Folders can be listed (plain HTTP servers cannot, in general).
    can_list: bool
    # A whole object is written in one request, so writes need no temporary files.
    atomic_put: bool


@dataclass(frozen=True)
class Location(ABC):
    """A directory-like root (an OME-Zarr dataset) addressed by a local path or a URL.

    ``path`` arguments are relative to the root, with ``/`` separators; ``""`` is the root.
    """

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # Requests retried after a transient failure (remote backends), for job records.
    retry_count: RetryCount = field(default_factory=RetryCount, compare=False, repr=False)

    # --- shared, implemented once ---

    def child(self, path: str) -> str:
        """The full address of ``path`` below this root."""
        return posixpath.join(self.url, path) if path else self.url

    @property
    def can_list(self) -> bool:
        """Whether folders can be listed."""
        return self.capabilities.can_list

    @property
    def local_path(self) -> str | None:
        """The absolute local folder of the root, or None when the store is not local."""
        return None

    def read_json(self, path: str) -> dict[str, Any] | None:
        """The JSON object in ``path``, or None when the file does not exist."""
        return self.parse_json(path, self.read_bytes(path))

    def parse_json(self, path: str, data: bytes | None) -> dict[str, Any] | None:
        """The JSON object in the bytes read from ``path`` (None for none)."""
        if data is None:
            return None
        try:
            value = decode_json(data)
        except ValueError as err:
            raise StorageError(f"{self.child(path)} is not valid JSON: {err}") from err
        if not isinstance(value, dict):
            raise StorageError(f"{self.child(path)} holds JSON but not an object")
        return value

    def write_bytes(self, path: str, data: bytes) -> None:
        self.write_parts(path, [data])

    def write_proven(self, path: str, parts: Iterable[bytes]) -> bytes | None:
        """``write_parts``, and the bytes written when the store itself vouches that the
        object now at ``path`` holds exactly them (a digest the server computed of the object,
        asked after the write, equal to the one of the bytes sent), so they need not be read
        back; None when the store cannot say (read the file back to know). Raises
        :class:`StoredOtherwise` when the store names another size or checksum. Here: None,
        reading back is cheap."""
        self.write_parts(path, parts)
        return None

    def stored_checksum(self, path: str) -> StoredChecksum | None:
        """The size and stored checksum of the file at ``path``, asked of the store without
        reading the file; None when the store cannot tell (read the file to know). Raises
        :class:`FileNotFoundError` when no file is there. Here: None, reading is cheap."""
        return None

    def read_range(self, path: str, start: int, stop: int, version: str | None = None) -> bytes:
        """Bytes ``start`` to ``stop`` (exclusive) of the file at ``path``; with ``version``
        (:attr:`StoredChecksum.version`), of that version of it only: raises
        :class:`StoredOtherwise` when another is there now. Raises :class:`FileNotFoundError`
        when no file is there. Here: the file read whole, cut."""
        data = self.read_bytes(path)
        if data is None:
            raise FileNotFoundError(self.child(path))
        return data[start:stop]

    @property
    def io_concurrency(self) -> int:
        """Requests worth having in flight at once: 1 where a request costs no round trip."""
        return 1

    @property
    def write_concurrency(self) -> int:
        """Writes worth having in flight at once (see :meth:`write_many`)."""
        return self.io_concurrency

    def write_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """``write_bytes`` of each (path, data), ``write_concurrency`` at a time, in no order:
        the caller orders what must be, by calling again."""
        self._each(lambda item: self.write_bytes(*item), items, self.write_concurrency)

    def read_many(self, paths: Sequence[str], limit: int | None = None) -> list[bytes | None]:
        """``read_bytes`` of each path, in order, ``limit`` (default ``io_concurrency``) at a
        time."""
        return self._each(self.read_bytes, paths, limit)

    def exists_many(self, paths: Sequence[str], limit: int | None = None) -> list[bool]:
        """``exists`` of each path, in order, ``limit`` (default ``io_concurrency``) at a time."""
        return self._each(self.exists, paths, limit)

    def _each(self, action: Callable[[S], T], paths: Sequence[S], limit: int | None) -> list[T]:
        workers = min(limit or self.io_concurrency, len(paths))
        if workers <= 1:
            return [action(path) for path in paths]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(action, paths))

    def write_json(self, path: str, value: Any) -> None:
        # These exact bytes are part of the output (outputs are compared byte for byte).
        self.write_bytes(path, encode_json(value))

    # --- per backend ---

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    @abstractmethod
    def exists(self, path: str = "") -> bool:
        """Whether a file or folder is at ``path``."""

    @abstractmethod
    def read_bytes(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist; other failures raise
        :class:`StorageError` naming the full address."""

    @abstractmethod
    def write_parts(self, path: str, parts: Iterable[bytes]) -> None:
        """Write a whole file from consecutive parts, so a reader never sees half a file;
        failures raise :class:`StorageError` naming the full address."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Delete one file; a missing one is fine."""

    @abstractmethod
    def remove_tree(self) -> None:
        """Delete the root and everything below it; a missing root is fine."""

    @abstractmethod
    def list_dir(self, path: str = "") -> list[str]:
        """Names directly below ``path``, sorted (empty when it does not exist)."""

    @abstractmethod
    def list_entries(self, path: str = "") -> list[tuple[str, bool]]:
        """``(name, is_folder)`` for each entry directly below ``path``, sorted."""

    def list_files(self, path: str = "") -> list[str]:
        """Every file below ``path``, relative to it, sorted (empty when nothing is there)."""
        return sorted(self.file_sizes(path))

    @abstractmethod
    def file_sizes(self, path: str = "") -> dict[str, int]:
        """The size in bytes of every file below ``path``, by its path relative to it."""

    @abstractmethod
    def zarr_store(self, path: str = "", read_only: bool = True) -> Store:
        """A zarr-python store rooted at ``path`` below this location."""

    @abstractmethod
    def tensorstore_kvstore(self, path: str = "") -> dict[str, Any] | None:
        """The tensorstore kvstore spec of the folder ``path`` (its path ends in ``/``), or
        None when tensorstore cannot reach this store."""

    @abstractmethod
    def clear_interrupted_writes(self, folders: list[str] | None = None) -> int:
        """Delete what killed writers left behind below the root (or only directly in
        ``folders``); how many files."""
