"""The workflow end to end, run by Snakemake like a user runs it."""

import csv
import errno
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import (
    CHALLENGE_FIXTURES,
    STATS_RUN,
    read_json,
    snakemake,
    snakemake_command,
    tree_bytes,
)

from ngff_resave.cli.examples import write_example_workdir

pytestmark = pytest.mark.workflow
DATASETS = ["image-with-labels", "plate", "bioformats2raw"]
# Every dataset gets jobs of its own, and levels are cut into several parts.
SPLIT = "packs:\n  target_bytes: 0\nparts:\n  target_bytes: 20000\n"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    write_example_workdir(tmp_path)
    return tmp_path


def add_config(workdir: Path, text: str) -> None:
    with open(workdir / "config.yaml", "a") as handle:
        handle.write(text)


def output_of(workdir: Path, dataset: str) -> Path:
    return workdir / "results" / "ome-zarr" / f"{dataset}.ome.zarr"


def outputs_of(workdir: Path, dataset: str) -> dict[Path, int]:
    paths = [*(workdir / "results" / dataset).rglob("*"), *output_of(workdir, dataset).rglob("*")]
    return {p: p.stat().st_mtime_ns for p in paths if p.is_file()}


def failed_rows(workdir: Path) -> list[dict[str, str]]:
    with open(workdir / "results" / "failed.tsv") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def jobs_run(result: subprocess.CompletedProcess[str]) -> list[str]:
    text = result.stdout + result.stderr
    return [
        line.split()[-1].rstrip(":")
        for line in text.splitlines()
        if line.startswith(("rule ", "localrule ", "checkpoint ", "localcheckpoint "))
    ]


def test_examples_end_to_end_and_dry_runs(workdir):
    snakemake(workdir, "--until", "plan")
    dry = snakemake(workdir, "-n").stdout
    # after planning, a dry run lists the jobs: the three small datasets share one pack
    assert dry.count("rule pack:") == 1 and "rule convert:" not in dry, dry
    run = snakemake(workdir)
    assert "ngff-resave: 3 of 3 datasets converted and valid; 0 failed." in run.stderr
    catalog = pd.read_csv(workdir / "results" / "catalog.csv")
    assert list(catalog["dataset"]) == DATASETS
    assert catalog["valid"].all() and (catalog["validated"] == "full").all()
    assert list(catalog["kind"]) == ["image", "plate", "bioformats2raw"]
    for dataset in catalog["dataset"]:
        assert read_json(workdir / "results" / dataset / "validation.json")["valid"]
        assert (workdir / "results" / dataset / "convert" / "0-0.json").is_file()
        log = (workdir / "logs" / dataset / "pack.log").read_text()
        assert "shards (100%)" in log and "MB/s" in log
    assert len(list((workdir / "benchmarks" / "packs").glob("*.tsv"))) == 1
    assert not (workdir / "results" / "failed.tsv").exists()
    assert "Nothing to be done" in snakemake(workdir, "-n").stdout


def test_packed_and_split_runs_write_the_same_files(workdir, tmp_path_factory):
    split = tmp_path_factory.mktemp("split")
    # the same inputs (the crate's default description names the input)
    sheet = (workdir / "samples.tsv").read_text().replace("\tinputs/", f"\t{workdir}/inputs/")
    (split / "samples.tsv").write_text(sheet)
    (workdir / "samples.tsv").write_text(sheet)
    shutil.copy(workdir / "config.yaml", split / "config.yaml")
    add_config(split, SPLIT)
    snakemake(workdir)
    result = snakemake(split)
    jobs = jobs_run(result)
    assert "pack" not in jobs and jobs.count("metadata") == jobs.count("validate") == 3
    assert jobs.count("convert") > 8  # more than one part per level
    for dataset in DATASETS:
        packed_files = tree_bytes(output_of(workdir, dataset), STATS_RUN)
        assert packed_files == tree_bytes(output_of(split, dataset), STATS_RUN)
    packed = pd.read_csv(workdir / "results" / "catalog.csv")
    assert pd.read_csv(split / "results" / "catalog.csv")["valid"].all()
    # The same shard bytes; the metadata files differ by a few bytes where the challenge
    # statistics' time stamps are printed with more or fewer digits.
    for dataset in DATASETS:
        assert shard_bytes(workdir, dataset) == shard_bytes(split, dataset) > 0
    other = pd.read_csv(split / "results" / "catalog.csv")
    for ours, theirs in zip(packed["written"], other["written"], strict=True):
        assert abs(ours - theirs) < 200


