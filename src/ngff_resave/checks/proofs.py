"""What the convert jobs proved: each array every shard of which its jobs read back and compared
with the input (see :mod:`ngff_resave.arrays.readback`), and whether the output's files are
still the ones they recorded, from one listing of the output (sizes; no file is read)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ngff_resave.model.plan import Plan
from ngff_resave.storage import TEMPORARY_NAME, Location

LOG = logging.getLogger(__name__)


@dataclass
class Proof:
    """An array's proof from its convert jobs: the files they wrote and read back (key below
    the array: size and CRC32C), the first difference they found, and the first way the output
    on storage no longer matches them."""

    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    problem: str = ""
    files_problem: str = ""
    # Shards by how their job knew storage held them (``server checksum``, ``read back``).
    stored: dict[str, int] = field(default_factory=dict)


def gather_proofs(plan: Plan, records: Iterable[dict[str, Any]]) -> dict[str, Proof]:
    """The arrays of ``plan`` whose every shard a convert job made for the plan's pixels read
    back and compared; the others (links, arrays left in place, records of an older version)
    are not in the result."""
    # Digested only when a record has a proof to weigh: links and arrays left in place have
    # none, and a plate's plan takes a while to digest.
    pixels: str | None = None
    parts: dict[str, list[tuple[int, int, dict[str, Any]]]] = {}
    for record in records:
        if record.get("error") or not any(e.get("proof") for e in record.get("arrays", [])):
            continue
        if pixels is None:
            pixels = plan.pixels_digest()
        if record.get("pixels_digest") != pixels:
            continue
        for entry in record.get("arrays", []):
            proof = entry.get("proof")
            start, stop = entry["shards"]
            if proof is not None and proof.get("shards_compared") == stop - start:
                counted = {**proof, "found": entry.get("files_found")}
                parts.setdefault(entry["path"], []).append((start, stop, counted))
    proofs = {}
    for array in plan.arrays:
        covered = 0
        proof = Proof()
        found: int | None = 0
        for start, stop, part in sorted(parts.get(array.path, []), key=lambda p: p[0]):
            if start != covered:
                break
            covered = stop
            proof.files.update((key, (size, crc)) for key, (size, crc) in part["files"].items())
            proof.problem = proof.problem or part.get("problem") or ""
            for way, shards in (part.get("stored_proven_by") or {}).items():
                proof.stored[way] = proof.stored.get(way, 0) + len(shards)
            found = None if found is None or part["found"] is None else found + part["found"]
        if covered == array.shards:
            listed = array.input.files_found
            if not proof.problem and None not in (found, listed) and found != listed:
                proof.problem = (
                    f"{plan.input}/{array.path}: the convert jobs found {found} input chunk "
                    f"files, the listing made at planning {listed}"
                )
            proofs[array.path] = proof
    return proofs


def _array_of(key: str, paths: set[str]) -> tuple[str, str] | None:
    """The array a file key lies below, and the key below it."""
    parts = key.split("/")
    for cut in range(len(parts) - 1, -1, -1):
        path = "/".join(parts[:cut])
        if path in paths:
            return path, "/".join(parts[cut:])
    return None


def check_files(proofs: dict[str, Proof], target: Location) -> None:
    """Each proven array's files on storage against its record: every recorded file there with
    its size, and no other (but ``zarr.json``). Sets ``files_problem``."""
    if not proofs:
        return
    listed: dict[str, dict[str, int]] = {path: {} for path in proofs}
    # Once, not per file: a copied plate lists tens of thousands of files.
    paths = set(proofs)
    for key, size in target.file_sizes("").items():
        found = _array_of(key, paths)
        name = key.rsplit("/", 1)[-1]
        if found is not None and name != "zarr.json" and not TEMPORARY_NAME.match(name):
            listed[found[0]][found[1]] = size
    for path, proof in proofs.items():
        on_storage = listed[path]
        for key, (size, _) in sorted(proof.files.items()):
            if key not in on_storage:
                proof.files_problem = f"{target.child(f'{path}/{key}')} is missing"
                break
            if on_storage[key] != size:
                proof.files_problem = (
                    f"{target.child(f'{path}/{key}')} holds {on_storage[key]} bytes; its "
                    f"convert job wrote and read back {size}"
                )
                break
        else:
            extra = sorted(set(on_storage) - set(proof.files))
            if extra:
                proof.files_problem = (
                    f"{target.child(f'{path}/{extra[0]}')} is not a file the convert jobs wrote"
                    + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
                )
