"""The local backend's large listings, shared out to helper processes, and its temporary names."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ngff_resave.storage import TEMPORARY_NAME, LocalLocation, temporary_name
from ngff_resave.storage import local as local_module


def _tree(root: Path) -> list[str]:
    """A tree wide enough to be shared out, with links, and the keys a listing gives of it."""
    keys = []
    for row in "AB":
        for column in range(12):
            for level in range(3):
                chunk = root / row / str(column) / str(level) / "c" / "0" / "0"
                chunk.mkdir(parents=True)
                (chunk / "0").write_bytes(b"x")
                (root / row / str(column) / str(level) / "zarr.json").write_bytes(b"{}")
                keys += [f"{row}/{column}/{level}/c/0/0/0", f"{row}/{column}/{level}/zarr.json"]
    (root / "zarr.json").write_bytes(b"{}")
    # A name the file system encoding cannot decode comes back as this process lists it.
    os.mkdir(os.path.join(os.fsencode(root), b"odd\xff"))
    with open(os.path.join(os.fsencode(root), b"odd\xff", b"n\xfe"), "wb") as handle:
        handle.write(b"x")
    # Links to folders are not followed; links to files, even broken ones, are files.
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "hidden").write_bytes(b"x")
    (root / "A" / "0" / "linked").symlink_to(outside)
    (root / "A" / "1" / "file-link").symlink_to(root / "zarr.json")
    (root / "B" / "2" / "broken").symlink_to(root / "missing")
    keys += ["zarr.json", os.fsdecode(b"odd\xff/n\xfe"), "A/1/file-link", "B/2/broken"]
    return sorted(keys)


@pytest.mark.parametrize("helpers", [0, 1, 3])
def test_shared_listing_gives_the_keys_of_one_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helpers: int
) -> None:
    expected = _tree(tmp_path / "data")
    monkeypatch.setattr(local_module, "_helpers", lambda: helpers)
    monkeypatch.setattr(local_module, "_SHARED_FROM", 8)
    walked = []
    real = local_module._HelperWalk.keys

    def counted(self: local_module._HelperWalk) -> list[str]:
        keys = real(self)
        walked.append(self.output is not None and len(keys))
        return keys

    monkeypatch.setattr(local_module._HelperWalk, "keys", counted)
    location = LocalLocation.from_path(tmp_path / "data")
    assert location.list_files() == expected
    assert location.list_files("A/1") == sorted(
        key[4:] for key in expected if key.startswith("A/1/")
    )
    assert location.list_files("missing") == []
    # The helpers did walk shares of it (the first listing's, at least).
    assert len(walked) >= helpers and all(walked)


def test_a_helper_that_fails_leaves_its_share_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _tree(tmp_path / "data")
    monkeypatch.setattr(local_module, "_helpers", lambda: 2)
    monkeypatch.setattr(local_module, "_SHARED_FROM", 8)
    location = LocalLocation.from_path(tmp_path / "data")
    python = sys.executable
    # A helper that cannot start, and one that stops without its keys.
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    assert location.list_files() == expected
    monkeypatch.setattr(sys, "executable", python)
    monkeypatch.setattr(
        local_module, "_helper_command", lambda: [python, "-c", "import sys; sys.exit(1)"]
    )
    assert location.list_files() == expected


def test_small_listings_start_no_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _tree(tmp_path / "data")
    monkeypatch.setattr(local_module, "_helpers", lambda: 1)

    def refused(self: local_module._HelperWalk, share: list[tuple[str, str]]) -> None:
        raise AssertionError("a helper for a small listing")

    monkeypatch.setattr(local_module._HelperWalk, "__init__", refused)
    assert LocalLocation.from_path(tmp_path / "data").list_files() == expected


def test_temporary_names_are_unique_across_threads_and_processes() -> None:
    with ThreadPoolExecutor(4) as pool:
        names = list(pool.map(lambda _: temporary_name("zarr.json"), range(4000)))
    assert len(set(names)) == len(names)
    assert all(TEMPORARY_NAME.match(name) for name in names)
    # A forked child draws digits of its own, so its counter's names are not this process's.
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, temporary_name("zarr.json").encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    theirs = os.read(read, 200).decode()
    os.close(read)
    ours = temporary_name("zarr.json")
    assert TEMPORARY_NAME.match(theirs)
    assert theirs.split(".")[-2][:16] != ours.split(".")[-2][:16]
