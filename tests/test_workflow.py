"""The workflow end to end, run by Snakemake like a user runs it."""

import csv
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import CHALLENGE_FIXTURES, REPO, read_json, snakemake

from ngff_resave.examples import write_example_workdir

pytestmark = pytest.mark.workflow


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    write_example_workdir(tmp_path)
    return tmp_path


def outputs_of(workdir: Path, dataset: str) -> dict[Path, int]:
    paths = [*(workdir / "results" / dataset).rglob("*"),
             *(workdir / "results" / "ome-zarr" / f"{dataset}.ome.zarr").rglob("*")]
    return {p: p.stat().st_mtime_ns for p in paths if p.is_file()}


def test_examples_end_to_end_and_dry_runs(workdir):
    snakemake(workdir, "--until", "plan")
    dry = snakemake(workdir, "-n").stdout
    # after planning, a dry run lists every convert job: one per level (3 + 2 + 3 levels)
    assert dry.count("rule convert:") == 8, dry
    snakemake(workdir)
    catalog = pd.read_csv(workdir / "results" / "catalog.csv")
    assert list(catalog["dataset"]) == ["image-with-labels", "plate", "bioformats2raw"]
    assert catalog["valid"].all()
    assert list(catalog["kind"]) == ["image", "plate", "bioformats2raw"]
    for dataset in catalog["dataset"]:
        assert read_json(workdir / "results" / dataset / "validation.json")["valid"]
        assert (workdir / "benchmarks" / dataset / "convert-0-0.tsv").is_file()
        log = (workdir / "logs" / dataset / "convert-0-0.log").read_text()
        assert "shards (100%)" in log and "MB/s" in log
    assert "Nothing to be done" in snakemake(workdir, "-n").stdout


def test_challenge_fixtures_end_to_end(tmp_path):
    if not CHALLENGE_FIXTURES.is_dir():
        pytest.skip(f"{CHALLENGE_FIXTURES} not present (only in the project's CI checkout)")
    rows = ["dataset\tinput"] + [f"{n}\t{CHALLENGE_FIXTURES / n}.zarr" for n in
                                 ("2d", "bf2raw", "hcs")]
    (tmp_path / "samples.tsv").write_text("\n".join(rows) + "\n")
    (tmp_path / "config.yaml").write_text(
        "samples: samples.tsv\nrocrate:\n  license: CC0-1.0\ncatalog:\n"
        "  url_prefix: https://example.org/ngff\n")
    snakemake(tmp_path)
    catalog = pd.read_csv(tmp_path / "results" / "catalog.csv")
    assert catalog["valid"].all() and len(catalog) == 3
    assert list(catalog["url"]) == [f"https://example.org/ngff/{n}.ome.zarr"
                                    for n in ("2d", "bf2raw", "hcs")]
    assert catalog.loc[2, "wells"] == 4 and catalog.loc[2, "images"] == 8


@pytest.mark.parametrize(("codec", "rule"), [("keep", "validate"), ("blosc-zstd-5", "convert")])
def test_one_broken_dataset_does_not_stop_the_others_and_is_redone_alone(workdir, codec, rule):
    """A corrupt input chunk: re-encoding fails while decoding it; copying moves its bytes
    as they are and validation, which decodes both sides, fails the dataset."""
    with open(workdir / "config.yaml", "a") as handle:
        handle.write(f"codec: {codec}\n")
    chunk = workdir / "inputs" / "image-with-labels.ome.zarr" / "1" / "0" / "0" / "0" / "0" / "0"
    good_bytes = chunk.read_bytes()
    chunk.write_bytes(b"definitely not blosc" * 10)
    failed = snakemake(workdir, "--keep-going", check=False)
    assert failed.returncode != 0
    assert read_json(workdir / "results" / "plate" / "validation.json")["valid"]
    assert read_json(workdir / "results" / "bioformats2raw" / "validation.json")["valid"]
    assert not (workdir / "results" / "image-with-labels" / "validation.json").exists()
    assert not (workdir / "results" / "ome-zarr" / "image-with-labels.ome.zarr" /
                "zarr.json").exists()
    with open(workdir / "results" / "failed.tsv") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    log = "logs/image-with-labels/" + ("convert-1-0.log" if rule == "convert" else "validate.log")
    assert [(r["dataset"], r["rule"], r["log"]) for r in rows] == [
        ("image-with-labels", rule, log)]
    error = rows[0]["error"]
    assert " ERROR " in error and "dataset 'image-with-labels'" in error, error
    assert "image-with-labels.ome.zarr" in error, error
    if rule == "convert":
        assert "blosc" in error.lower() and "image-with-labels.ome.zarr/1" in error

    untouched = {d: outputs_of(workdir, d) for d in ("plate", "bioformats2raw")}
    chunk.write_bytes(good_bytes)
    rerun = snakemake(workdir)
    assert "wildcards: dataset=plate" not in rerun.stderr + rerun.stdout
    for dataset, mtimes in untouched.items():
        assert outputs_of(workdir, dataset) == mtimes, dataset
    assert read_json(workdir / "results" / "image-with-labels" / "validation.json")["valid"]
    assert not (workdir / "results" / "failed.tsv").exists()
    assert len(pd.read_csv(workdir / "results" / "catalog.csv")) == 3


def test_a_bad_sheet_stops_the_run_before_any_job(workdir):
    sheet = (workdir / "samples.tsv").read_text().splitlines()
    sheet.append(sheet[1])  # the first dataset again
    (workdir / "samples.tsv").write_text("\n".join(sheet) + "\n")
    result = snakemake(workdir, check=False)
    assert result.returncode != 0
    assert ("samples.tsv line 5 (dataset 'image-with-labels'), column 'dataset': duplicate id"
            in result.stderr)
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()


def test_existing_output_is_kept_unless_overwrite(workdir):
    snakemake(workdir, "--until", "plan")
    for path in (workdir / "results").rglob("plan.json"):
        path.unlink()
    target = workdir / "results" / "ome-zarr" / "plate.ome.zarr"
    target.mkdir(parents=True)
    (target / "zarr.json").write_text("{}")
    result = snakemake(workdir, "--until", "plan", check=False)
    assert result.returncode != 0
    log = (workdir / "logs" / "plate" / "plan.log").read_text()
    assert f"dataset 'plate': output {target} already holds a Zarr dataset" in log
    assert (target / "zarr.json").read_text() == "{}"
    with open(workdir / "config.yaml", "a") as handle:
        handle.write("overwrite: true\n")
    snakemake(workdir)
    assert read_json(target / "zarr.json")["attributes"]["ome"]["version"] == "0.5"


def test_lint_and_format(workdir):
    lint = snakemake(workdir, "--lint", check=False)
    assert lint.returncode == 0 and "Congratulations" in lint.stdout + lint.stderr, lint.stderr
    fmt = subprocess.run([Path(sys.executable).parent / "snakefmt", "--check", "Snakefile",
                          "workflow"], cwd=REPO, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stderr
