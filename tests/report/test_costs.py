"""The conversion cost a run states: handcrafted records and benchmarks with exact figures; the
records of a real conversion, in process, against the catalog; a real Snakemake run's end
summary and report section, against its benchmark files."""

from __future__ import annotations

import csv
import html
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import settings_for, snakemake
from test_report import table_rows as html_rows

from ngff_resave.cli.examples import write_example_workdir
from ngff_resave.records.ownership import Run
from ngff_resave.report.catalog import read_run_summary, write_run_catalog
from ngff_resave.report.costs import (
    ASSUMPTION,
    COLUMNS,
    NOTES,
    PROJECTION_MIN_BYTES,
    human_duration,
    human_size,
    read_benchmark,
    run_costs,
    summary_lines,
    table_rows,
)
from ngff_resave.report.pages import catalog_page, cost_section, write_report_pages
from ngff_resave.sheet.plan import plan_sheet
from ngff_resave.steps import load_plan
from ngff_resave.steps.convert import convert_step
from ngff_resave.steps.metadata import metadata_step
from ngff_resave.steps.pack import run_pack
from ngff_resave.steps.validate import validate_step

STARTED = 1_000_000.0
FRESH, OLD = STARTED + 100, STARTED - 100
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def put(path: Path, content: Any, when: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    os.utime(path, (when, when))


def bench(seconds: float, cpu_time: float | str) -> str:
    """A benchmark file as Snakemake 9 writes it."""
    return HEADER + f"{seconds}\t0:00:00\t10.5\t20.1\t5.0\t6.0\t0.00\t0.00\t50.0\t{cpu_time}\n"


@pytest.fixture
def handcrafted(tmp_path: Path) -> Path:
    """A run's records and benchmarks, and older ones of jobs kept from an earlier run."""
    results, marks = tmp_path / "results", tmp_path / "benchmarks"
    put(results / "run.json", {"started": STARTED, "host": "node-a", "ended": None}, FRESH)
    put(results / "plans" / "p1.json", {}, FRESH)
    put(marks / "plans" / "p1.tsv", bench(2.0, 1.5), FRESH)
    put(results / "plans" / "p0.json", {}, OLD)
    put(marks / "plans" / "p0.tsv", bench(99, 99), OLD)
    # "big": its own jobs; one convert job has no benchmark; one is kept from earlier.
    big = results / "big"
    put(
        big / "convert" / "0-0.json",
        {"bytes_read": 4e9, "bytes_written": 3e9, "seconds": 50, "threads": 2},
        FRESH,
    )
    put(marks / "big" / "convert-0-0.tsv", bench(60, 100), FRESH)
    put(
        big / "convert" / "1-0.json",
        {"bytes_read": 6e8, "bytes_written": 6e8, "seconds": 20, "threads": 4},
        FRESH,
    )
    put(big / "convert" / "2-0.json", {"bytes_read": 7e9, "seconds": 70, "threads": 2}, OLD)
    put(marks / "big" / "convert-2-0.tsv", bench(70, 70), OLD)
    put(big / "metadata" / "a1.json", {"bytes_written": 1000}, FRESH)
    put(marks / "big" / "metadata-a1.tsv", bench(1.0, "NA"), FRESH)
    put(big / "metadata" / "a0.json", {"bytes_written": 5}, OLD)
    put(big / "validate" / "a1.json", {"valid": True, "bytes_read": 2e9}, FRESH)
    put(marks / "big" / "validate-a1.tsv", bench(10, 15), FRESH)
    # "wide": validated only, no bytes_read in its record, done before Snakemake's 2nd sample.
    put(results / "wide" / "validate" / "b1.json", {"valid": True}, FRESH)
    put(marks / "wide" / "validate-b1.tsv", bench(5, 0.0), FRESH)
    # "small1" and "small2": one pack; small2's metadata is an earlier run's.
    put(
        results / "packs" / "k1.json",
        {"datasets": [{"dataset": "small1"}, {"dataset": "small2"}], "seconds": 8, "threads": 1},
        FRESH,
    )
    put(marks / "packs" / "k1.tsv", bench(9, 0.0), FRESH)
    put(
        results / "small1" / "convert" / "0-0.json",
        {"bytes_read": 1e8, "bytes_written": 2e8, "seconds": 3, "threads": 1},
        FRESH,
    )
    put(results / "small1" / "metadata.json", {"bytes_written": 500}, FRESH)
    put(
        results / "small2" / "convert" / "0-0.json",
        {"bytes_read": 3e8, "bytes_written": 1e8},
        FRESH,
    )
    put(results / "small2" / "metadata.json", {"bytes_written": 7777}, OLD)
    # "kept": all its work is an earlier run's.
    put(results / "packs" / "k0.json", {"datasets": [{"dataset": "kept"}], "seconds": 5}, OLD)
    put(marks / "packs" / "k0.tsv", bench(5, 5), OLD)
    put(results / "kept" / "convert" / "0-0.json", {"bytes_read": 9e9, "bytes_written": 9e9}, OLD)
    put(results / "kept" / "validate" / "c.json", {"bytes_read": 9e9}, OLD)
    put(results / "catalog.csv", "dataset\n", STARTED + 200)
    return results


DATASETS = ["big", "wide", "small1", "small2", "kept"]


def test_steps_totals_and_projection_from_handcrafted_records(handcrafted):
    costs = run_costs(handcrafted, DATASETS)
    assert costs is not None
    assert [COLUMNS[0], *COLUMNS[5:]] == ["step", "GB read", "GB written", "GB/s (read per second)"]
    assert table_rows(costs) == [
        ["plan", "1", "2", "1.5", "cpu_time", "", "", ""],
        [
            "convert",
            "2",
            "80",
            "180",
            "cpu_time (1 job), s × threads (1 job)",
            "4.6",
            "3.6",
            "0.0575",
        ],
        ["metadata", "1", "1", "", "not measured", "", "1.00e-06", ""],
        ["validate", "2", "15", "15", "cpu_time (1 job), not measured (1 job)", "2", "", "0.133"],
        ["pack", "1", "9", "9", "s × threads", "0.4", "0.3", "0.0444"],
        ["run (start to catalog)", "7", "200", "206", "the steps' sum", "5", "3.9", "0.025"],
    ]
    assert costs.wall_seconds == 200
    assert costs.bytes_read == 5_000_000_000  # the validation's 2 GB are not the input's
    assert costs.bytes_written == 3_900_001_500
    assert costs.core_seconds == pytest.approx(205.5)
    assert (costs.datasets, costs.datasets_with_jobs) == (5, 4)
    projection = costs.projection
    assert projection is not None
    assert projection.wall_hours == pytest.approx(200 * 200 / 3600)
    assert projection.core_hours == pytest.approx(205.5 * 200 / 3600)
    assert summary_lines(costs) == [
        "  conversion cost, this run's jobs only (4 of 5 datasets had jobs; work kept from "
        "earlier runs is not counted):",
        "    3.3 min from the run's start to the catalog; read 5 GB of input, wrote 3.9 GB "
        "(25 MB/s); core time 3.4 min",
        "    per step, wall / core time (and input read per second): plan 2 s / 1.5 s, convert "
        "1.3 min / 3.0 min at 57.5 MB/s (2 jobs), metadata 1 s / -, validate 15 s / 15 s at "
        "133 MB/s (2 jobs), pack 9 s / 9 s at 44.4 MB/s",
        "    1 TB of input at this rate on host node-a: 11.1 h wall, 11.4 core-hours "
        "(linear extrapolation of this run)",
    ]


def test_the_report_section_is_the_same_table(handcrafted):
    costs = run_costs(handcrafted, DATASETS)
    page = catalog_page(pd.DataFrame({"dataset": DATASETS}), costs)
    rows = html_rows(page)
    catalog_end = rows.index(COLUMNS)
    assert rows[:catalog_end] == [["dataset"], *([d] for d in DATASETS)]
    assert rows[catalog_end + 1 :] == table_rows(costs)
    assert "1 TB of input at this rate on host node-a: 11.1 h wall, 11.4 core-hours" in page
    assert "4 of 5 datasets had jobs in it; work kept from earlier runs is not counted" in page
    assert all(html.escape(text) in page for text in (ASSUMPTION, *NOTES))


def test_a_failed_runs_catalog_dated_back_ends_the_run_at_its_last_job(handcrafted):
    os.utime(handcrafted / "catalog.csv", (OLD, OLD))
    costs = run_costs(handcrafted, DATASETS)
    assert costs is not None and costs.wall_seconds == FRESH - STARTED


def test_a_run_that_read_nothing_projects_nothing(handcrafted):
    for dataset in ("big", "small1", "small2"):
        shutil.rmtree(handcrafted / dataset / "convert")
    costs = run_costs(handcrafted, DATASETS)
    assert costs is not None and costs.bytes_read == 0 and costs.projection is None
    assert summary_lines(costs)[-1] == "    1 TB projection: none, this run read no input"


def test_a_small_run_leaves_the_projection_out_and_says_why(handcrafted):
    """Under 1 GB read, the 1 TB figure would scale the run's fixed costs a thousandfold."""
    for dataset in ("big", "small1"):
        shutil.rmtree(handcrafted / dataset / "convert")
    costs = run_costs(handcrafted, DATASETS)
    assert costs is not None and 0 < costs.bytes_read < PROJECTION_MIN_BYTES == 1e9
    lines = summary_lines(costs)
    assert lines[-1].startswith(
        f"    1 TB projection left out: this run read {human_size(costs.bytes_read)} of input, "
        "under the 1 GB from which its rate says something"
    )
    assert "e-0" not in "\n".join(lines) and "core-hours" not in lines[-1]


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0.004, "0.004 s"), (1.21, "1.2 s"), (48, "48 s"), (206, "3.4 min"), (40000, "11.1 h")],
)
def test_durations_in_human_units(seconds, said):
    assert human_duration(seconds) == said