def shard_bytes(workdir: Path, dataset: str) -> int:
    records = (workdir / "results" / dataset / "convert").glob("*.json")
    return sum(read_json(record)["bytes_written"] for record in records)


@pytest.mark.parametrize("layout", ["packed", "split"])
def test_a_failed_dataset_is_catalogued_reported_and_redone_alone(workdir, layout):
    """A corrupt input chunk: copying moves its bytes as they are, and validation, which
    decodes every chunk, fails the dataset; the others finish; the next run redoes it alone."""
    if layout == "split":
        add_config(workdir, SPLIT)
    chunk = workdir / "inputs" / "image-with-labels.ome.zarr" / "1" / "0" / "0" / "0" / "0" / "0"
    good_bytes = chunk.read_bytes()
    chunk.write_bytes(b"definitely not blosc" * 10)
    failed = snakemake(workdir, "--keep-going", check=False)
    assert failed.returncode != 0
    assert "ngff-resave: 2 of 3 datasets converted and valid; 1 failed." in failed.stderr
    assert "results/failed.tsv" in failed.stderr and "results/catalog.csv" in failed.stderr
    catalog = pd.read_csv(workdir / "results" / "catalog.csv", keep_default_na=False)
    assert list(catalog["dataset"]) == DATASETS
    assert list(catalog["valid"]) == [False, True, True]
    assert "dataset 'image-with-labels'" in catalog.loc[0, "error"]
    assert not (output_of(workdir, "image-with-labels") / "zarr.json").exists()
    rows = failed_rows(workdir)
    rule = "pack" if layout == "packed" else "validate"
    assert [(r["dataset"], r["rule"], r["failure"]) for r in rows] == [
        ("image-with-labels", rule, "conversion failure")
    ]
    assert rows[0]["log"].startswith(f"logs/image-with-labels/{rule}")
    assert "image-with-labels.ome.zarr/1" in rows[0]["error"]
    assert "dataset 'plate'" not in (workdir / rows[0]["log"]).read_text()

    untouched = {d: outputs_of(workdir, d) for d in ("plate", "bioformats2raw")}
    chunk.write_bytes(good_bytes)
    rerun = snakemake(workdir)
    for dataset, mtimes in untouched.items():
        assert outputs_of(workdir, dataset) == mtimes, dataset
    if layout == "split":
        # only the convert job of the array that failed validation, then its dataset's steps
        assert sorted(jobs_run(rerun)) == [
            "all",
            "catalog",
            "convert",
            "metadata",
            "report_pages",
            "validate",
        ]
    assert read_json(workdir / "results" / "image-with-labels" / "validation.json")["valid"]
    assert not (workdir / "results" / "failed.tsv").exists()
    assert pd.read_csv(workdir / "results" / "catalog.csv")["valid"].all()
    assert "Nothing to be done" in snakemake(workdir, "-n").stdout


@pytest.mark.parametrize("layout", ["packed", "split"])
def test_a_deleted_output_is_redone_alone(workdir, layout):
    if layout == "split":
        add_config(workdir, SPLIT)
    snakemake(workdir)
    before = tree_bytes(output_of(workdir, "plate"))
    untouched = {d: outputs_of(workdir, d) for d in ("image-with-labels", "bioformats2raw")}
    shutil.rmtree(output_of(workdir, "plate"))
    rerun = snakemake(workdir)
    assert "plan" not in jobs_run(rerun)
    for dataset, mtimes in untouched.items():
        assert outputs_of(workdir, dataset) == mtimes, dataset
    assert tree_bytes(output_of(workdir, "plate")) == before
    assert "Nothing to be done" in snakemake(workdir, "-n").stdout


