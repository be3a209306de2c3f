"""The package's import rule (``[tool.importlinter]`` in pyproject.toml): subpackages import only
downwards, storage's interface never imports its backends, and no modules import each other in a
circle. Checked on the package, and on copies of it given one wrong import each, so that the
check is seen to fail on exactly what it forbids."""

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "src" / "ngff_resave"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = {
    c["id"]: c
    for c in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
}


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package under ``root/src`` with ``root/pyproject.toml``."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", root / "pyproject.toml"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_package_keeps_every_contract():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(
        PACKAGE, tmp_path / "src" / "ngff_resave", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    return tmp_path


def test_an_unchanged_copy_keeps_every_contract(package_copy):
    """The copy is what is checked below (were the installed package checked instead, every
    wrong import would go unseen)."""
    result = lint_imports(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "wrong_import", "broken", "named"),
    [
        # A lower layer reaching up: reading the input must not know about planning.
        (
            "source/layout.py",
            "from ngff_resave.planning import dataset",
            {"layers", "acyclic"},
            "ngff_resave.source.layout",
        ),
        # The bottom layer reaching up, through a top-level import.
        (
            "storage/local.py",
            "import ngff_resave.steps.pack",
            {"layers", "storage", "acyclic"},
            "ngff_resave.storage.local",
        ),
        # The storage interface importing a backend: the cycle this rule ended.
        (
            "storage/base.py",
            "from ngff_resave.storage import local",
            {"storage", "acyclic"},
            "ngff_resave.storage.base",
        ),
        # Two modules of one subpackage importing each other (convert imports shards).
        (
            "arrays/shards.py",
            "from ngff_resave.arrays import convert",
            {"acyclic"},
            ".shards -> .convert",
        ),
    ],
)
def test_a_wrong_import_breaks_its_contract(package_copy, module, wrong_import, broken, named):
    path = package_copy / "src" / "ngff_resave" / module
    path.write_text(path.read_text() + f"\n{wrong_import}  # noqa\n")
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert named in result.stdout, result.stdout
    for key, contract in CONTRACTS.items():
        verdict = "BROKEN" if key in broken else "KEPT"
        assert f"{contract['name']} {verdict}" in result.stdout, result.stdout


def docstring(package: str) -> str:
    return ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text())) or ""


def test_each_subpackage_says_what_it_may_import():
    layers = CONTRACTS["layers"]["layers"]
    subpackages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert sorted(layers) == subpackages
    for index, package in enumerate(layers):
        below = layers[index + 1 :]
        expected = "May import: " + (
            ", ".join(below) + "." if below else "nothing else in the package."
        )
        assert expected in docstring(package), package


def test_the_package_docstring_lists_the_layers_in_order():
    text = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text())) or ""
    listed = [line.split()[0] for line in text.splitlines() if line.startswith("    ")]
    assert listed == CONTRACTS["layers"]["layers"]
