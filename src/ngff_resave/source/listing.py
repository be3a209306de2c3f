"""What an input array's folder holds, from one listing of the dataset: which chunk (or shard)
files exist, under which key form, and which files are no chunk of the array at all.

The metadata says how keys are spelled (a Zarr v2 ``dimension_separator``, a Zarr v3
``chunk_key_encoding``), but old writers stored nested keys without saying so. Reading the keys
the metadata implies would then find nothing and convert an empty array. So the key form is
decided from the files themselves, whichever chunks exist, and every file that is no chunk of
the array (a stray file, a chunk outside the array's grid left by an earlier, larger write) is
named, never dropped without a word.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from ngff_resave.model.plan import InputArray
from ngff_resave.source.keys import v2_chunk_key

# Array documents and this workflow's own files are not chunks.
DOCUMENTS = frozenset({".zarray", ".zattrs", ".zgroup", "zarr.json"})
DOTTED = re.compile(r"^\d+(\.\d+)*$")
NESTED = re.compile(r"^\d+(/\d+)*$")
# The character after "/": in sorted keys, those below folder ``f`` are the ones from ``f/``
# up to (not including) ``f`` followed by it.
AFTER_SLASH = chr(ord("/") + 1)


class ListingError(ValueError):
    """The files of an array contradict its metadata in a way no mend can settle."""


@dataclass
class ArrayListing:
    """The chunk (or, for a sharded Zarr v3 array, shard) files found below one array, by
    their coordinates in the array's file grid; the separator their keys use (None when no key
    tells, such as 1-D arrays or no files); the files that are no chunk of it, with why."""

    grid: list[int]
    found: set[tuple[int, ...]] = field(default_factory=set)
    separator: str | None = None
    strays: list[tuple[str, str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every position of the grid holds a file."""
        total = 1
        for extent in self.grid:
            total *= extent
        return len(self.found) == total


def _span(keys: list[str], folder: str) -> tuple[int, int]:
    """Where the keys below ``folder`` are in the sorted ``keys`` (all of them for the root)."""
    if not folder:
        return 0, len(keys)
    start = bisect_left(keys, f"{folder}/")
    return start, bisect_left(keys, f"{folder}{AFTER_SLASH}", start)


