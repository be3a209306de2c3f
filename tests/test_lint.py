"""The static checks of ``make lint``, so CI fails on them as on a test."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

from ngff_resave.cli.examples import write_example_workdir

BIN = Path(sys.executable).parent


def run(*command, cwd=REPO):
    return subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_ruff_is_clean():
    result = run(BIN / "ruff", "check", ".")
    assert result.returncode == 0, result.stdout


def test_ruff_format_leaves_every_file_as_it_is():
    result = run(BIN / "ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout


def test_package_type_checks():
    result = run(BIN / "mypy", "src/ngff_resave")
    assert result.returncode == 0, result.stdout


def test_snakefmt_leaves_the_workflow_as_it_is():
    result = run(BIN / "snakefmt", "--check", "Snakefile", "workflow")
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakemake_lint_is_clean(tmp_path):
    config = write_example_workdir(tmp_path)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    result = subprocess.run(
        [
            BIN / "snakemake",
            "-s",
            REPO / "Snakefile",
            "--directory",
            tmp_path,
            "--configfile",
            config,
            "--lint",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr
