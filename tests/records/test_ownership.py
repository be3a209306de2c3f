"""Which files below an output the workflow wrote, as its claim says."""

from __future__ import annotations

import pytest

from ngff_resave.records.originals import CLAIM_FILE, CRATE_FILE, ORIGINALS_ARCHIVE
from ngff_resave.records.ownership import written_by_workflow

CLAIM = {
    "arrays": ["0", "A/1/0/0", "labels/cells/0"],
    "files": ["notes/readme.txt"],
}


@pytest.mark.parametrize(
    ("path", "written"),
    [
        ("zarr.json", True),
        ("A/1/zarr.json", True),
        (CLAIM_FILE, True),
        (CRATE_FILE, True),
        (ORIGINALS_ARCHIVE, True),
        ("notes/readme.txt", True),
        ("0/c/0/0/0", True),
        ("A/1/0/0/c/1/2", True),
        ("A/1/0/0/3.4", True),
        ("A/1/0/0/3/4", True),
        ("labels/cells/0/c/0/0", True),
        # Beside the arrays, or not chunk keys inside them.
        ("A/1/0/c/0/0", False),
        ("A/1/0/0/stray.txt", False),
        ("A/1/0/0/c", False),
        ("labels/cells/c/0/0", False),
        ("1/c/0/0", False),
        ("notes/other.txt", False),
        ("00/c/0", False),
    ],
)
def test_the_files_a_claim_covers(path: str, written: bool) -> None:
    assert written_by_workflow(CLAIM)(path) is written


def test_in_place_no_chunk_file_is_the_workflows() -> None:
    claim = {**CLAIM, "in_place": True}
    assert not written_by_workflow(claim)("0/c/0/0/0")
    assert not written_by_workflow(claim)("A/1/0/0/3.4")
    assert written_by_workflow(claim)("A/1/0/0/zarr.json")