def test_a_row_that_cannot_be_planned_is_planned_again_by_the_next_run(workdir):
    attrs = workdir / "inputs" / "plate.ome.zarr" / ".zattrs"
    good = attrs.read_text()
    attrs.write_text("{}")
    failed = snakemake(workdir, check=False)
    assert failed.returncode != 0
    rows = failed_rows(workdir)
    assert [(r["dataset"], r["rule"], r["failure"]) for r in rows] == [
        ("plate", "plan", "input defect")
    ]
    assert "not OME-Zarr" in rows[0]["error"] and (workdir / rows[0]["log"]).is_file()
    # not fixed: planned (and reported) again
    assert snakemake(workdir, check=False).returncode != 0
    untouched = {d: outputs_of(workdir, d) for d in ("image-with-labels", "bioformats2raw")}
    attrs.write_text(good)
    snakemake(workdir)
    for dataset, mtimes in untouched.items():
        assert outputs_of(workdir, dataset) == mtimes, dataset
    assert pd.read_csv(workdir / "results" / "catalog.csv")["valid"].all()
    assert "Nothing to be done" in snakemake(workdir, "-n").stdout


def test_challenge_fixtures_end_to_end(tmp_path):
    if not CHALLENGE_FIXTURES.is_dir():
        pytest.skip(f"{CHALLENGE_FIXTURES} not present (only in the project's CI checkout)")
    rows = ["dataset\tinput"] + [
        f"{n}\t{CHALLENGE_FIXTURES / n}.zarr" for n in ("2d", "bf2raw", "hcs")
    ]
    (tmp_path / "samples.tsv").write_text("\n".join(rows) + "\n")
    (tmp_path / "config.yaml").write_text(
        "samples: samples.tsv\nrocrate:\n  license: CC0-1.0\ncatalog:\n"
        "  url_prefix: https://example.org/ngff\n"
    )
    snakemake(tmp_path)
    catalog = pd.read_csv(tmp_path / "results" / "catalog.csv")
    assert catalog["valid"].all() and len(catalog) == 3
    assert list(catalog["url"]) == [
        f"https://example.org/ngff/{n}.ome.zarr" for n in ("2d", "bf2raw", "hcs")
    ]
    assert catalog.loc[2, "wells"] == 4 and catalog.loc[2, "images"] == 8


def test_a_bad_sheet_stops_the_run_before_any_job(workdir):
    sheet = (workdir / "samples.tsv").read_text().splitlines()
    sheet.append(sheet[1])  # the first dataset again
    (workdir / "samples.tsv").write_text("\n".join(sheet) + "\n")
    result = snakemake(workdir, check=False)
    assert result.returncode != 0
    assert (
        "samples.tsv line 5 (dataset 'image-with-labels'), column 'dataset': duplicate id"
        in result.stderr
    )
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()


def test_files_the_workflow_did_not_write_are_never_replaced(workdir):
    target = output_of(workdir, "plate")
    target.mkdir(parents=True)
    (target / "zarr.json").write_text("{}")
    for overwrite in ("false", "true"):
        add_config(workdir, f"overwrite: {overwrite}\n")
        result = snakemake(workdir, check=False)
        assert result.returncode != 0
        rows = failed_rows(workdir)
        assert [r["dataset"] for r in rows] == ["plate"]
        assert (
            f"output {target} is not empty and holds files this workflow did not write "
            "(zarr.json)" in rows[0]["error"]
        )
        assert (target / "zarr.json").read_text() == "{}"