class DatasetListing:
    """One listing of a whole dataset (its file keys), asked what walking its metadata would
    otherwise ask the store, one request each: whether a file is there, a folder's entries,
    the files below a folder."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = sorted(keys)

    def __contains__(self, key: str) -> bool:
        # Searched, not hashed: a large dataset's millions of keys are not held twice.
        at = bisect_left(self.keys, key)
        return at < len(self.keys) and self.keys[at] == key

    def entries(self, folder: str) -> list[tuple[str, bool]]:
        """``(name, is_folder)`` for each entry directly below ``folder``, sorted, as
        ``Location.list_entries`` gives them; folders holding no file are not seen."""
        prefix = f"{folder}/" if folder else ""
        keys = self.keys
        at, stop = _span(keys, folder)
        found = []
        while at < stop:
            name, slash, _ = keys[at][len(prefix) :].partition("/")
            found.append((name, bool(slash)))
            # Past the whole subfolder at once: a folder's keys are consecutive.
            at = bisect_left(keys, f"{prefix}{name}{AFTER_SLASH}", at, stop) if slash else at + 1
        return sorted(found)

    def below(self, folder: str) -> list[str]:
        """The keys below ``folder``, relative to it, sorted."""
        start, stop = _span(self.keys, folder)
        cut = len(folder) + 1 if folder else 0
        return [key[cut:] for key in self.keys[start:stop]]


def group_by_array(keys: list[str], arrays: Iterable[str]) -> dict[str, list[str]]:
    """The dataset's file keys (sorted) that lie below each array, relative to that array (the
    deepest array holding a key takes it)."""
    paths = sorted(set(arrays))
    grouped: dict[str, list[str]] = {}
    for path in paths:
        start, stop = _span(keys, path)
        # The arrays below this one take their own keys.
        inner = [other for other in paths[slice(*_span(paths, path))] if other != path]
        own: list[str] = []
        for inner_start, inner_stop in sorted(_span(keys, other) for other in inner):
            own += keys[start:inner_start]
            start = max(start, inner_stop)
        own += keys[start:stop]
        cut = len(path) + 1 if path else 0
        grouped[path] = [key[cut:] for key in own]
    return grouped


def _coords(text: str, separator: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(separator))


def _outside(coord: tuple[int, ...], grid: list[int]) -> bool:
    return any(c >= g for c, g in zip(coord, grid, strict=True))


def list_v2_chunks(array: str, keys: Iterable[str], grid: list[int], declared: str) -> ArrayListing:
    """Classify the files below a Zarr v2 array. Chunk keys all spelled with the other
    separator than ``declared`` are taken as such (the caller mends the metadata); both forms
    at once cannot be read either way and are refused."""
    listing = ArrayListing(grid=grid)
    ndim = len(grid)
    by_form: dict[str, list[tuple[str, tuple[int, ...]]]] = {".": [], "/": []}
    for key in keys:
        name = key.rsplit("/", 1)[-1]
        if name in DOCUMENTS:
            continue
        form = "." if DOTTED.match(key) else "/" if NESTED.match(key) else None
        if form is None:
            listing.strays.append((key, "not a chunk key of this array"))
            continue
        coord = _coords(key, form)
        if ndim == 0 and coord == (0,):
            # A 0-d array's one chunk is stored as "0".
            listing.found.add(())
            continue
        if len(coord) != ndim:
            listing.strays.append(
                (key, f"not a chunk key of this {ndim}-dimensional array ({len(coord)} indices)")
            )
            continue
        by_form[form].append((key, coord))
    if ndim == 1:
        # "3" is both forms: any separator reads it.
        chunks = by_form["."] + by_form["/"]
    elif by_form["."] and by_form["/"]:
        raise ListingError(
            f"{array}: chunk files under both '.' keys ({by_form['.'][0][0]}) and '/' keys "
            f"({by_form['/'][0][0]}); no dimension_separator reads them all"
        )
    else:
        listing.separator = "." if by_form["."] else "/" if by_form["/"] else None
        chunks = by_form[listing.separator or declared]
    for key, coord in chunks:
        if _outside(coord, grid):
            listing.strays.append((key, f"chunk outside the array's grid {grid}"))
        else:
            listing.found.add(coord)
    return listing


def v3_key_pattern(encoding: dict[str, object], ndim: int) -> re.Pattern[str]:
    """The keys a Zarr v3 ``chunk_key_encoding`` gives the chunks of an ``ndim`` array."""
    configuration = encoding.get("configuration") or {}
    assert isinstance(configuration, dict)
    if encoding.get("name") == "v2":
        return _key_pattern(True, str(configuration.get("separator", ".")), ndim)
    return _key_pattern(False, str(configuration.get("separator", "/")), ndim)


@lru_cache(maxsize=256)
def _key_pattern(v2: bool, separator: str, ndim: int) -> re.Pattern[str]:
    # Made once per form: a plate asks again for each of its thousands of arrays.
    number = r"(\d+)"
    if v2:
        return re.compile("^" + re.escape(separator).join([number] * max(ndim, 1)) + "$")
    return re.compile("^c" + "".join(re.escape(separator) + number for _ in range(ndim)) + "$")


def list_v3_files(
    array: str, keys: Iterable[str], grid: list[int], encoding: dict[str, object]
) -> ArrayListing:
    """Classify the files below a Zarr v3 array by its ``chunk_key_encoding``. Chunk keys of
    another encoding (``c.0.0`` for ``c/0/0``, nested for dotted) are refused: the copied
    ``zarr.json`` would not read them."""
    listing = ArrayListing(grid=grid)
    pattern = v3_key_pattern(encoding, len(grid))
    for key in keys:
        if key.rsplit("/", 1)[-1] in DOCUMENTS:
            continue
        match = pattern.match(key)
        if match is None:
            if any(
                _key_pattern(v2, separator, len(grid)).match(key)
                for v2 in (False, True)
                for separator in ("/", ".")
            ):
                raise ListingError(
                    f"{array}: chunk file {key} is not spelled as its zarr.json's "
                    f"chunk_key_encoding {encoding} says; readers would not find it"
                )
            listing.strays.append((key, "not a chunk key of this array"))
            continue
        coord = tuple(int(group) for group in match.groups())
        if _outside(coord, grid):
            listing.strays.append((key, f"chunk outside the array's grid {grid}"))
        else:
            listing.found.add(coord)
    return listing


def spell(coord: tuple[int, ...]) -> str:
    """A file grid coordinate as the plan stores it (``1.0.3``)."""
    return v2_chunk_key(coord, ".")


def parse(text: str) -> tuple[int, ...]:
    return _coords(text, ".")


class ChunkFileMissing(FileNotFoundError):
    """A file the listing found when the dataset was planned reads as absent now (a transient
    not-found, a flaky mount): its region must not become the fill value."""


def file_coord(array: InputArray, name: str) -> tuple[int, ...] | None:
    """The file grid coordinate of an input file's key (below its array); None for a key that
    is no chunk (or shard) file of it."""
    ndim = len(array.chunks)
    if array.zarr_format == 2:
        pattern = DOTTED if array.dimension_separator == "." else NESTED
        if not pattern.match(name):
            return None
        coord = _coords(name, array.dimension_separator)
        return coord if len(coord) == ndim else None
    encoding = (array.document or {}).get("chunk_key_encoding") or {"name": "default"}
    found = v3_key_pattern(encoding, ndim).match(name)
    return None if found is None else tuple(int(group) for group in found.groups())


class ListedFiles:
    """Which of an array's input files (by file grid coordinate) its listing found, for the
    jobs that read them: files not listed are not read (a sparse array costs what it holds),
    and a listed one that reads as absent is an error, never the fill value. An input that
    could not be listed (HTTP) is read as before: an absent file is the fill value."""

    def __init__(self, array: InputArray) -> None:
        self.array = array
        self.listed = array.files_found is not None
        self.coords = None if array.present is None else {parse(t) for t in array.present}

    def holds(self, coord: tuple[int, ...]) -> bool:
        """Whether a file is expected at ``coord`` (always, where nothing was listed)."""
        return self.coords is None or coord in self.coords

    def holds_file(self, name: str) -> bool:
        """Whether a file is expected at the key ``name`` below the array."""
        coord = file_coord(self.array, name)
        return coord is None or self.holds(coord)

    def holds_chunk_file(self, name: str) -> bool:
        """Whether ``name`` below the array is the key of a chunk (or shard) file the listing
        found; any other name (the array's own metadata, which zarr-python asks for whether
        it is there or not) is none."""
        coord = file_coord(self.array, name)
        return coord is not None and self.holds(coord)

    def check_found(self, where: str, data: bytes | None) -> None:
        """Raise when a listed file (``where``: its URL) read as absent."""
        if data is None and self.listed:
            raise ChunkFileMissing(
                f"{where} was listed when the dataset was planned but reads as absent now; "
                "its region is not written as the fill value (rerun to retry)"
            )
