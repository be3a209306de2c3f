"""bench/bigimage.py: its pure parts, and the whole script on a tiny slide (--scale 0.01, made
under tmp_path; bench/cache and the README are not written). Not a timed test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import bigimage  # noqa: E402


def table_rows(text: str, first_header: str) -> dict[str, list[str]]:
    """The rows of the markdown table whose header starts with ``| first_header |``."""
    rows: dict[str, list[str]] = {}
    inside = False
    for line in text.splitlines():
        if line.startswith(f"| {first_header} |"):
            inside = True
            continue
        if inside and line.startswith("|---"):
            continue
        if inside and line.startswith("| "):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows[cells[0]] = cells
        elif inside:
            break
    return rows


def test_levels_halve_y_and_x_rounding_up() -> None:
    full = bigimage.level_shapes(1.0)
    assert full[0] == (1, 1, 1, 93184, 144384)
    assert len(full) == 6
    assert full[1] == (1, 1, 1, 46592, 72192) and full[5] == (1, 1, 1, 2912, 4512)
    # The real slide stores 17.9 GB of uint8 that does not compress: its raw size.
    assert round(sum(s[3] * s[4] for s in full) / 1e9, 1) == 17.9
    small = bigimage.level_shapes(0.05)
    assert small[0] == (1, 1, 1, 4659, 7219) and small[1] == (1, 1, 1, 2330, 3610)
    assert len(small) == 6
    # Fewer levels only where there is nothing left to halve.
    assert bigimage.level_shapes(1e-5) == [(1, 1, 1, 1, 1)]
    assert [s[3:] for s in bigimage.level_shapes(4e-5)] == [(4, 6), (2, 3), (1, 2), (1, 1)]
    assert bigimage.level_chunks((1, 1, 1, 300, 5000)) == (1, 1, 1, 300, 1024)
    with pytest.raises(ValueError):
        bigimage.level_shapes(0)


def test_an_interrupted_generation_is_made_again(tmp_path: Path) -> None:
    made = bigimage.generate(tmp_path, 1e-4)
    assert made.generated_now and made.shapes[0] == (1, 1, 1, 9, 14) and len(made.shapes) == 5
    assert made.stored == bigimage.stored_bytes(made.root)
    again = bigimage.generate(tmp_path, 1e-4)
    assert not again.generated_now and again.stored == made.stored
    (tmp_path / "input.done").unlink()  # as if stopped before the end
    (made.root / "0" / "stray").write_bytes(b"x")
    redone = bigimage.generate(tmp_path, 1e-4)
    assert redone.generated_now and not (made.root / "0" / "stray").exists()
    # The same folder with another spec (main gives each scale its own) is made anew.
    assert bigimage.generate(tmp_path, 2e-4).generated_now


def test_the_benchmarks_page_has_the_markers() -> None:
    text = (REPO / "docs" / "benchmarks.md").read_text()
    assert text.count(bigimage.README_START) == 1 and text.count(bigimage.README_END) == 1
    assert text.index(bigimage.README_START) < text.index(bigimage.README_END)
    assert "## A big image, cold cache" in text


def test_chunks_are_the_same_each_time_and_compress_like_a_slide() -> None:
    import numcodecs

    shape, chunks = (1, 1, 1, 3000, 5000), (1, 1, 1, 1024, 1024)
    first = bigimage.chunk_bytes(0, 1, 2, chunks, shape)
    assert first.dtype == np.uint8 and first.shape == (1024, 1024)
    assert np.array_equal(first, bigimage.chunk_bytes(0, 1, 2, chunks, shape))
    assert not np.array_equal(first, bigimage.chunk_bytes(0, 1, 3, chunks, shape))
    edge = bigimage.chunk_bytes(0, 2, 4, chunks, shape)  # 952 x 904 of it in the level
    assert not edge[952:].any() and not edge[:, 904:].any() and edge[:952, :904].all()
    lz4 = numcodecs.Blosc("lz4", 5, numcodecs.Blosc.SHUFFLE)
    zstd = numcodecs.Blosc("zstd", 5, numcodecs.Blosc.BITSHUFFLE)
    assert len(lz4.encode(first)) > 0.9 * first.nbytes
    assert len(zstd.encode(first)) < 0.6 * first.nbytes


def test_the_codec_floor_scales_its_sample(tmp_path: Path) -> None:
    made = bigimage.generate(tmp_path, 0.02)
    floor = bigimage.codec_floor(made, cores=2, sample=5, repeat=1)
    assert floor.chunks == len(bigimage.chunk_files(made)) and floor.sampled == 5
    assert floor.decode > 0 and floor.encode > 0 and floor.decode_back > 0
    assert floor.seconds == pytest.approx((floor.decode + floor.encode + floor.decode_back) / 2)
    assert floor.without_readback < floor.seconds
    assert 0 < floor.encoded_ratio < floor.input_ratio <= 1.01


def test_only_takes_known_runs_in_their_order() -> None:
    assert bigimage.parse_only("workflow,copy") == ["copy", "workflow"]
    with pytest.raises(Exception, match="--only"):
        bigimage.parse_only("copy,rsync")
    with pytest.raises(Exception, match="--only"):
        bigimage.parse_only("")


def test_drop_caches_says_why_it_could_not(tmp_path: Path) -> None:
    why = bigimage.drop_caches(tmp_path)  # a folder cannot be written to
    assert why is not None and (str(tmp_path) in why or sys.platform != "linux")


def test_workflow_steps_from_split_jobs_records(tmp_path: Path) -> None:
    """A dataset split into convert, metadata and validate jobs: Snakemake's benchmark files
    per rule (a field missing or NA is skipped), the convert records, file times for the
    catalog and the report pages, the rest of the wall."""
    bench = tmp_path / "benchmarks"
    (bench / "plans").mkdir(parents=True)
    (bench / "slide").mkdir()
    header = "s\th:m:s\tmax_rss\tmax_vms\tcpu_time\n"
    (bench / "plans" / "a.tsv").write_text(header + "1.0\t0:00:01\t100\t200\t0.8\n")
    (bench / "slide" / "convert-0-0.tsv").write_text(header + "30.0\t0:00:30\t500\t900\t40\n")
    (bench / "slide" / "convert-1-0.tsv").write_text(header + "10.0\t0:00:10\t300\t900\t12\n")
    (bench / "slide" / "metadata-1.tsv").write_text("s\tmax_rss\n2.0\tNA\n")
    (bench / "slide" / "validate-1.tsv").write_text(header + "20.0\t0:00:20\t700\t900\t35\n")
    converts = tmp_path / "results" / "slide" / "convert"
    converts.mkdir(parents=True)
    for job, seconds in (("0-0", 29.0), ("1-0", 9.5)):
        (converts / f"{job}.json").write_text(
            json.dumps(
                {
                    "seconds": seconds,
                    "bytes_read": 6e9,
                    "bytes_written": 6e9,
                    "peak_memory_bytes": 2**29,
                }
            )
        )
    last = max(p.stat().st_mtime for p in bench.rglob("*.tsv"))
    catalog = tmp_path / "results" / "catalog.csv"
    catalog.write_text("dataset,valid\nslide,True\n")
    os.utime(catalog, (last + 0.5, last + 0.5))
    page = tmp_path / "results" / "report" / "catalog.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html/>")
    os.utime(page, (last + 1.5, last + 1.5))
    steps = bigimage.workflow_steps(tmp_path, wall=70.0)
    assert steps["plan"].seconds == 1.0 and steps["plan"].jobs == 1
    convert = steps["convert"]
    assert (convert.jobs, convert.seconds, convert.cpu_seconds) == (2, 40.0, 52.0)
    assert convert.peak_bytes == 500 * 2**20 and not convert.inside
    assert (
        "convert records (2): seconds 38.5 s, read 12.00 GB, written 12.00 GB" in (convert.notes[0])
    )
    metadata = steps["metadata"]
    assert metadata.seconds == 2.0 and metadata.peak_bytes == 0
    assert metadata.cpu_seconds != metadata.cpu_seconds  # NaN: not recorded
    assert steps["validate"].seconds == 20.0
    assert steps["catalog"].seconds == pytest.approx(0.5)
    assert steps["report pages"].seconds == pytest.approx(1.0)
    assert steps["rest"].seconds == pytest.approx(70.0 - 1 - 40 - 2 - 20 - 0.5 - 1.0)
    table = bigimage.steps_table([bigimage.Run(70.0, 0.0, 0, 0.0, 0, steps)], 14 * 10**9, 70.0)
    rows = table_rows(table, "step")
    assert rows["convert"][1:5] == ["2", "40.0", "0.35", "57%"]
    assert rows["metadata"][5:7] == ["", ""]  # no max_rss, no cpu_time


@pytest.mark.workflow
def test_the_tiny_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    work, cache = tmp_path / "work", tmp_path / "cache"
    output, readme = tmp_path / "results.md", tmp_path / "README.md"
    readme.write_text(f"intro\n{bigimage.README_START}\nold\n{bigimage.README_END}\nend\n")
    # The challenge's converter only where `make bench` installed it already (installing it
    # here would write into bench/cache).
    challenge = REPO / "bench" / "cache"
    with_tool = (challenge / "challenge-venv" / "installed").exists()
    only = "copy,tool,workflow,reencode" if with_tool else "copy,workflow,reencode"
    command = [
        sys.executable,
        str(REPO / "bench" / "bigimage.py"),
        "--scale",
        "0.01",
        "--only",
        only,
        "--work",
        str(work),
        "--cache",
        str(cache),
        "--challenge-cache",
        str(challenge),
        "--output",
        str(output),
        "--readme",
        str(readme),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]

    # The input: OME-Zarr 0.4 as bioformats2raw writes it, 6 levels, looking like a slide.
    import zarr

    root = cache / "bigimage-0.01" / "input.ome.zarr"
    assert (cache / "bigimage-0.01" / "input.done").exists()
    attrs = json.loads((root / ".zattrs").read_text())
    multiscale = attrs["multiscales"][0]
    assert multiscale["version"] == "0.4" and "metadata" in multiscale and "omero" in attrs
    assert [a["name"] for a in multiscale["axes"]] == ["t", "c", "z", "y", "x"]
    assert [d["path"] for d in multiscale["datasets"]] == [str(i) for i in range(6)]
    zarray = json.loads((root / "0" / ".zarray").read_text())
    assert zarray["shape"] == [1, 1, 1, 932, 1444] and zarray["chunks"] == [1, 1, 1, 932, 1024]
    assert zarray["dimension_separator"] == "/" and zarray["dtype"] == "|u1"
    assert zarray["compressor"]["cname"] == "lz4" and zarray["compressor"]["shuffle"] == 1
    level0 = zarr.open_array(str(root / "0"), mode="r")[0, 0, 0]
    assert level0.shape == (932, 1444)
    # A smooth field: neighbours differ by the noise's few levels, the whole by far more.
    assert np.abs(np.diff(level0.astype(int), axis=1)).max() <= 2 * 2**bigimage.NOISE_BITS
    assert int(level0.max()) - int(level0.min()) > 20
    chunk = (root / "0" / "0" / "0" / "0" / "0" / "0").stat().st_size
    assert 0.9 * 932 * 1024 < chunk < 1024 * 1024  # blosc-lz4 keeps nearly all of it
    assert "generated in" in result.stdout and "bytes stored" in result.stdout

    text = output.read_text()
    assert text.startswith("# Benchmark: a big image, cold cache")
    assert f"{os.cpu_count()} cores" in text and "--scale 0.01" in text
    assert "Page cache: cold before every run" in text or "Page cache: **warm**" in text
    rows = table_rows(text, "run")
    expected = [
        "byte copy, `cp -r`",
        "ngff-resave workflow, defaults",
        "ngff-resave workflow, `codec: blosc-zstd-5`",
        "codec floor, 2 cores",
    ]
    if with_tool:
        expected.insert(1, "ome2024-ngff-challenge resave")
    assert list(rows) == expected
    stored = (cache / "bigimage-0.01" / "input.done").read_text()
    assert json.loads(stored)["stored"] > 1e6
    floor = rows.pop("codec floor, 2 cores")
    assert float(floor[1]) > 0 and float(floor[5]) > 0 and "blosc-zstd-5 encode" in floor[-1]
    assert "Re-encode (blosc-zstd-5): ours " in text and "the codec floor" in text
    assert "its convert jobs alone" in text and "the floor's CPU seconds" in text
    # The re-encode is smaller than the input and proven in full.
    reencoded = rows["ngff-resave workflow, `codec: blosc-zstd-5`"]
    assert float(reencoded[6]) < float(rows["byte copy, `cp -r`"][6])
    assert "Last re-encode run's catalog: valid True, validated full, mode reencode" in text
    for cells in rows.values():
        wall, rate, peak, output_gb = float(cells[1]), float(cells[2]), cells[4], float(cells[6])
        assert wall > 0 and rate > 0 and output_gb > 0, cells
        assert peak.endswith(" MiB") and int(peak.split()[0]) > 0, cells
    assert rows["byte copy, `cp -r`"][7:9] == ["1.00", "1.00"]
    assert float(rows["ngff-resave workflow, defaults"][7]) > 0
    # The workflow's result was valid (the script fails otherwise) and its steps are there.
    assert "Last run's catalog: valid True, validated full" in text
    steps = table_rows(text, "step")
    assert "plan" in steps and "catalog" in steps and "rest" in steps
    assert any(name.startswith("convert") for name in steps), steps
    assert float(steps["plan"][2]) > 0
    # Every output was deleted after its run.
    assert not (work / "copy" / "output.ome.zarr").exists()
    assert not (work / "workflow" / "results" / "ome-zarr" / "slide.ome.zarr").exists()
    assert not (work / "reencode" / "results" / "ome-zarr" / "slide.ome.zarr").exists()
    assert not any((work / "workflow" / "results" / "ome-zarr").glob("*"))
    # The main table went between the README's markers, the steps stayed out.
    written = readme.read_text()
    assert written.startswith(f"intro\n{bigimage.README_START}\nRun of ")
    assert written.endswith(f"{bigimage.README_END}\nend\n")
    assert "| byte copy, `cp -r` |" in written and "| step |" not in written
    assert "bench/bigimage-results.md" in written
