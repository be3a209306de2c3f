"""The module map (docs/internals.md, linked from the README) is the package's tree: every
subpackage and module, one line each, subpackages in the order of the import rule, and tests in
the folder of their subpackage."""

import re
import tomllib

from conftest import REPO

PACKAGE = REPO / "src" / "ngff_resave"
LINE = re.compile(r"^(?:│   |    )?[├└]── ([a-z0-9_]+/?)\s+\S")


def map_lines():
    text = (REPO / "docs" / "internals.md").read_text()
    section = text.split("## The package, module by module", 1)[1].split("\n## ", 1)[0]
    tree = section.split("```\nsrc/ngff_resave/\n", 1)[1].split("```", 1)[0]
    return tree.splitlines()


def mapped_paths():
    """``cli/``, ``cli/main``, ... from the map's lines; a module line belongs to the subpackage
    line above it."""
    paths, package = [], None
    for line in map_lines():
        match = LINE.match(line)
        assert match, f"not a line of the tree (name, then what it owns): {line!r}"
        name = match.group(1)
        if name.endswith("/"):
            package = name
            paths.append(name)
        else:
            assert line.startswith(("│   ", "    ")), line
            paths.append(f"{package}{name}")
    return paths


def package_paths():
    paths = set()
    for init in PACKAGE.glob("*/__init__.py"):
        paths.add(f"{init.parent.name}/")
        paths |= {f"{init.parent.name}/{p.stem}" for p in init.parent.glob("*.py")} - {
            f"{init.parent.name}/__init__"
        }
    return paths


def test_the_module_map_is_the_package_tree():
    paths = mapped_paths()
    assert len(paths) == len(set(paths))
    assert set(paths) == package_paths()
    assert {p.stem for p in PACKAGE.glob("*.py")} == {"__init__", "__main__"}


def test_the_map_lists_subpackages_in_the_order_of_the_import_rule():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    layers = pyproject["tool"]["importlinter"]["contracts"][0]["layers"]
    assert [p.rstrip("/") for p in mapped_paths() if p.endswith("/")] == layers


def test_tests_of_a_subpackage_sit_in_its_folder():
    """A test folder is named after a subpackage, and its tests import that subpackage (but
    ``data``, which holds other tools' outputs the tests read)."""
    skipped = {"__pycache__", "data"}
    for folder in (p for p in (REPO / "tests").iterdir() if p.is_dir() and p.name not in skipped):
        assert (PACKAGE / folder.name / "__init__.py").exists(), folder
        for test in folder.glob("test_*.py"):
            assert f"ngff_resave.{folder.name}" in test.read_text(), test