def test_overwrite_on_a_finished_run_keeps_every_dataset(workdir):
    snakemake(workdir)
    before = {name: tree_bytes(output_of(workdir, name)) for name in DATASETS}
    add_config(workdir, "overwrite: true\n")
    snakemake(workdir)
    assert {name: tree_bytes(output_of(workdir, name)) for name in DATASETS} == before
    catalog = pd.read_csv(workdir / "results" / "catalog.csv", keep_default_na=False)
    assert list(catalog["valid"]) == [True] * len(DATASETS)
    for name in DATASETS:
        assert read_json(output_of(workdir, name) / "zarr.json")["attributes"]["ome"]


def test_a_job_that_dies_still_leaves_a_catalog_of_every_dataset(workdir):
    snakemake(workdir, "--until", "plan")
    # The pack cannot open the plate's log: the job dies before it can record any outcome.
    (workdir / "logs" / "plate" / "pack.log").mkdir(parents=True)
    failed = snakemake(workdir, "--keep-going", check=False)
    assert failed.returncode != 0
    assert "ngff-resave: 1 of 3 datasets converted and valid; 2 failed." in failed.stderr
    catalog = pd.read_csv(workdir / "results" / "catalog.csv", keep_default_na=False)
    assert list(catalog["dataset"]) == DATASETS
    # the pack converted the first dataset before it died; the others have no outcome
    assert list(catalog["valid"]) == [True, False, False]
    rows = failed_rows(workdir)
    assert [(r["dataset"], r["rule"]) for r in rows] == [
        ("plate", "pack"),
        ("bioformats2raw", "pack"),
    ]
    assert rows[0]["log"].startswith("logs/packs/") and "IsADirectoryError" in rows[0]["error"]
    (workdir / "logs" / "plate" / "pack.log").rmdir()
    snakemake(workdir)
    assert pd.read_csv(workdir / "results" / "catalog.csv")["valid"].all()