@pytest.mark.parametrize(
    ("count", "said"), [(12, "12 B"), (3500, "3.5 kB"), (389_000, "389 kB"), (3.9e9, "3.9 GB")]
)
def test_sizes_in_human_units(count, said):
    assert human_size(count) == said


def test_without_a_run_record_the_cost_is_not_stated(handcrafted):
    (handcrafted / "run.json").unlink()
    assert run_costs(handcrafted, DATASETS) is None
    assert summary_lines(None) == [
        "  conversion cost: not stated (no run record, results/run.json)"
    ]
    assert "Not stated" in cost_section(None)


def test_benchmark_files(tmp_path):
    path = tmp_path / "b.tsv"
    put(path, bench(2.5, 3.25), FRESH)
    assert read_benchmark(path) == read_benchmark(path) and read_benchmark(path).cpu_time == 3.25
    # repeat(): every row is one more run of the job.
    put(path, bench(2.5, 3.25) + bench(1.5, 0.75).split("\n", 1)[1], FRESH)
    found = read_benchmark(path)
    assert found is not None and (found.seconds, found.cpu_time) == (4.0, 4.0)
    put(path, bench(2.5, "NA"), FRESH)
    found = read_benchmark(path)
    assert found is not None and (found.seconds, found.cpu_time) == (2.5, None)
    put(path, "seconds\tcpu\n1\t2\n", FRESH)
    assert read_benchmark(path) is None
    put(path, "", FRESH)
    assert read_benchmark(path) is None
    assert read_benchmark(tmp_path / "missing.tsv") is None


