"""bench/versions.py: the version table, as run on data other tools wrote."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import versions  # noqa: E402

pytest.importorskip("ome_zarr")


def test_every_input_of_another_writer_converts_as_the_docs_say(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    with contextlib.chdir(work):
        table = versions.version_table(work)
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    writers = {row[0].lstrip("| ") for row in rows}
    assert {"ome2024-ngff-challenge resave 1.0.3", "ome-zarr-py 0.18", "ngff-zarr 0.50"} <= writers
    assert "ngff-resave (this workflow)" in writers
    assert {"0.4", "0.5", "0.6", "0.6.dev3", "0.6.dev4", "0.6rc0"} <= {row[2] for row in rows}
    for row in rows:
        cells = [cell.strip(" |") for cell in row[3:]]
        assert all(c.startswith(("valid (", "(not Zarr v3)")) for c in cells), row
        assert cells[-1].startswith("(not") == (row[2] == "0.4"), row
        assert str(tmp_path) not in " ".join(row)  # no path of the machine that ran it


def test_the_table_goes_between_the_readme_markers(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text(f"a\n{versions.README_START}\nold\n{versions.README_END}\nb\n")
    monkeypatch.setattr(versions, "version_table", lambda work: "| new |")
    versions.main(
        ["--work", str(tmp_path / "w"), "--output", str(tmp_path / "r.md"), "--readme", str(readme)]
    )
    text = readme.read_text()
    assert "| new |" in text and "old" not in text and text.startswith("a\n")
