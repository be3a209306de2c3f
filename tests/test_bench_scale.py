"""The pure parts of bench/scale.py and its input generator (no Snakemake run here)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import scale  # noqa: E402


def row(name: str, items: int, ours: float, challenge: float, **extra: float) -> scale.Row:
    values = {
        "jobs": 4,
        "own_peak_bytes": 100 * 2**20,
        "own_cpu": 1.5,
        "tree_cpu": 3.0,
        "dry_scratch": 1.2,
        "dry_done": 0.8,
        **extra,
    }
    return scale.Row(
        scenario=name,
        datasets=str(items),
        items=items,
        item="dataset",
        ours=ours,
        challenge=challenge,
        **values,
    )


def test_ratio_and_per_item() -> None:
    assert scale.ratio(10.0, 2.5) == 4.0
    assert scale.ratio(1.0, 0.0) == math.inf
    assert scale.per_item(50.0, 100) == 0.5
    assert math.isnan(scale.per_item(5.0, 0))
    assert scale.times(math.nan) == "n/a"
    assert scale.times(2.0) == "2.00x"


def test_parse_sizes() -> None:
    assert scale.parse_sizes("100,1000") == [100, 1000]
    assert scale.parse_sizes(" 3 ") == [3]
    assert scale.parse_sizes("") == []
    with pytest.raises(ValueError):
        scale.parse_sizes("0")


def test_plate_layout_and_row_names() -> None:
    assert scale.plate_layout(1536) == (32, 48)
    assert scale.plate_layout(384) == (16, 24)
    assert scale.plate_layout(96) == (8, 12)
    assert scale.plate_layout(4) == (1, 4)
    assert scale.plate_layout(1) == (1, 1)
    assert [scale.row_name(i) for i in (0, 25, 26, 31, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AF",
        "ZZ",
        "AAA",
    ]


def test_table() -> None:
    rows = [
        row("small-100", 100, 50.0, 150.0),
        row("plate", 6144, 30.0, 90.0, dry_scratch=math.nan),
    ]
    rows[1].item = "field"
    text = scale.table(rows)
    lines = text.splitlines()
    assert lines[0].startswith("| scenario | datasets | jobs | ours s | challenge s | ratio |")
    assert len(lines) == 4
    assert lines[1].count("|") == lines[0].count("|") == lines[2].count("|")
    assert (
        "| small-100 | 100 | 4 | 50.0 | 150.0 | 3.00x | 0.500 / 1.500 | 100 | 1.5 | "
        "1.2 / 0.8 |" == lines[2]
    )
    assert "per field" in lines[3] and "| n/a / 0.8 |" in lines[3]


def test_linearity_against_the_ideal() -> None:
    small, large = (
        row("small-100", 100, 10.0, 1.0),
        row("small-1000", 1000, 80.0, 1.0, own_peak_bytes=200 * 2**20),
    )
    text = scale.linearity([large, small])
    assert "1000 vs 100 datasets (linear = 10x)" in text
    assert "wall 8.00x" in text and "Snakemake peak memory 2.00x" in text
    assert scale.linearity([small]) == ""


def test_report_lists_every_scenario() -> None:
    text = scale.report(
        [row("small-3", 3, 4.0, 1.0), row("small-6", 6, 5.0, 2.0)], (2.0, 0.5), repeat=1, cores=2
    )
    assert "| small-3 |" in text and "| small-6 |" in text
    assert "linear = 2x" in text
    assert "`snakemake --until plan` from clean 2.0 s wall" in text


def test_replace_between() -> None:
    start, end = scale.README_START, scale.README_END
    content = f"intro\n{start}\nold\n{end}\nrest\n"
    assert (
        scale.replace_between(content, start, end, "new\n") == f"intro\n{start}\nnew\n{end}\nrest\n"
    )
    assert scale.replace_between("no markers", start, end, "x") is None


def test_update_readme_leaves_a_readme_without_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# title\n")
    scale.update_readme(readme, "table\n")
    assert readme.read_text() == "# title\n"
    readme.write_text(f"a\n{scale.README_START}\n{scale.README_END}\nb\n")
    scale.update_readme(readme, "table\n")
    assert readme.read_text() == f"a\n{scale.README_START}\ntable\n{scale.README_END}\nb\n"


def test_jobs_in_log() -> None:
    quiet = "Select jobs to execute...\nExecute 1 jobs...\nExecute 12 jobs...\nExecute 1 job...\n"
    assert scale.jobs_in_log(quiet) == 14
    assert scale.jobs_in_log("3 of 7 steps (43%) done\n7 of 7 steps (100%) done\n") == 7
    assert scale.jobs_in_log("nothing") is None


def test_plan_job_seconds(tmp_path: Path) -> None:
    assert math.isnan(scale.plan_job_seconds(tmp_path))
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "a1.tsv").write_text("s\th:m:s\tmax_rss\n0.75\t0:00:00\t50\n")
    assert scale.plan_job_seconds(tmp_path) == 0.75
    (tmp_path / "plan.tsv").write_text("s\th:m:s\n0.25\t0:00:00\n")
    assert scale.plan_job_seconds(tmp_path) == 1.0


def test_median_run() -> None:
    runs = [
        scale.SnakemakeRun(s, p, c, 2 * c, 5)
        for s, p, c in ((3.0, 10, 1.0), (1.0, 30, 2.0), (2.0, 20, 3.0))
    ]
    assert scale.median_run(runs) == scale.SnakemakeRun(2.0, 30, 2.0, 4.0, 5)


def test_write_workdir(tmp_path: Path) -> None:
    inputs = [("a", tmp_path / "a.ome.zarr"), ("b", tmp_path / "b.ome.zarr")]
    scale.write_workdir(tmp_path / "work", inputs)
    sheet = (tmp_path / "work" / "samples.tsv").read_text().splitlines()
    assert sheet == ["dataset\tinput", f"a\t{inputs[0][1]}", f"b\t{inputs[1][1]}"]
    config = (tmp_path / "work" / "config.yaml").read_text()
    assert "samples: samples.tsv" in config and "license: CC-BY-4.0" in config


def test_generate_small_writes_ome_zarr_04(tmp_path: Path) -> None:
    pytest.importorskip("ome_zarr")
    from ome_zarr_models.v04.image import Image

    folder = tmp_path / "small"
    images = scale.generate_small(folder, 2)
    assert [name for name, _ in images] == ["img00000", "img00001"]
    pixels = []
    for _, root in images:
        group = zarr.open_group(str(root), mode="r")
        assert group.metadata.zarr_format == 2
        multiscale = group.attrs["multiscales"][0]
        assert multiscale["version"] == "0.4"
        assert [a["name"] for a in multiscale["axes"]] == ["t", "c", "z", "y", "x"]
        paths = [d["path"] for d in multiscale["datasets"]]
        assert len(paths) == scale.SMALL_LEVELS
        shapes = [group[p].shape for p in paths]
        assert shapes == [(1, 1, 1, 256 >> i, 256 >> i) for i in range(scale.SMALL_LEVELS)]
        assert all(group[p].dtype == np.dtype("uint16") for p in paths)
        Image.from_zarr(group)  # a valid OME-Zarr 0.4 image
        pixels.append(group[paths[0]][:])
    assert not np.array_equal(pixels[0], pixels[1])
    # Cached: a second call writes nothing, a larger count only adds.
    marker = folder / "inputs.json"
    before = marker.stat().st_mtime_ns
    assert scale.generate_small(folder, 2) == images
    assert marker.stat().st_mtime_ns == before
    scale.generate_small(folder, 3)
    assert json.loads(marker.read_text())["count"] == 3
    assert zarr.open_group(str(images[0][1]), mode="r").attrs["multiscales"]


def test_generate_plate_writes_ome_zarr_04(tmp_path: Path) -> None:
    pytest.importorskip("ome_zarr")
    from ome_zarr_models.v04.hcs import HCS

    root = scale.generate_plate(tmp_path, wells=2, fields=2)
    group = zarr.open_group(str(root), mode="r")
    assert group.metadata.zarr_format == 2
    plate = group.attrs["plate"]
    assert plate["version"] == "0.4" and len(plate["wells"]) == 2
    assert plate["field_count"] == 2
    HCS.from_zarr(group)  # a valid OME-Zarr 0.4 plate
    field = group["A/1/1"]
    assert field.attrs["multiscales"][0]["version"] == "0.4"
    assert field[field.attrs["multiscales"][0]["datasets"][0]["path"]].shape == scale.FIELD_SHAPE