def catalog_sums(results: Path) -> tuple[int, int]:
    catalog = pd.read_csv(results / "catalog.csv")
    return int(catalog["read"].sum()), int(catalog["written"].sum())


def test_records_of_a_real_conversion(examples, tmp_path, monkeypatch):
    """A pack and a dataset with jobs of its own, converted by the steps the rules run; then a
    second run with nothing to do counts none of that work."""
    monkeypatch.chdir(tmp_path)
    results, logs = tmp_path / "results", tmp_path / "logs"
    Run.start(results, overwrite=False)
    rows = [
        settings_for(d, examples[d], tmp_path / f"{d}.ome.zarr")
        for d in ("plate", "image-with-labels")
    ]
    sheet = plan_sheet(rows, results)
    (results / "plan.json").write_bytes(sheet.to_bytes())
    run_pack(["plate"], results / "packs" / "k.json", results, logs, 1, "full", 8)
    plan_path = results / "image-with-labels" / "plan.json"
    plan, _ = load_plan(plan_path)
    records = [results / "image-with-labels" / "convert" / f"{job.id}.json" for job in plan.jobs]
    for job, record in zip(plan.jobs, records, strict=True):
        convert_step(plan_path, job.id, record, threads=2)
    metadata = results / "image-with-labels" / "metadata" / "a.json"
    metadata_step(plan_path, metadata, results, [str(r) for r in records])
    validate = results / "image-with-labels" / "validate" / "a.json"
    validate_step(plan_path, validate, results, logs, metadata, "full", 8, 1)
    ok, text = write_run_catalog(results, None)
    assert ok

    costs = run_costs(results, ["plate", "image-with-labels"])
    assert costs is not None
    steps = {s.step: s for s in costs.steps}
    assert list(steps) == ["convert", "metadata", "validate", "pack"]
    converted = [json.loads(r.read_text()) for r in records]
    convert = steps["convert"]
    assert convert.jobs == len(plan.jobs) >= 2
    assert convert.seconds == pytest.approx(sum(r["seconds"] for r in converted))
    assert convert.core_seconds == pytest.approx(2 * sum(r["seconds"] for r in converted))
    assert convert.core_from() == "s × threads"
    assert convert.bytes_read == sum(r["bytes_read"] for r in converted) > 0
    pack = json.loads((results / "packs" / "k.json").read_text())
    assert steps["pack"].seconds == pack["seconds"] and steps["pack"].jobs == 1
    # No benchmarks here (no Snakemake), and these records have no seconds.
    assert steps["metadata"].seconds is None and steps["validate"].seconds is None
    assert steps["validate"].bytes_read is None
    # Every byte the catalog counts, no more: each dataset's work was done in this run.
    assert (costs.bytes_read, costs.bytes_written) == catalog_sums(results)
    assert costs.datasets_with_jobs == 2
    assert "\n".join(summary_lines(costs)) in text
    assert read_run_summary(results) == (True, text)
    write_report_pages(results)
    page = (results / "report" / "catalog.html").read_text()
    assert html_rows(page)[-len(costs.steps) - 1 :] == table_rows(costs)

    # The next run: all of it kept, nothing counted.
    time.sleep(0.05)
    Run.start(results, overwrite=False)
    ok, text = write_run_catalog(results, None)
    later = run_costs(results, ["plate", "image-with-labels"])
    assert later is not None and later.steps == [] and later.bytes_read == 0
    assert (
        "(0 of 2 datasets had jobs;" in text
        and "1 TB projection: none, this run read no input" in text
    )


