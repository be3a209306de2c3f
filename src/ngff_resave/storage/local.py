"""The local backend: operating-system calls on a folder.

It is the fastest way, and keeps short convert jobs from paying for importing fsspec and zarr
(zarr is imported only by :meth:`LocalLocation.zarr_store`).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ngff_resave.storage import walk as walk_script
from ngff_resave.storage.base import Capabilities, Location, StorageError
from ngff_resave.storage.walk import walk

if TYPE_CHECKING:
    from zarr.abc.store import Store

logger = logging.getLogger(__name__)

# Temporary names of atomic local writes: ``.{name}.{32 hex digits}.tmp`` next to the target.
# Other modules recognise leftovers of killed writers by this pattern, so it lives only here.
TEMPORARY_NAME = re.compile(r"^\..+\.[0-9a-f]{32}\.tmp$")

# The 32 digits: 16 random ones drawn once per process (again in a forked child), then a
# counter; unique across processes and threads without a system call per name (a uuid4 each
# read the system's random source, thousands of times per metadata pack).
_process_digits = os.urandom(8).hex()
_names = itertools.count()


def _new_process_digits() -> None:
    global _process_digits
    _process_digits = os.urandom(8).hex()


os.register_at_fork(after_in_child=_new_process_digits)


def temporary_name(name: str) -> str:
    """A fresh temporary name for writing ``name`` (it matches :data:`TEMPORARY_NAME`)."""
    # next() of a count is atomic under the interpreter lock: no two threads get one number.
    return f".{name}.{_process_digits}{next(_names):016x}.tmp"


_CAPABILITIES = Capabilities(can_list=True, atomic_put=False)

# A listing is shared out once this many folders are pending at the top of its walk: smaller
# trees are walked here (a helper takes about 10 ms to start). The kernel's work dominates a
# listing (opening and reading each folder) and threads do not share it out: os.scandir gives
# up the interpreter lock around every call, so two threads trade it back and forth. Processes
# do: a 1,536-well plate's 81,441 folders, about 0.7 s walked here alone, about 0.4 s with one
# helper when the second core is idle (no faster when it is busy).
_SHARED_FROM = 256
_MOST_HELPERS = 3


def _helpers() -> int:
    """Helper processes worth starting for a large listing: one per other core."""
    if not sys.executable:
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(cores - 1, _MOST_HELPERS)


def _helper_command() -> list[str]:
    """A helper process: walk.py run as a script, without the package or site packages."""
    return [sys.executable, "-I", "-S", str(walk_script.__file__)]


class _HelperWalk:
    """A share of a listing's folders walked by a helper process, while this one walks its
    own; should the helper fail (a folder it may not read, say), the share is walked here, so
    that the same error is raised as without helpers."""

    def __init__(self, share: list[tuple[str, str]]) -> None:
        self.share = share
        self.output: bytes | None = None
        self.thread: threading.Thread | None = None
        try:
            self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
                _helper_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError as err:
            logger.debug("no helper process for a listing (%s): walked here", err)
            self.process = None
            return
        # Its pipes are served by a thread: the share and the keys exceed a pipe's buffer.
        self.thread = threading.Thread(target=self._talk, daemon=True)
        self.thread.start()

    def _talk(self) -> None:
        assert self.process is not None
        given = b"\0".join(os.fsencode(p) + b"\0" + os.fsencode(f) for p, f in self.share)
        output, _ = self.process.communicate(given)
        self.output = output if self.process.returncode == 0 else None

    def keys(self) -> list[str]:
        if self.thread is not None:
            self.thread.join()
        if self.output is None:
            keys: list[str] = []
            walk(self.share, "/", keys, None)
            return keys
        return [os.fsdecode(key) for key in self.output.split(b"\0")] if self.output else []

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.thread is not None:
            self.thread.join()


@dataclass(frozen=True)
class LocalLocation(Location):
    """A local folder; ``url`` is its absolute path."""

    @classmethod
    def from_path(
        cls, path: str | Path, storage_options: dict[str, Any] | None = None
    ) -> LocalLocation:
        return cls(str(Path(path).absolute()), dict(storage_options or {}))

    @property
    def capabilities(self) -> Capabilities:
        return _CAPABILITIES

    @property
    def local_path(self) -> str:
        return self.url

    @property
    def write_concurrency(self) -> int:
        # Replacing a file by a rename waits on the disk (ext4 flushes the new file first):
        # a 1,536-well plate's 7,680 documents took 1.7-4.0 s one at a time, 1.5-1.6 s four
        # at a time.
        return 4

    def exists(self, path: str = "") -> bool:
        return os.path.exists(self.child(path))

    def read_bytes(self, path: str) -> bytes | None:
        # By file descriptor: a plate's tens of thousands of small documents pay for no
        # buffered file object each.
        try:
            descriptor = os.open(self.child(path), os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as err:
            raise StorageError(f"cannot read {self.child(path)}: {err}") from err
        try:
            parts = []
            wanted = max(os.fstat(descriptor).st_size + 1, 65536)
            # A short read of a regular file is its end: no second call to find it.
            while part := os.read(descriptor, wanted):
                parts.append(part)
                if len(part) < wanted:
                    break
            return parts[0] if len(parts) == 1 else b"".join(parts)
        except OSError as err:
            raise StorageError(f"cannot read {self.child(path)}: {err}") from err
        finally:
            os.close(descriptor)

    def write_parts(self, path: str, parts: Iterable[bytes]) -> None:
        # Through a temporary name and a rename, so the target is either old or whole.
        target = self.child(path)
        folder = os.path.dirname(target)
        tmp = f"{folder}/{temporary_name(os.path.basename(target))}"
        try:
            try:
                handle = open(tmp, "wb")  # noqa: SIM115 - closed below
            except FileNotFoundError:
                # The folder is made only when missing: a mkdir per file costs more than a
                # write of a small document.
                os.makedirs(folder, exist_ok=True)
                handle = open(tmp, "wb")  # noqa: SIM115 - closed below
            try:
                with handle:
                    handle.writelines(parts)
                os.replace(tmp, target)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        except OSError as err:
            # The message names what was being written (a full disk is the output's problem).
            raise StorageError(f"cannot write {target}: {err}") from err

    def delete(self, path: str) -> None:
        try:
            os.unlink(self.child(path))
        except FileNotFoundError:
            pass

    def remove_tree(self) -> None:
        shutil.rmtree(self.url, ignore_errors=True)

    def list_dir(self, path: str = "") -> list[str]:
        try:
            return sorted(os.listdir(self.child(path)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def list_entries(self, path: str = "") -> list[tuple[str, bool]]:
        try:
            with os.scandir(self.child(path)) as entries:
                return sorted((e.name, e.is_dir()) for e in entries)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def list_files(self, path: str = "") -> list[str]:
        keys: list[str] = []
        folders = [("", self.child(path))]
        helpers = _helpers()
        if helpers:
            folders = walk(folders, "/", keys, _SHARED_FROM)
        if not folders:
            return sorted(keys)
        shares = [folders[i :: helpers + 1] for i in range(helpers + 1)]
        walks = [_HelperWalk(share) for share in shares[1:]]
        try:
            walk(shares[0], "/", keys, None)
            for helper in walks:
                keys += helper.keys()
        finally:
            for helper in walks:
                helper.stop()
        return sorted(keys)

    def file_sizes(self, path: str = "") -> dict[str, int]:
        root = self.child(path)
        sizes = {}
        for folder, _, names in os.walk(root):
            relative = os.path.relpath(folder, root)
            for name in names:
                key = name if relative == "." else f"{relative}/{name}"
                sizes[key] = os.stat(os.path.join(folder, name)).st_size
        return sizes

    def zarr_store(self, path: str = "", read_only: bool = True) -> Store:
        import zarr.storage

        return zarr.storage.LocalStore(self.child(path), read_only=read_only)

    def tensorstore_kvstore(self, path: str = "") -> dict[str, Any]:
        return {"driver": "file", "path": self.child(path).rstrip("/") + "/"}

    def clear_interrupted_writes(self, folders: list[str] | None = None) -> int:
        removed = 0
        walked = (
            os.walk(self.url)
            if folders is None
            else ((self.child(f), [], self.list_dir(f)) for f in folders)
        )
        for folder, _, names in walked:
            for name in names:
                if TEMPORARY_NAME.match(name):
                    try:
                        os.unlink(os.path.join(folder, name))
                    except FileNotFoundError:
                        continue
                    removed += 1
        if removed:
            logger.info("removed %d temporary files of interrupted writes in %s", removed, self.url)
        return removed
