"""The package's own static checks, so CI fails on them as on a test."""

import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent


def test_ruff_is_clean():
    result = subprocess.run([BIN / "ruff", "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_package_type_checks():
    result = subprocess.run(
        [BIN / "mypy", "src/ngff_resave"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
