"""The README's module map names every module of the package, and only those."""

import re

from conftest import REPO

PACKAGE = REPO / "src" / "ngff_resave"


def package_modules():
    """Top-level modules, and subpackages as ``name/`` (their modules named in the row)."""
    names = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    names |= {f"{p.parent.name}/" for p in PACKAGE.glob("*/__init__.py")}
    return names


def test_the_module_map_names_every_module():
    text = (REPO / "README.md").read_text()
    section = text.split("### The package, module by module", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+/?)` \|(.*)\|$", section, flags=re.M)
    assert {name for name, _ in rows} == package_modules()
    for name, text_of_row in rows:
        if name.endswith("/"):
            inside = {p.stem for p in (PACKAGE / name).glob("*.py")} - {"__init__"}
            assert all(f"`{m}`" in text_of_row for m in inside), (name, inside)
