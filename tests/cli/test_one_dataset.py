"""``ngff-resave convert INPUT OUTPUT``: one dataset with the challenge's options, the same
output as a one-row workflow, its exit statuses, its details files and its progress bar."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import snakemake, tree_bytes

from ngff_resave.cli.one_dataset import dataset_id
from ngff_resave.ome.challenge_stats import STATS_KEY

CLI = [sys.executable, "-m", "ngff_resave", "convert"]


def convert(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.workflow
@pytest.mark.parametrize("dataset", ["image-with-labels", "plate"])
def test_the_command_writes_what_a_one_row_workflow_writes(examples, tmp_path, dataset):
    source = examples[dataset]
    flags = ["--cc-by", "--rocrate-organism", "NCBI:txid9606"]
    flags += ["--rocrate-modality", "obo:FBbi_00000369", "--rocrate-name", "one dataset"]
    # The workflow with its large-dataset jobs (convert, metadata, validate each on their own),
    # the command with everything in one process: two paths, one result.
    workflow = tmp_path / "workflow"
    workflow.mkdir()
    (workflow / "samples.tsv").write_text(
        "dataset\tinput\tlicense\torganism\tmodality\tname\n"
        f"{dataset}\t{source}\tCC-BY-4.0\tNCBI:txid9606\tobo:FBbi_00000369\tone dataset\n"
    )
    (workflow / "config.yaml").write_text("samples: samples.tsv\npacks:\n  target_bytes: 1\n")
    snakemake(workflow)
    command = tmp_path / "command"
    command.mkdir()
    output = f"out/{dataset}.ome.zarr"
    result = convert(str(source), output, *flags, cwd=command)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{dataset}: valid OME-Zarr 0.5" in result.stdout
    ours = tree_bytes(command / output)
    theirs = tree_bytes(workflow / "results" / "ome-zarr" / f"{dataset}.ome.zarr")
    assert sorted(ours) == sorted(theirs)
    different = [name for name in ours if ours[name] != theirs[name]]
    assert not different, different
    # The same records as the workflow's, beside the dataset.
    for name in ("plan.json", "validation.json", "metadata.json", "thumbnail.png"):
        assert (command / "results" / dataset / name).is_file(), name
    plan = json.loads((command / "results" / dataset / "plan.json").read_text())
    assert (
        plan["arrays"]
        == json.loads((workflow / "results" / dataset / "plan.json").read_text())["arrays"]
    )
    assert (command / "logs" / dataset / "convert.log").is_file()


def test_re_encoded_arrays_report_their_own_shard_bytes(examples, tmp_path):
    """The challenge's ``written`` per array is the bytes of that array's shards, also when a
    job re-encodes arrays of different sizes together."""
    result = convert(
        str(examples["image-with-labels"]),
        "out.ome.zarr",
        "--cc-by",
        "--codec",
        "blosc-zstd-5",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    plan = json.loads((tmp_path / "results" / "out" / "plan.json").read_text())
    assert {a["mode"] for a in plan["arrays"]} == {"reencode"}
    for array in plan["arrays"]:
        level = tmp_path / "out.ome.zarr" / array["path"]
        stats = json.loads((level / "zarr.json").read_text())["attributes"][STATS_KEY]
        shards = [p for p in level.rglob("*") if p.is_file() and p.name != "zarr.json"]
        assert stats["written"] == sum(p.stat().st_size for p in shards) > 0, array["path"]


def test_no_license_and_a_missing_input_exit_2_before_any_work(examples, tmp_path):
    result = convert(str(examples["plate"]), "out.ome.zarr", cwd=tmp_path)
    assert result.returncode == 2
    assert "no license" in result.stderr and "--cc-by" in result.stderr
    result = convert(str(tmp_path / "nothing.zarr"), "out.ome.zarr", "--cc0", cwd=tmp_path)
    assert result.returncode == 2
    assert "nothing.zarr" in result.stderr
    assert not (tmp_path / "out.ome.zarr").exists()


def test_a_conversion_that_fails_exits_1_and_leaves_no_complete_output(example_copy, tmp_path):
    source = example_copy("image-with-labels")
    # A chunk that is listed but cannot be read: a link to a file that is gone.
    chunk = next(p for p in sorted((source / "0").rglob("*")) if p.is_file() and "." not in p.name)
    chunk.unlink()
    chunk.symlink_to(tmp_path / "gone")
    result = convert(str(source), "out.ome.zarr", "--cc0", cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stdout.startswith("FAILED out: ") and str(chunk) in result.stdout
    assert not (tmp_path / "out.ome.zarr" / "zarr.json").exists()
    outcome = json.loads((tmp_path / "results" / "out" / "validation.json").read_text())
    assert outcome["valid"] is False and outcome["rule"] == "convert"


def test_details_written_then_read_back_set_the_chunks(examples, tmp_path):
    source = examples["image-with-labels"]
    result = convert(str(source), "details.json", "--cc-by", "--output-write-details", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    details = json.loads((tmp_path / "details.json").read_text())
    assert not (tmp_path / "results" / "details").exists()
    for entry in details.values():
        entry["chunks"] = [1, 1, 1, 32, 32]
        entry["shards"] = [1, 1, 1, 64, 64]
    (tmp_path / "details.json").write_text(json.dumps(details))
    result = convert(
        str(source),
        "out.ome.zarr",
        "--cc-by",
        "--output-read-details",
        "details.json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    level = json.loads((tmp_path / "out.ome.zarr" / "0" / "zarr.json").read_text())
    assert level["chunk_grid"]["configuration"]["chunk_shape"] == [1, 1, 1, 64, 64]
    assert level["codecs"][0]["configuration"]["chunk_shape"] == [1, 1, 1, 32, 32]


def test_an_existing_output_is_kept_unless_overwrite_is_asked(examples, tmp_path):
    source = str(examples["bioformats2raw"])
    assert convert(source, "out.ome.zarr", "--cc0", cwd=tmp_path).returncode == 0
    before = tree_bytes(tmp_path / "out.ome.zarr")
    kept = convert(source, "out.ome.zarr", "--cc0", cwd=tmp_path)
    assert kept.returncode == 2 and "--output-overwrite" in kept.stderr
    assert tree_bytes(tmp_path / "out.ome.zarr") == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "out.ome.zarr").mkdir()
    (tmp_path / "other" / "out.ome.zarr" / "mine.txt").write_text("not the workflow's")
    # Unlike the challenge's, overwrite replaces only what this tool wrote.
    refused = convert(source, "other/out.ome.zarr", "--cc0", "--output-overwrite", cwd=tmp_path)
    assert refused.returncode == 2 and "mine.txt" in refused.stderr
    assert (tmp_path / "other" / "out.ome.zarr" / "mine.txt").is_file()
    again = convert(source, "out.ome.zarr", "--cc0", "--output-overwrite", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]


def test_a_terminal_gets_a_progress_bar(examples, tmp_path):
    """Run under a pseudo-terminal, as a user at a shell: the bar reaches 100%."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*CLI, str(examples["plate"]), "out.ome.zarr", "--cc-by"],
        cwd=tmp_path,
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    assert process.wait(timeout=60) == 0
    os.close(leader)
    assert b"100%" in seen and b"plate" in seen, seen[-2000:]


def test_without_a_terminal_there_is_no_bar(examples, tmp_path):
    result = convert(str(examples["plate"]), "out.ome.zarr", "--cc-by", cwd=tmp_path)
    assert result.returncode == 0 and "100%|" not in result.stderr


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("out/img.ome.zarr", "img"),
        ("s3://bucket/a b.zarr/", "a_b"),
        ("plain", "plain"),
    ],
)
def test_dataset_id_from_the_output_name(output, expected):
    assert dataset_id(output) == expected


def test_the_command_is_installed_as_a_script():
    assert shutil.which("ngff-resave", path=str(Path(sys.executable).parent))


def test_ngff_version_0_6_is_written_and_said(examples, tmp_path):
    output = tmp_path / "out.ome.zarr"
    result = convert(
        "--cc0", "--ngff-version", "0.6", str(examples["plate"]), str(output), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "valid OME-Zarr 0.6" in result.stdout
    root = json.loads((output / "zarr.json").read_text())["attributes"]["ome"]
    assert root["version"] == "0.6" and "version" not in root["plate"]
    refused = convert("--cc0", "--ngff-version", "0.7", str(examples["plate"]), "x", cwd=tmp_path)
    assert refused.returncode == 2 and "invalid choice: '0.7'" in refused.stderr
