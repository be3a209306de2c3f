"""The SLURM test cluster of slurm_cluster.py: jobs run, memory is scheduled and enforced, and
snakemake's SLURM executor plugin submits through sbatch and follows its jobs with squeue."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from slurm_cluster import (  # noqa: F401
    PARTITION,
    SlurmCluster,
    SubmittedJob,
    own_memory_cgroup,
    slurm_cluster_fixture,
)

# Allocates (and touches) 300 MB, then lingers long enough for a 1 s memory sampler.
HOG = """\
import time
block = b"x" * (300 << 20)
time.sleep(5)
print("survived", len(block))
"""

# (memory enforcement, where the hog runs) -> (job state, what the job's output says)
MEMORY_KILLS = {
    ("cgroup", "batch"): ("OUT_OF_MEMORY", "oom-kill event"),
    ("cgroup", "srun"): ("FAILED", "Out Of Memory"),
    ("jobacct", "batch"): ("FAILED", "exceeded memory limit"),
    ("jobacct", "srun"): ("FAILED", "exceeded memory limit"),
}


def test_sbatch_wait_runs_a_job(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    argv = ["sbatch", "--wait", "--parsable", "--job-name=ngff-ok", f"--output={out}"]
    done = slurm_cluster.run(
        [*argv, "--wrap", "echo ok; hostname"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{done.stderr}\n{slurm_cluster.logs()}"
    job_id = int(done.stdout.split(";")[0])
    assert out.read_text().split() == ["ok", slurm_cluster.node]
    assert SubmittedJob(job_id, "ngff-ok", "COMPLETED") in slurm_cluster.submitted_jobs()


def test_memory_beyond_the_node_is_refused(slurm_cluster: SlurmCluster) -> None:
    before = slurm_cluster.submitted_jobs()
    too_much = slurm_cluster.real_memory_mb + 1024
    done = slurm_cluster.run(
        ["sbatch", f"--mem={too_much}M", "--wrap", "true"], capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "Memory specification can not be satisfied" in done.stderr
    assert slurm_cluster.submitted_jobs() == before


def _hog_job(cluster: SlurmCluster, tmp_path: Path, where: str) -> tuple[str, str]:
    """Run the hog with --mem=100M in the batch script or in an srun step: state, output."""
    hog = tmp_path / "hog.py"
    hog.write_text(HOG)
    out = tmp_path / f"hog-{where}.txt"
    command = f"{sys.executable} {hog}"
    if where == "srun":
        command = f"srun --ntasks=1 {command}"
    done = cluster.run(
        ["sbatch", "--parsable", "--mem=100M", "--time=2", f"--output={out}", "--wrap", command],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    job_id = int(done.stdout.split(";")[0])
    state = cluster.wait_job(job_id, timeout=60)
    # squeue says the same as the job-completion log.
    assert cluster.squeue()[job_id]["state"] == state
    assert cluster.finished_jobs()[job_id]["JobState"] == state
    return state, out.read_text()


def _check_memory_kill(cluster: SlurmCluster, tmp_path: Path, where: str) -> None:
    state, output = _hog_job(cluster, tmp_path, where)
    expected_state, message = MEMORY_KILLS[(cluster.memory_enforcement, where)]
    assert "survived" not in output
    assert (state, message in output) == (expected_state, True), output


@pytest.mark.parametrize("where", ["batch", "srun"])
def test_memory_over_the_limit_is_killed(
    slurm_cluster: SlurmCluster, tmp_path: Path, where: str
) -> None:
    _check_memory_kill(slurm_cluster, tmp_path, where)


def test_memory_over_the_limit_is_killed_the_other_way(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    """The enforcement the shared cluster does not use, in a cluster of its own."""
    other = "jobacct" if slurm_cluster.memory_enforcement == "cgroup" else "cgroup"
    if other == "cgroup" and own_memory_cgroup() is None:
        pytest.skip("no cgroup v1 memory controller: SLURM 22.05 cannot enforce with cgroups")
    with SlurmCluster(memory_enforcement=other) as cluster:
        assert cluster.memory_enforcement == other
        for where in ("batch", "srun"):
            _check_memory_kill(cluster, tmp_path, where)


def test_snakemake_slurm_executor_submits_with_sbatch(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    (tmp_path / "Snakefile").write_text(
        'rule hi:\n    output: "hi.txt"\n    shell: "echo hi > {output}"\n'
    )
    before = {job.job_id for job in slurm_cluster.submitted_jobs()}
    argv = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(tmp_path / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--executor",
        "slurm",
        "--jobs",
        "2",
        # A job runs snakemake twice (the batch script and its srun step), ~150 MB each:
        # at mem_mb=100 SLURM kills the job.
        "--default-resources",
        f"slurm_partition={PARTITION}",
        "mem_mb=1000",
        "runtime=5",
        # squeue, as sacct has no accounting database here; MinJobAge is 200 s, well over
        # the 3 x 1 s below which the plugin would switch to sacct anyway.
        "--slurm-status-command",
        "squeue",
        # Else the first status check comes 40 s after the first job.
        "--slurm-init-seconds-before-status-checks",
        "1",
    ]
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = slurm_cluster.run(
        argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert done.returncode == 0, f"{done.stderr[-4000:]}\n{slurm_cluster.logs()}"
    assert (tmp_path / "hi.txt").read_text() == "hi\n"
    found = re.search(r"SLURM run ID: (\S+)", done.stderr)
    assert found, done.stderr
    new = [job for job in slurm_cluster.submitted_jobs() if job.job_id not in before]
    # One job, named after the run, through sbatch to the controller, and it completed.
    assert new == [SubmittedJob(new[0].job_id, found[1], "COMPLETED")]
    assert f"has been submitted with SLURM jobid {new[0].job_id} " in done.stderr
