"""The walk of a local listing, self-contained (the standard library's ``os`` and ``sys``
only): :class:`~ngff_resave.storage.local.LocalLocation` runs it in its own process, and the
helper processes that walk shares of a large listing run this file as a script, started without
the package (``python -I -S``: about 10 ms instead of its imports).

As a script it reads NUL-separated pairs of key prefix and folder on stdin and writes the keys
found under them on stdout, as NUL-separated bytes (no name holds a NUL): names the file system
encoding cannot decode come back as the caller's own walk would see them.
"""

from __future__ import annotations

import os
import sys
from typing import AnyStr


def walk(
    folders: list[tuple[AnyStr, AnyStr]],
    separator: AnyStr,
    keys: list[AnyStr],
    until: int | None = None,
) -> list[tuple[AnyStr, AnyStr]]:
    """Adds to ``keys`` the files under each (key prefix, folder), and returns the folders
    left unwalked. Names only, keys built as the walk goes: no stat of each file and no path
    arithmetic per folder (nested chunk keys make a folder per chunk row; a terabyte dataset
    holds millions of files). Like os.walk, links to folders are not followed. With ``until``,
    breadth first and only until that many folders are pending: alike subtrees, to share out."""
    while folders and (until is None or len(folders) < until):
        prefix, folder = folders.pop(-1 if until is None else 0)
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if not entry.is_dir():
                        keys.append(prefix + entry.name)
                    elif not entry.is_symlink():
                        folders.append((prefix + entry.name + separator, entry.path))
        except (FileNotFoundError, NotADirectoryError):
            continue
    return folders


def main() -> None:
    given = sys.stdin.buffer.read().split(b"\0")
    keys: list[bytes] = []
    walk(list(zip(given[0::2], given[1::2], strict=False)), b"/", keys)
    sys.stdout.buffer.write(b"\0".join(keys))


if __name__ == "__main__":
    main()
