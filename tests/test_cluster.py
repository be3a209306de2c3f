"""Cluster execution: resources that fit what jobs use, and the workflow through a real
one-node SLURM (see slurm_cluster) driven by profiles/slurm."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, snakemake, snakemake_command
from slurm_cluster import (
    PARTITION,
    slurm_cluster_fixture,  # noqa: F401 - the fixture
)

from ngff_resave.arrays.resources import job_memory_mb, job_runtime_minutes
from ngff_resave.cli.examples import write_example_workdir
from ngff_resave.storage import write_local_bytes

FIRST_LINE = re.compile(r"attempt (?P<attempt>\d+): mem_mb (?P<mem>\d+), runtime (?P<minutes>\d+)")


def asked(log: Path) -> dict[str, int]:
    """What a job asked for, from the first line of its log."""
    match = FIRST_LINE.search(log.read_text().splitlines()[0])
    assert match, f"{log} does not start with the attempt line"
    return {key: int(value) for key, value in match.groupdict().items()}


def used(record: Path) -> tuple[float, float]:
    """Peak memory (MB) and seconds a job recorded."""
    value = json.loads(record.read_text())
    return value["peak_memory_bytes"] / 2**20, value.get("seconds", 0.0)


def test_resources_grow_with_each_attempt():
    for attempt in (1, 2, 3):
        assert job_memory_mb(64 * 2**20, 2, attempt=attempt) == attempt * job_memory_mb(
            64 * 2**20, 2
        )
        assert job_runtime_minutes(2**30, attempt) == attempt * job_runtime_minutes(2**30)
    assert job_memory_mb(2**20, 2, remote=True) > job_memory_mb(2**20, 2)


def test_a_large_plan_is_counted_in_the_memory_asked():
    # A 1,536-well plate: its pack peaked at 658 MB with a 19.4 MB plan.json; 500 MB were asked.
    asked = job_memory_mb(8192, 2, plan_bytes=19_355_417)
    assert asked > 658 * 1.25
    assert job_memory_mb(8192, 2, plan_bytes=20_000) < 520


@pytest.mark.workflow
@pytest.mark.parametrize("packs", ["split", "packed"])
def test_every_job_asks_for_more_memory_and_time_than_it_used(tmp_path, packs):
    write_example_workdir(tmp_path)
    if packs == "split":
        with open(tmp_path / "config.yaml", "a") as config:
            config.write("packs:\n  target_bytes: 0\n")
    snakemake(tmp_path)
    results = tmp_path / "results"
    records = {
        tmp_path / "logs" / p.parent.parent.name / f"{p.parent.name}-{p.stem}.log": p
        for kind in ("convert", "metadata", "validate")
        for p in results.glob(f"*/{kind}/*.json")
    }
    records |= {
        tmp_path / "logs/packs" / p.name.replace(".json", ".log"): p
        for p in (results / "packs").glob("*.json")
    }
    assert records, "no job records"
    checked = []
    for log, record in records.items():
        if not log.exists():
            continue
        ask = asked(log)
        peak_mb, seconds = used(record)
        assert ask["attempt"] == 1
        assert peak_mb < ask["mem"], (log.name, peak_mb, ask)
        assert seconds < ask["minutes"] * 60, (log.name, seconds, ask)
        checked.append((log.name, round(peak_mb), ask["mem"]))
    assert len(checked) >= (9 if packs == "split" else 1), checked


@pytest.mark.workflow
def test_the_benchmark_image_asks_for_more_than_it_uses(tmp_path):
    """The 1 GB benchmark image (64 MB shards), split into its own jobs: each job's peak stays
    under its mem_mb."""
    sys.path.insert(0, str(REPO / "bench"))
    from benchmark import generate

    cache = REPO / "bench" / "cache"
    source = generate(cache if (cache / "input.done").exists() else tmp_path / "cache")
    sheet = f"dataset\tinput\tlicense\nbench\t{source}\tCC-BY-4.0\n"
    write_local_bytes(tmp_path / "samples.tsv", sheet.encode())
    write_local_bytes(
        tmp_path / "config.yaml", b"samples: samples.tsv\npacks:\n  target_bytes: 0\n"
    )
    snakemake(tmp_path)
    checked = {}
    for record in (tmp_path / "results" / "bench").glob("*/*.json"):
        ask = asked(tmp_path / "logs" / "bench" / f"{record.parent.name}-{record.stem}.log")
        peak_mb, _ = used(record)
        assert peak_mb < ask["mem"], (record.name, peak_mb, ask)
        checked[f"{record.parent.name}-{record.stem}"] = (round(peak_mb), ask["mem"])
    assert len(checked) == 6, checked  # four levels, metadata, validate


def sheet_with_a_failing_row(workdir: Path) -> Path:
    """The example sheet (image with labels, plate; the third row dropped) and a row whose
    input has a level without its .zarray: it fails at planning until it is fixed."""
    write_example_workdir(workdir)
    lines = (workdir / "samples.tsv").read_text().splitlines()
    broken = workdir / "inputs" / "broken.ome.zarr"
    shutil.copytree(workdir / "inputs" / "image-with-labels.ome.zarr", broken)
    (broken / "1" / ".zarray").rename(workdir / "kept.zarray")
    row = lines[1].split("\t")
    row[0], row[1] = "broken", "inputs/broken.ome.zarr"
    write_local_bytes(
        workdir / "samples.tsv", "\n".join([*lines[:3], "\t".join(row)]).encode() + b"\n"
    )
    return broken


def test_the_workflow_runs_through_sbatch_and_redoes_a_fixed_row_alone(tmp_path, slurm_cluster):
    broken = sheet_with_a_failing_row(tmp_path)
    env = {
        **os.environ,
        **slurm_cluster.env,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    command = [
        *snakemake_command(tmp_path),
        "--profile",
        str(REPO / "profiles" / "slurm"),
        # A test cluster answers at once: poll it every two seconds, not every 40.
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--seconds-between-status-checks",
        "2",
    ]

    def run() -> subprocess.CompletedProcess[str]:
        return slurm_cluster.run(command, env=env, capture_output=True, text=True, timeout=900)

    first = run()
    text = first.stdout + first.stderr
    assert first.returncode != 0, text[-3000:]
    assert "2 of 3 datasets converted and valid; 1 failed." in text, text[-5000:]
    failed = pd.read_csv(tmp_path / "results" / "failed.tsv", sep="\t")
    assert list(failed["dataset"]) == ["broken"]
    catalog = pd.read_csv(tmp_path / "results" / "catalog.csv")
    assert list(catalog["valid"]) == [True, True, False]
    submitted = slurm_cluster.submitted_jobs()
    assert len(submitted) >= 2, submitted  # the plan job and at least one pack, by sbatch
    assert "SLURM jobid" in text or "slurm" in text.lower()
    # Fixed: the next run converts that row alone.
    (tmp_path / "kept.zarray").rename(broken / "1" / ".zarray")
    before = len(slurm_cluster.submitted_jobs())
    second = run()
    text = second.stdout + second.stderr
    assert second.returncode == 0, text[-5000:]
    assert "3 of 3 datasets converted and valid; 0 failed." in text
    ran = re.findall(
        r"^(?:rule|localrule|checkpoint) (\w+):\n(?:    .*\n)*?    wildcards: (.*)$",
        text,
        flags=re.M,
    )
    packs = [w for rule, w in ran if rule == "pack"]
    assert len(packs) == 1, ran
    pack = json.loads(
        next((tmp_path / "results" / "packs").glob(f"{packs[0].split('=')[1]}.json")).read_text()
    )
    assert [d["dataset"] for d in pack["datasets"]] == ["broken"]
    assert len(slurm_cluster.submitted_jobs()) > before


def test_the_slurm_profile_leaves_the_partition_to_the_site():
    """A stock cluster's partitions have the site's names: the profile names none, so jobs go
    to the default partition (the test cluster's is not called debug either)."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert "slurm_partition" not in (profile.get("default-resources") or {})
    assert PARTITION != "debug"
