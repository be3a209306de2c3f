"""The fsspec backend: every URL that is not a local path (s3://, https://, memory://, ...).

fsspec is imported only when a store is first used, so importing the storage package (which
every job does) stays fast.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ngff_resave.storage.base import (
    DEFAULT_CONCURRENCY,
    DEFAULT_RETRIES,
    LAYER_OPTIONS,
    Capabilities,
    Location,
    StorageError,
    StoredChecksum,
    StoredOtherwise,
)
from ngff_resave.storage.retries import describe, http_status, with_retries

if TYPE_CHECKING:
    import fsspec
    from zarr.abc.store import Store

# Plain HTTP servers (and object stores behind HTTPS) cannot list folders, in general.
_UNLISTABLE = ("http://", "https://")
# The largest object S3 takes in one PUT; a larger one goes up in parts, whose checksum is of
# the parts, and is read back.
_ONE_PUT = 5 * 2**30


T = TypeVar("T")


@dataclass(frozen=True)
class FsspecLocation(Location):
    """A root addressed by a URL that fsspec understands. ``storage_options`` go to fsspec, but
    the storage layer's own (``concurrency``, ``retries``); every request is retried after a
    transient failure (see :mod:`ngff_resave.storage.retries`)."""

    @property
    def fsspec_options(self) -> dict[str, Any]:
        return {k: v for k, v in self.storage_options.items() if k not in LAYER_OPTIONS}

    @property
    def io_concurrency(self) -> int:
        return int(self.storage_options.get("concurrency", DEFAULT_CONCURRENCY))

    @property
    def retries(self) -> int:
        return int(self.storage_options.get("retries", DEFAULT_RETRIES))

    def _retried(self, path: str, action: Callable[[], T]) -> T:
        return with_retries(action, self.retries, self.child(path), self.retry_count)

    @property
    def capabilities(self) -> Capabilities:
        # Decided from the URL alone: asking must not open a connection.
        return Capabilities(can_list=not self.url.startswith(_UNLISTABLE), atomic_put=True)

    def _fs(self, path: str) -> tuple[fsspec.AbstractFileSystem, str]:
        """The file system, and the full fsspec path of ``path`` on it."""
        import fsspec

        # fsspec caches file system instances, so this is cheap after the first call.
        fs, root = fsspec.url_to_fs(self.url, **self.fsspec_options)
        return fs, posixpath.join(root, path) if path else root

    def exists(self, path: str = "") -> bool:
        fs, full = self._fs(path)
        # fsspec's HTTP answers False for a failed request too, unless asked to be strict: a
        # 503 must be retried, not taken for a missing key.
        strict = {"strict": True} if self.url.startswith(_UNLISTABLE) else {}
        try:
            return bool(self._retried(path, lambda: fs.exists(full, **strict)))
        except Exception as err:
            raise StorageError(f"cannot look for {self.child(path)}: {describe(err)}") from err

    def read_bytes(self, path: str) -> bytes | None:
        fs, full = self._fs(path)
        # s3fs asks an object's size first (a HEAD) to read a large one in parallel ranges,
        # unless its folder was listed by that very client: one request, not two, per file.
        whole = {"max_concurrency": 1} if _is_s3(fs) else {}
        try:
            return bytes(self._retried(path, lambda: fs.cat_file(full, **whole)))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except Exception as err:
            raise StorageError(f"cannot read {self.child(path)}: {describe(err)}") from err

    def stored_checksum(self, path: str) -> StoredChecksum | None:
        """On S3: a HEAD of the key asking for its stored checksum (S3's additional checksums);
        elsewhere None."""
        fs, full = self._fs(path)
        if not _is_s3(fs):
            return None
        bucket, key, _ = fs.split_path(full)
        try:
            head = self._retried(
                path,
                lambda: fs.call_s3("head_object", Bucket=bucket, Key=key, ChecksumMode="ENABLED"),
            )
        except FileNotFoundError:
            raise
        except Exception as err:
            raise StorageError(f"cannot look at {self.child(path)}: {describe(err)}") from err
        return StoredChecksum(
            int(head["ContentLength"]), _crc32c(head.get("ChecksumCRC32C")), head.get("ETag")
        )

    def read_range(self, path: str, start: int, stop: int, version: str | None = None) -> bytes:
        """On S3 one ranged GET, with ``version`` (an ETag) sent as ``If-Match``: S3 answers 412
        when the object there is another one."""
        fs, full = self._fs(path)
        if stop <= start:
            return b""
        if not _is_s3(fs) or version is None:
            try:
                return bytes(self._retried(path, lambda: fs.cat_file(full, start=start, end=stop)))
            except FileNotFoundError:
                raise
            except Exception as err:
                raise StorageError(f"cannot read {self.child(path)}: {describe(err)}") from err
        bucket, key, _ = fs.split_path(full)

        async def get() -> bytes:
            response = await fs._call_s3(
                "get_object",
                Bucket=bucket,
                Key=key,
                Range=f"bytes={start}-{stop - 1}",
                IfMatch=version,
            )
            try:
                return bytes(await response["Body"].read())
            finally:
                response["Body"].close()

        from fsspec.asyn import sync

        try:
            data = self._retried(path, lambda: sync(fs.loop, get))
        except FileNotFoundError:
            raise
        except Exception as err:
            if http_status(err) == 412:
                raise StoredOtherwise(
                    f"{self.child(path)} is no longer the object of ETag {version}"
                ) from err
            raise StorageError(f"cannot read {self.child(path)}: {describe(err)}") from err
        if len(data) != stop - start:
            raise StorageError(
                f"cannot read {self.child(path)}: {len(data)} bytes of {start}-{stop} answered"
            )
        return data

    def write_parts(self, path: str, parts: Iterable[bytes]) -> None:
        # One put of the whole object: a reader sees the old object or the new one.
        fs, full = self._fs(path)
        data = b"".join(parts)
        try:
            self._retried(path, lambda: fs.pipe_file(full, data))
        except Exception as err:
            raise StorageError(f"cannot write {self.child(path)}: {describe(err)}") from err

    def write_proven(self, path: str, parts: Iterable[bytes]) -> bytes | None:
        """On S3: one PUT sending the CRC32C of the bytes (S3's additional checksums: S3 refuses
        a body that does not match it, answering BadDigest), then a HEAD of the key. Proven
        when the ETag there is the MD5 of the bytes sent: for an object of one PUT, S3 computes
        its ETag itself, the MD5 of the body it stored (an object encrypted with SSE-KMS or
        SSE-C has another ETag, and so have some S3-compatible stores: then the file is read
        back, None). The checksum the server keeps is not taken as proof: a server may keep
        the value sent without checking it against the body (moto does); it must still be the
        one sent, and the size the bytes', or :class:`StoredOtherwise` is raised."""
        fs, full = self._fs(path)
        data = b"".join(parts)
        if not _is_s3(fs) or len(data) >= _ONE_PUT:
            self.write_parts(path, [data])
            return None
        import google_crc32c

        sent = base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()
        bucket, key, _ = fs.split_path(full)
        with ThreadPoolExecutor(max_workers=1) as uploading:
            put = uploading.submit(
                self._retried,
                path,
                lambda: fs.pipe_file(
                    full, data, chunksize=_ONE_PUT, ChecksumAlgorithm="CRC32C", ChecksumCRC32C=sent
                ),
            )
            # The MD5 while the bytes go up (hashlib lets other threads run meanwhile).
            digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
            try:
                put.result()
            except Exception as err:
                raise StorageError(f"cannot write {self.child(path)}: {describe(err)}") from err
        try:
            head = self._retried(
                path,
                lambda: fs.call_s3("head_object", Bucket=bucket, Key=key, ChecksumMode="ENABLED"),
            )
        except Exception as err:
            raise StorageError(f"cannot look at {self.child(path)}: {describe(err)}") from err
        stored = head.get("ChecksumCRC32C")
        size = head.get("ContentLength")
        if size != len(data) or stored not in (None, sent):
            raise StoredOtherwise(
                f"{self.child(path)}: the server holds {size} bytes of CRC32C {stored} there, "
                f"the job wrote {len(data)} bytes of CRC32C {sent}"
            )
        if str(head.get("ETag") or "").strip('"') != digest:
            return None
        return data

    def delete(self, path: str) -> None:
        fs, full = self._fs(path)
        try:
            self._retried(path, lambda: fs.rm_file(full))
        except FileNotFoundError:
            pass
        except Exception as err:
            raise StorageError(f"cannot delete {self.child(path)}: {describe(err)}") from err

    def remove_tree(self) -> None:
        fs, full = self._fs("")
        if fs.exists(full):
            fs.rm(full, recursive=True)

    def list_dir(self, path: str = "") -> list[str]:
        return [name for name, _ in self.list_entries(path)]

    def list_entries(self, path: str = "") -> list[tuple[str, bool]]:
        fs, full = self._fs(path)
        try:
            entries = self._retried(path, lambda: fs.ls(full, detail=True))
        except (FileNotFoundError, NotADirectoryError):
            return []
        own = full.rstrip("/")
        return sorted(
            (posixpath.basename(str(e["name"]).rstrip("/")), e["type"] == "directory")
            for e in entries
            # Listing a file gives the file itself: like a local file, it has no entries.
            if str(e["name"]).rstrip("/") != own
        )

    def file_sizes(self, path: str = "") -> dict[str, int]:
        fs, full = self._fs(path)
        try:
            listed = self._retried(path, lambda: fs.find(full, detail=True))
        except FileNotFoundError:
            return {}
        prefix = full.rstrip("/") + "/"
        return {
            str(key)[len(prefix) :]: int(info.get("size") or 0)
            for key, info in listed.items()
            if str(key).startswith(prefix)
        }

    def zarr_store(self, path: str = "", read_only: bool = True) -> Store:
        import zarr.storage

        return zarr.storage.FsspecStore.from_url(
            self.child(path), storage_options=self.fsspec_options, read_only=read_only
        )

    def tensorstore_kvstore(self, path: str = "") -> dict[str, Any] | None:
        # Not yet: tensorstore reaches S3 and HTTP with its own drivers, added later.
        return None

    def clear_interrupted_writes(self, folders: list[str] | None = None) -> int:
        # Puts are whole objects: a killed writer leaves nothing behind.
        return 0


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _is_s3(fs: fsspec.AbstractFileSystem) -> bool:
    return "s3" in _protocols(fs)


def _crc32c(value: str | None) -> int | None:
    """S3's base64 CRC32C of a whole object; None for none, or for the checksum of the parts of
    a multipart upload (``...-N``), which is not the object's."""
    if not value or "-" in value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return int.from_bytes(raw, "big") if len(raw) == 4 else None
