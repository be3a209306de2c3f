"""envs/*.yaml cannot be materialized here (no conda channels), so check them instead: pinned,
equal to pyproject's pins, and covering what each rule's code imports."""

import ast
import re
import sys
import tomllib

import yaml
from conftest import REPO

RULES = {
    "plan": "cmd_plan",
    "pack": "cmd_pack",
    "convert": "cmd_convert",
    "metadata": "cmd_metadata",
    "validate": "cmd_validate",
    "catalog": "cmd_catalog",
}
# import name -> distribution name
DISTRIBUTIONS = {
    "zarr": "zarr",
    "numcodecs": "numcodecs",
    "numpy": "numpy",
    "fsspec": "fsspec",
    "rocrate": "rocrate",
    "ome_zarr_models": "ome-zarr-models",
    "pydantic_zarr": "pydantic-zarr",
    "pydantic": "pydantic",
    "pandas": "pandas",
    "jsonschema": "jsonschema",
    "yaml": "pyyaml",
    "google_crc32c": "google-crc32c",
    "tensorstore": "tensorstore",
}


def pyproject_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"]:
        name, version = requirement.split("==")
        pins[name.lower()] = version
    return pins


def env_pins(path):
    env = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    plain = [d for d in env["dependencies"] if isinstance(d, str)]
    return env, plain, dict(p.split("==") for p in pip)


def module_imports(module):
    """Third-party and package-internal imports of one package module (all of its code)."""
    tree = ast.parse((REPO / "src" / "ngff_resave" / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def needed_distributions(entry):
    """Distributions reached from one CLI subcommand, following package imports."""
    cli = ast.parse((REPO / "src" / "ngff_resave" / "cli.py").read_text())
    func = next(n for n in cli.body if isinstance(n, ast.FunctionDef) and n.name == entry)
    todo = [
        n.module.split(".")[1]
        for n in ast.walk(func)
        if isinstance(n, ast.ImportFrom) and n.module.startswith("ngff_resave.")
    ]
    seen, found = set(), set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in module_imports(module):
            top = name.split(".")[0]
            if top == "ngff_resave" and "." in name:
                todo.append(name.split(".")[1])
            elif top in DISTRIBUTIONS:
                found.add(DISTRIBUTIONS[top])
            else:
                assert top in sys.stdlib_module_names or top in ("ngff_resave", "__future__"), (
                    f"{module} imports {top}: add it to DISTRIBUTIONS and the envs"
                )
    return found


def test_one_pinned_env_per_rule_matching_pyproject():
    pins = pyproject_pins()
    for rule in RULES:
        env, plain, pip = env_pins(REPO / "envs" / f"{rule}.yaml")
        assert env["channels"][0] == "conda-forge"
        assert "python=3.11" in plain
        assert all(re.fullmatch(r"[a-z0-9_.-]+=[0-9][0-9A-Za-z.]*", p) for p in plain), plain
        for name, version in pip.items():
            assert pins.get(name.lower()) == version, (rule, name, version)


def test_each_env_covers_its_rules_imports():
    for rule, entry in RULES.items():
        _, _, pip = env_pins(REPO / "envs" / f"{rule}.yaml")
        missing = needed_distributions(entry) - set(pip)
        assert not missing, f"envs/{rule}.yaml lacks {missing}"


def test_every_rule_names_its_env():
    for rule in RULES:
        text = (REPO / "workflow" / "rules" / f"{rule}.smk").read_text()
        assert f'conda:\n        "../../envs/{rule}.yaml"' in text
