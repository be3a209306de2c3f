"""A bad row fails alone, and a run ends with one clear summary: rows whose input is missing
(a local path, an S3 key, an HTTP 404) or not OME-Zarr fail at planning, are in the catalog and
results/failed.tsv with the reason, and the run exits non-zero after converting the others,
without a traceback; a sheet that cannot be read stops the run before any job, in a few lines;
a rerun with nothing to do still ends with the catalog's summary."""

import csv
from pathlib import Path

import pandas as pd
import pytest
from conftest import snakemake
from remote_servers import (  # noqa: F401 - fixtures
    http_folder_fixture,
    s3_bucket_fixture,
    s3_server_fixture,
)

from ngff_resave.cli.examples import write_example_workdir
from ngff_resave.storage import write_local_bytes

pytestmark = pytest.mark.workflow

IMAGE, PLATE, LAYOUT = "image-with-labels", "plate", "bioformats2raw"


def failed_rows(workdir: Path) -> dict[str, dict[str, str]]:
    with open(workdir / "results" / "failed.tsv") as handle:
        return {row["dataset"]: row for row in csv.DictReader(handle, delimiter="\t")}


def assert_ends_without_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr and "WorkflowError" not in stderr, stderr[-3000:]
    assert "__onsuccess" not in stderr and "__onerror" not in stderr


def test_missing_inputs_fail_alone_local_s3_and_http(
    examples, tmp_path, s3_server, s3_bucket, http_folder
):
    s3_server.upload(examples[PLATE], f"{s3_bucket}/inputs/{PLATE}.ome.zarr")
    base_url = http_folder(examples[LAYOUT].parent)
    (tmp_path / "not-zarr").mkdir()
    (tmp_path / "not-zarr" / "readme.txt").write_text("not a Zarr hierarchy")
    rows = [
        ("local-good", str(examples[IMAGE]), ""),
        ("s3-good", f"{s3_bucket}/inputs/{PLATE}.ome.zarr", "s3"),
        ("http-good", f"{base_url}/{examples[LAYOUT].name}", ""),
        ("local-gone", "inputs/moved-away.ome.zarr", ""),
        ("s3-gone", f"{s3_bucket}/inputs/no-such-key.ome.zarr", "s3"),
        ("http-gone", f"{base_url}/no-such-dataset.ome.zarr", ""),
        ("not-zarr", "not-zarr", ""),
    ]
    sheet = "dataset\tinput\tinput_storage\tlicense\n" + "".join(
        f"{dataset}\t{source}\t{storage}\tCC-BY-4.0\n" for dataset, source, storage in rows
    )
    write_local_bytes(tmp_path / "samples.tsv", sheet.encode())
    config = f"samples: samples.tsv\nstorage:\n  s3: {{endpoint: '{s3_server.endpoint}'}}\n"
    write_local_bytes(tmp_path / "config.yaml", config.encode())

    # A dry run does not read inputs: the bad rows do not stop it.
    assert snakemake(tmp_path, "-n", check=False).returncode == 0

    run = snakemake(tmp_path, "--keep-going", check=False)
    assert run.returncode != 0
    good, bad = [r[0] for r in rows[:3]], [r[0] for r in rows[3:]]
    assert "ngff-resave: 3 of 7 datasets converted and valid; 4 failed." in run.stderr
    assert_ends_without_traceback(run.stderr)
    catalog = pd.read_csv(tmp_path / "results" / "catalog.csv", keep_default_na=False)
    assert list(catalog["dataset"]) == good + bad
    assert list(catalog["valid"]) == [True] * 3 + [False] * 4
    failed = failed_rows(tmp_path)
    assert sorted(failed) == sorted(bad)
    for dataset in bad:
        row = failed[dataset]
        assert (row["rule"], row["failure"]) == ("plan", "input defect"), row
        assert row["error"].startswith(f"dataset '{dataset}': "), row
        assert (tmp_path / row["log"]).is_file()
        error = catalog.loc[catalog["dataset"] == dataset, "error"].item()
        assert error == row["error"]
        # the summary names it, the working directory's paths relative to it
        assert f"  FAILED {dataset} (input defect, rule plan): " in run.stderr
    assert str(tmp_path / "inputs" / "moved-away.ome.zarr") in failed["local-gone"]["error"]
    assert "inputs/moved-away.ome.zarr: does not exist" in run.stderr
    assert str(tmp_path) + "/inputs" not in run.stderr.split("ngff-resave: 3 of 7")[1]
    assert f"{s3_bucket}/inputs/no-such-key.ome.zarr" in failed["s3-gone"]["error"]
    assert f"{base_url}/no-such-dataset.ome.zarr" in failed["http-gone"]["error"]
    assert str(tmp_path / "not-zarr") in failed["not-zarr"]["error"]
    for dataset in good:
        assert (tmp_path / "results" / "ome-zarr" / f"{dataset}.ome.zarr" / "zarr.json").exists()


def test_a_run_whose_datasets_all_fail_ends_with_its_summary(tmp_path):
    (tmp_path / "samples.tsv").write_text(
        "dataset\tinput\tlicense\nmoved\tinputs/moved.ome.zarr\tCC0-1.0\n"
        "typo\tinptus/plate.ome.zarr\tCC0-1.0\n"
    )
    (tmp_path / "config.yaml").write_text("samples: samples.tsv\n")
    run = snakemake(tmp_path, check=False)
    assert run.returncode == 1
    assert_ends_without_traceback(run.stderr)
    end = run.stderr[run.stderr.index("ngff-resave: 0 of 2 datasets converted and valid") :]
    assert "FAILED moved (input defect, rule plan): inputs/moved.ome.zarr: does not exist" in end
    assert "FAILED typo (input defect, rule plan): inptus/plate.ome.zarr: does not exist" in end
    assert "1 TB projection: none, this run read no input" in end
    assert end.rstrip().endswith("this run read no input")
    assert sorted(failed_rows(tmp_path)) == ["moved", "typo"]


def test_a_bad_sheet_stops_the_run_in_one_line_per_problem(tmp_path):
    write_example_workdir(tmp_path)
    sheet = (tmp_path / "samples.tsv").read_text()
    (tmp_path / "samples.tsv").write_text(sheet.replace("\tinput\t", "\tinupt\t", 1))
    run = snakemake(tmp_path, check=False)
    assert run.returncode == 1
    assert (
        "ngff-resave: samples.tsv: the header: unknown column `inupt` (did you mean `input`?); "
        "missing column `input` (required)"
    ) in run.stderr
    assert_ends_without_traceback(run.stderr)
    assert "File " not in run.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_a_rerun_with_nothing_to_do_prints_the_catalog_summary(tmp_path):
    write_example_workdir(tmp_path)
    snakemake(tmp_path)
    again = snakemake(tmp_path)
    assert "Nothing to be done" in again.stderr
    assert "ngff-resave: 3 of 3 datasets converted and valid; 0 failed." in again.stderr
    assert "  catalog: results/catalog.csv" in again.stderr
    assert "conversion cost: none, this run had nothing to do" in again.stderr
    # a dry run stays a dry run
    dry = snakemake(tmp_path, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    assert "datasets converted and valid" not in dry.stdout + dry.stderr
