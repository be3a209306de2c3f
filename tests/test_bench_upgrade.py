"""bench/upgrade.py: its pure parts, and the whole script at its small scale (tiny inputs made
under tmp_path; bench/cache and the README are not touched). Not a timed test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import upgrade  # noqa: E402


def table_rows(text: str) -> dict[tuple[str, str], list[str]]:
    """The results table's rows by (scenario, tool): their cells."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| scenario"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0], cells[1]] = cells
    return rows


def test_writes_count_new_and_changed_files_and_chunk_files() -> None:
    before = {"zarr.json": (100, 1), "0/zarr.json": (50, 1), "0/c/0/0": (1000, 1)}
    after = {**before, "zarr.json": (120, 2), "x/zarr.json": (10, 3), "0/c/0/0": (1000, 1)}
    docs = {"": {"node_type": "group"}, "0": {"node_type": "array"}}
    chunks = upgrade.chunk_files(before, docs)
    assert chunks == ["0/c/0/0"]
    found = upgrade.writes(before, after, chunks)
    assert (found.bytes, found.files, found.removed) == (130, 2, 0)
    assert found.chunks_untouched and found.chunk_files == 1
    touched = upgrade.writes(before, {**after, "0/c/0/0": (1000, 9)}, chunks)
    assert not touched.chunks_untouched and upgrade.untouched(touched).startswith("no (1 of 1")
    gone = upgrade.writes(before, {k: v for k, v in after.items() if k != "0/c/0/0"}, chunks)
    assert gone.removed == 1 and gone.chunks_changed == 1


def test_error_line_is_the_exception_a_process_ended_with() -> None:
    output = "Traceback (most recent call last):\n  File x\nValueError: no: plates\n"
    assert upgrade.error_line(output) == "ValueError: no: plates"
    assert upgrade.error_line("warning\nlast words\n") == "last words"
    assert upgrade.error_line("") == ""


def test_image_facts_name_what_was_lost() -> None:
    scale = [{"type": "scale", "scale": [1.0, 2.0]}]
    before = {
        "multiscales": [
            {
                "datasets": [{"path": "0", "coordinateTransformations": scale}],
                "coordinateTransformations": scale,
            }
        ],
        "omero": {"channels": []},
    }
    sequence = [
        {
            "type": "sequence",
            "transformations": [*scale, {"type": "translation", "translation": [0.0, 0.0]}],
        }
    ]
    after = {"multiscales": [{"datasets": [{"path": "0", "coordinateTransformations": sequence}]}]}
    facts = "\n".join(upgrade.image_facts(before, after, ""))
    assert "**omero dropped**" in facts
    assert "multiscale-wide coordinateTransformations" in facts and "-> **none**" in facts
    assert "level scales kept in 1 of 1 levels" in facts
    assert "translations added" in facts


def test_readme_is_updated_only_between_both_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"a\n{upgrade.README_START}\nb\n")
    upgrade.update_readme(readme, "table\n")
    assert readme.read_text() == f"a\n{upgrade.README_START}\nb\n"
    readme.write_text(f"a\n{upgrade.README_START}\nold\n{upgrade.README_END}\nz\n")
    upgrade.update_readme(readme, "table\n")
    assert readme.read_text() == f"a\n{upgrade.README_START}\ntable\n{upgrade.README_END}\nz\n"
    upgrade.update_readme(None, "table\n")


@pytest.mark.workflow
def test_the_small_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("ome_zarr")
    work, output, readme = tmp_path / "work", tmp_path / "results.md", tmp_path / "README.md"
    readme.write_text(f"intro\n{upgrade.README_START}\nold\n{upgrade.README_END}\nend\n")
    command = [
        sys.executable,
        str(REPO / "bench" / "upgrade.py"),
        "--small",
        "--work",
        str(work),
        "--output",
        str(output),
        "--readme",
        str(readme),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    text = output.read_text()
    assert text.startswith("# Upgrade benchmark")
    assert f"{os.cpu_count()} cores" in text and "warm page cache" in text
    # The table went between the markers, the notes on each tool's metadata stayed out.
    summary = text.split("\n", 2)[2].split(upgrade.FACTS)[0].rstrip()
    assert summary in readme.read_text() and "bench/upgrade-results.md" in readme.read_text()
    assert "- probe, ngff-zarr" not in readme.read_text()
    assert (work / "inputs" / "upgrade" / "image.ome.zarr" / "zarr.json").exists()
    rows = table_rows(text)
    tool = next(t for _, t in rows if t.startswith("ngff-zarr"))
    for scenario in ("image", "plate"):
        ours = [
            cells for (s, t), cells in rows.items() if s == scenario and t.startswith("ngff-resave")
        ]
        assert ours, (scenario, rows)
        assert len(ours) == 2  # validate full and validate sample
        for cells in ours:
            assert cells[5].startswith("yes ("), cells  # chunk files untouched
            assert cells[6] == "valid (catalog)" and cells[7] == "ok", cells
            assert float(cells[3]) < 1.0 and int(cells[4].replace(",", "")) > 0
    image = rows["image", tool]
    assert image[5].startswith("yes (") and image[6].startswith("done")
    assert float(image[3]) < 1.0
    plate = rows["plate", tool]
    assert plate[6].startswith("refused (exit 1): ValueError: ")
    assert "plate" in plate[6]  # its own message, as the process printed it
    assert (plate[3], plate[4], plate[5][:3]) == ("0.000", "0", "yes")
    # What each tool did to the metadata is written down, the probe's included.
    assert "- probe, ngff-zarr" in text and "- probe, ngff-resave in place" in text


@pytest.mark.workflow
def test_one_scenario_and_mode_can_be_measured_alone(tmp_path: Path) -> None:
    pytest.importorskip("ome_zarr")
    output = tmp_path / "results.md"
    command = [
        *(sys.executable, str(REPO / "bench" / "upgrade.py"), "--small", "--no-image"),
        *("--no-probe", "--no-ngff-zarr", "--validate", "sample"),
        *("--work", str(tmp_path / "work"), "--output", str(output)),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    rows = table_rows(output.read_text())
    assert list(rows) == [("plate", "ngff-resave in place, validate sample")]
    assert rows["plate", "ngff-resave in place, validate sample"][6] == "valid (catalog)"
    assert not (tmp_path / "work" / "inputs" / "upgrade" / "image.ome.zarr").exists()
    bad = subprocess.run([*command[:2], "--validate", "quick"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--validate: modes among full, sample" in bad.stderr