def wait_for_reader(fifo: Path, seconds: float = 120) -> int:
    """The write end of a FIFO, opened once a job has it open for reading (and blocks there)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as err:
            if err.errno != errno.ENXIO:
                raise
            time.sleep(0.05)
    raise AssertionError(f"no job opened {fifo} within {seconds} s")


@pytest.mark.parametrize(
    ("step", "blocked"),
    [
        ("convert", "image-with-labels.ome.zarr/1/0/0/0/0/0"),
        ("metadata", "bioformats2raw.ome.zarr/OME/METADATA.ome.xml"),
    ],
)
def test_after_kill_9_the_readme_recovery_steps_finish_the_run(
    workdir, tmp_path_factory, step, blocked
):
    """Snakemake and its jobs are killed while a job is stuck reading one input file (a FIFO
    in its place); `--unlock` and the same command again give the files of a clean run."""
    clean = tmp_path_factory.mktemp("clean")
    sheet = (workdir / "samples.tsv").read_text().replace("\tinputs/", f"\t{workdir}/inputs/")
    for folder in (workdir, clean):
        (folder / "samples.tsv").write_text(sheet)
    shutil.copy(workdir / "config.yaml", clean / "config.yaml")
    snakemake(clean)

    source = workdir / "inputs" / blocked
    content = source.read_bytes()
    source.unlink()
    os.mkfifo(source)
    run = subprocess.Popen(
        snakemake_command(workdir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        writer = wait_for_reader(source)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
        os.close(writer)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    source.unlink()
    source.write_bytes(content)
    dataset = blocked.split(".ome.zarr")[0]
    assert not (output_of(workdir, dataset) / "zarr.json").exists()

    locked = snakemake(workdir, check=False)
    assert locked.returncode != 0 and "--unlock" in locked.stderr
    snakemake(workdir, "--unlock")
    snakemake(workdir)
    for name in DATASETS:
        assert tree_bytes(output_of(workdir, name)) == tree_bytes(output_of(clean, name)), name
        assert not [p for p in output_of(workdir, name).rglob("*.tmp")]
    assert pd.read_csv(workdir / "results" / "catalog.csv")["valid"].all()


@pytest.mark.parametrize("layout", ["packed", "split"])
def test_editing_crate_fields_redoes_the_metadata_not_the_pixels(workdir, layout):
    if layout == "split":
        add_config(workdir, SPLIT)
    snakemake(workdir)
    shards = {
        p: p.stat().st_mtime_ns for p in output_of(workdir, "plate").rglob("c/**/*") if p.is_file()
    }
    others = {d: outputs_of(workdir, d) for d in ("image-with-labels", "bioformats2raw")}
    sheet = (workdir / "samples.tsv").read_text()
    (workdir / "samples.tsv").write_text(
        sheet.replace("https://example.org/plate", "https://example.org/plate-moved").replace(
            "plate\tinputs/plate.ome.zarr\tCC-BY-4.0", "plate\tinputs/plate.ome.zarr\tCC0-1.0"
        )
    )
    rerun = snakemake(workdir)  # no overwrite needed: the output is this row's own
    assert "convert" not in jobs_run(rerun)
    assert shards and {p: p.stat().st_mtime_ns for p in shards} == shards
    for dataset, mtimes in others.items():
        assert outputs_of(workdir, dataset) == mtimes, dataset
    crate = read_json(output_of(workdir, "plate") / "ro-crate-metadata.json")
    root = next(item for item in crate["@graph"] if item["@id"] == "./")
    assert root["license"] == "https://creativecommons.org/publicdomain/zero/1.0/"
    catalog = pd.read_csv(workdir / "results" / "catalog.csv").set_index("dataset")
    assert catalog.loc["plate", "origin"] == "https://example.org/plate-moved"
    assert catalog.loc["plate", "license"] == root["license"]
    assert catalog["valid"].all()
    assert "Nothing to be done" in snakemake(workdir, "-n").stdout


def add_column(workdir: Path, name: str, values: dict[str, str]) -> None:
    """A new sheet column, ``values`` by dataset (empty cells elsewhere)."""
    lines = (workdir / "samples.tsv").read_text().splitlines()
    rows = [lines[0] + f"\t{name}"]
    rows += [line + "\t" + values.get(line.split("\t", 1)[0], "") for line in lines[1:]]
    (workdir / "samples.tsv").write_text("\n".join(rows) + "\n")


def ome_version(workdir: Path, dataset: str) -> str:
    return read_json(output_of(workdir, dataset) / "zarr.json")["attributes"]["ome"]["version"]


@pytest.mark.parametrize("layout", ["packed", "split"])
def test_switching_the_ome_zarr_version_redoes_the_metadata_not_the_pixels(workdir, layout):
    if layout == "split":
        add_config(workdir, SPLIT)
    add_config(workdir, 'ngff_version: "0.6"\n')
    add_column(workdir, "ngff_version", {"plate": "0.5"})
    snakemake(workdir)
    assert [ome_version(workdir, d) for d in ("image-with-labels", "plate", "bioformats2raw")] == [
        "0.6",
        "0.5",
        "0.6",
    ]
    catalog = pd.read_csv(workdir / "results" / "catalog.csv", dtype=str).set_index("dataset")
    columns = list(catalog.columns)
    assert columns[columns.index("ngff_version") + 1] == "input_version"
    assert catalog["ngff_version"].to_dict() == {
        "image-with-labels": "0.6",
        "plate": "0.5",
        "bioformats2raw": "0.6",
    }
    assert set(catalog["input_version"]) == {"0.4"}
    validation = read_json(workdir / "results" / "image-with-labels" / "validation.json")
    assert any(c["check"].startswith("0.6 JSON schemas") for c in validation["checks"])
    for dataset in catalog.index:  # drawn from the output's own metadata, 0.6 or 0.5
        assert (workdir / "results" / dataset / "thumbnail.png").stat().st_size > 0, dataset

    shards = {
        p: p.stat().st_mtime_ns for p in output_of(workdir, "plate").rglob("c/**/*") if p.is_file()
    }
    others = {d: outputs_of(workdir, d) for d in ("image-with-labels", "bioformats2raw")}
    sheet = (workdir / "samples.tsv").read_text().splitlines()
    (workdir / "samples.tsv").write_text(
        "\n".join(line.replace("\t0.5", "\t0.6") for line in sheet) + "\n"
    )
    rerun = snakemake(workdir)
    assert "convert" not in jobs_run(rerun)
    assert shards and {p: p.stat().st_mtime_ns for p in shards} == shards
    for dataset, mtimes in others.items():
        assert outputs_of(workdir, dataset) == mtimes, dataset
    assert ome_version(workdir, "plate") == "0.6"
    catalog = pd.read_csv(workdir / "results" / "catalog.csv", dtype=str).set_index("dataset")
    assert catalog.loc["plate", "ngff_version"] == "0.6"
    assert catalog["valid"].eq("True").all()


def test_a_small_sheet_is_planned_in_the_snakemake_process(workdir):
    run = snakemake(workdir)
    jobs = jobs_run(run)
    # No plan job: the Snakemake process planned the three rows, and wrote what the job writes.
    assert "plan" not in jobs and "pack" in jobs, jobs
    assert (workdir / "results" / "plan.json").is_file()
    for dataset in DATASETS:
        assert (workdir / "results" / dataset / "plan.json").is_file()
    assert len(list((workdir / "logs" / "plans").glob("*.log"))) == 1
    assert len(list((workdir / "benchmarks" / "plans").glob("*.tsv"))) == 1
    # A dry run of a new sheet plans nothing itself: it shows the plan job.
    (workdir / "results").rename(workdir / "old-results")
    assert "plan" in jobs_run(snakemake(workdir, "-n"))
    assert not (workdir / "results" / "plan.json").exists()


@pytest.mark.parametrize("layout", ["packed", "split"])
def test_a_stronger_validation_mode_revalidates_finished_datasets_only(workdir, layout):
    split = SPLIT if layout == "split" else ""

    def asking(mode: str) -> None:
        (workdir / "config.yaml").write_text(
            f"samples: samples.tsv\n{split}validate:\n  mode: {mode}\n"
        )

    asking("sample")
    snakemake(workdir)
    shards = {
        p: p.stat().st_mtime_ns for p in output_of(workdir, "plate").rglob("c/**/*") if p.is_file()
    }
    catalog = pd.read_csv(workdir / "results" / "catalog.csv").set_index("dataset")
    assert (catalog["validated"] == "sample").all()
    asking("full")
    jobs = jobs_run(snakemake(workdir))
    # Validated again, in full; the pixels are not converted again.
    validating = "pack" if layout == "packed" else "validate"
    assert validating in jobs and "convert" not in jobs, jobs
    assert shards and {p: p.stat().st_mtime_ns for p in shards} == shards
    catalog = pd.read_csv(workdir / "results" / "catalog.csv").set_index("dataset")
    assert catalog["valid"].all() and (catalog["validated"] == "full").all()
    for dataset in DATASETS:
        outcome = read_json(workdir / "results" / dataset / "validation.json")
        assert outcome["validated"] == "full"
        assert any(c["check"].endswith("(full)") for c in outcome["checks"]), dataset
    # A weaker mode asked afterwards finds the full validation enough.
    outcomes = {d: outputs_of(workdir, d) for d in DATASETS}
    asking("sample")
    jobs = jobs_run(snakemake(workdir))
    assert not {"pack", "convert", "metadata", "validate"} & set(jobs), jobs
    assert {d: outputs_of(workdir, d) for d in DATASETS} == outcomes
    # Validated again on demand (the README's command): each job with the mode it ran with.
    jobs = jobs_run(snakemake(workdir, "--forcerun", "pack", "validate"))
    assert validating in jobs and "convert" not in jobs, jobs
    for dataset in DATASETS:
        outcome = read_json(workdir / "results" / dataset / "validation.json")
        assert outcome["validated"] == "full" and outcome["valid"], dataset
