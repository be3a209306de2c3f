"""Links from an output to the input's chunk files, for referenced arrays in a new location:
hard links where the filesystem allows them, else symbolic links to the input file's resolved
path. Each link is made under a temporary name and renamed over the old one, so a chunk is
always either its old link or its new one."""

from __future__ import annotations

import errno
import logging
import os
import threading

from ngff_resave.storage.local import temporary_name

LOG = logging.getLogger(__name__)

# Why a hard link is refused by the filesystem rather than by this one file: another device,
# a filesystem without hard links, or a file at its link count limit.
HARD_LINK_REFUSED = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


class ChunkLinker:
    """Makes the links of one convert job; counts them by kind."""

    def __init__(self) -> None:
        self.hard_links_work = True
        self.counts = {"hard": 0, "symbolic": 0}
        self._lock = threading.Lock()
        self._folders: set[str] = set()

    def link(self, source: str, target: str) -> bool:
        """Make ``target`` a link to ``source``. A missing ``source`` is a chunk never written
        (read as the fill value): then no link, and none left from an earlier run, and False."""
        folder = os.path.dirname(target)
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
        tmp = os.path.join(folder, temporary_name(os.path.basename(target)))
        kind = self._hard_link(source, tmp)
        if kind is None:
            try:
                os.unlink(target)
            except FileNotFoundError:
                pass
            return False
        try:
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
        with self._lock:
            self.counts[kind] += 1
        return True

    def _hard_link(self, source: str, tmp: str) -> str | None:
        if self.hard_links_work:
            try:
                os.link(source, tmp)
                return "hard"
            except FileNotFoundError:
                return None
            except OSError as err:
                if err.errno not in HARD_LINK_REFUSED:
                    raise
                with self._lock:
                    if self.hard_links_work:
                        LOG.warning(
                            "hard links refused (%s: %s to %s): symbolic links from here on",
                            errno.errorcode.get(err.errno or 0, err.errno),
                            source,
                            tmp,
                        )
                    self.hard_links_work = False
        if not os.path.exists(source):
            return None
        os.symlink(os.path.realpath(source), tmp)
        return "symbolic"