def benchmark_sums(folder: Path, pattern: str) -> tuple[int, float, float]:
    """Jobs, wall seconds and cpu_time of the benchmark files, read with the csv module."""
    rows = []
    for path in sorted(folder.glob(pattern)):
        with path.open() as handle:
            rows += list(csv.DictReader(handle, delimiter="\t"))
    return len(rows), sum(float(r["s"]) for r in rows), sum(float(r["cpu_time"]) for r in rows)


@pytest.mark.workflow
def test_a_snakemake_run_states_its_cost_at_its_end_and_in_its_report(tmp_path):
    """One dataset with jobs of its own, two in a pack; then a run that redoes one dataset
    counts only that."""
    write_example_workdir(tmp_path)
    with open(tmp_path / "config.yaml", "a") as handle:
        handle.write("packs:\n  target_bytes: 200000\n")
    result = snakemake(tmp_path)
    results, marks = tmp_path / "results", tmp_path / "benchmarks"
    datasets = ["image-with-labels", "plate", "bioformats2raw"]
    costs = run_costs(results, datasets)
    assert costs is not None
    lines = summary_lines(costs)
    assert "\n".join(lines) in result.stderr, result.stderr[-3000:]
    assert "(3 of 3 datasets had jobs;" in lines[0]
    steps = {s.step: s for s in costs.steps}
    assert list(steps) == ["plan", "convert", "metadata", "validate", "pack"]
    jobs, seconds, _ = benchmark_sums(marks / "image-with-labels", "convert-*.tsv")
    assert (steps["convert"].jobs, steps["convert"].seconds) == (jobs, pytest.approx(seconds))
    for step, folder, pattern in (
        ("plan", marks / "plans", "*.tsv"),
        ("validate", marks / "image-with-labels", "validate-*.tsv"),
        ("pack", marks / "packs", "*.tsv"),
    ):
        jobs, seconds, cpu_time = benchmark_sums(folder, pattern)
        assert steps[step].jobs == jobs == 1 and steps[step].seconds == pytest.approx(seconds)
        if cpu_time > 0:
            assert steps[step].core_seconds == pytest.approx(cpu_time)
    assert (costs.bytes_read, costs.bytes_written) == catalog_sums(results)
    run = json.loads((results / "run.json").read_text())
    catalog_time = (results / "catalog.csv").stat().st_mtime
    assert costs.wall_seconds == pytest.approx(catalog_time - run["started"])
    assert 0 < costs.wall_seconds < time.time() - run["started"]
    page = (results / "report" / "catalog.html").read_text()
    assert html_rows(page)[-len(costs.steps) - 1 :] == table_rows(costs)

    # The plate's output gone: the next run redoes the plate's pack, nothing else.
    shutil.rmtree(tmp_path / "results" / "ome-zarr" / "plate.ome.zarr")
    result = snakemake(tmp_path)
    again = run_costs(results, datasets)
    assert again is not None
    assert "\n".join(summary_lines(again)) in result.stderr
    assert [s.step for s in again.steps] == ["pack"] and again.datasets_with_jobs == 1
    catalog = pd.read_csv(results / "catalog.csv", index_col="dataset")
    assert again.bytes_read == catalog.loc["plate", "read"]
    assert again.bytes_written == catalog.loc["plate", "written"]
