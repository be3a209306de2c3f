"""envs/*.yaml cannot be materialized here (no conda channels), so check them instead: pinned,
equal to pyproject's pins, and covering what each rule's code imports."""

import ast
import re
import sys
import tomllib

import yaml
from conftest import REPO
from packaging.requirements import Requirement

RULES = {
    "plan": "cmd_plan",
    "pack": "cmd_pack",
    "convert": "cmd_convert_job",
    "metadata": "cmd_metadata",
    "validate": "cmd_validate",
    "catalog": "cmd_catalog",
    "report_pages": "cmd_report_pages",
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
    "referencing": "referencing",
    "yaml": "pyyaml",
    "google_crc32c": "google-crc32c",
    "tensorstore": "tensorstore",
    "PIL": "pillow",
    "orjson": "orjson",
}


def pyproject_pins(python="3.11"):
    """pyproject's pins for one Python version (a pin may hold only for some, by its marker)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for text in project["dependencies"]:
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate({"python_version": python}):
            continue
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", text
        pins[requirement.name.lower()] = specifier.version
    return pins


def env_python(plain):
    return next(p.split("=", 1)[1] for p in plain if p.startswith("python="))


def env_pins(path):
    env = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    plain = [d for d in env["dependencies"] if isinstance(d, str)]
    return env, plain, dict(p.split("==") for p in pip)


PACKAGE = REPO / "src" / "ngff_resave"


def module_file(module):
    """The source file of a package module named relative to the package (``steps.plan``)."""
    path = PACKAGE.joinpath(*module.split(".")) if module else PACKAGE
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def module_imports(module):
    """Every import of one package module (all of its code, functions included), as absolute
    names; ``from ngff_resave import x`` names the module ``ngff_resave.x``."""
    tree = ast.parse(module_file(module).read_text())
    package = (
        module.split(".")[:-1]
        if module_file(module).name != "__init__.py"
        else (module.split(".") if module else [])
    )
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - (node.level - 1)]
                base = ".".join(["ngff_resave", *parent, *([base] if base else [])])
            names.add(base)
            if base.split(".")[0] == "ngff_resave":
                names |= {f"{base}.{a.name}" for a in node.names}
    return names


def package_modules(name):
    """The package modules an absolute import name runs: the module and its parent packages
    (``ngff_resave.steps.plan`` runs ``steps`` and ``steps.plan``); names that are not modules
    (functions, classes) are left out."""
    parts = name.split(".")[1:]
    found = []
    for end in range(1, len(parts) + 1):
        module = ".".join(parts[:end])
        if module_file(module).exists():
            found.append(module)
    return found


def needed_distributions(entry):
    """Distributions reached from one CLI subcommand, following package imports."""
    cli = ast.parse(module_file("cli.main").read_text())
    func = next(n for n in cli.body if isinstance(n, ast.FunctionDef) and n.name == entry)
    todo = [
        module
        for n in ast.walk(func)
        if isinstance(n, ast.ImportFrom) and n.module.startswith("ngff_resave.")
        for module in package_modules(n.module)
    ]
    seen, found = set(), set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in module_imports(module):
            top = name.split(".")[0]
            if top == "ngff_resave":
                todo += package_modules(name)
            elif top in DISTRIBUTIONS:
                found.add(DISTRIBUTIONS[top])
            else:
                assert top in sys.stdlib_module_names or top == "__future__", (
                    f"{module} imports {top}: add it to DISTRIBUTIONS and the envs"
                )
    return found


def test_one_pinned_env_per_rule_matching_pyproject():
    for rule in RULES:
        env, plain, pip = env_pins(REPO / "envs" / f"{rule}.yaml")
        assert env["channels"][0] == "conda-forge"
        python = env_python(plain)
        assert python == ("3.12" if rule in VALIDATING else "3.11"), (rule, python)
        pins = pyproject_pins(python)
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


# The rules that check OME metadata (planning checks the metadata a plan would write): Python
# 3.12 with ome-zarr-models 1.8 (v06), and ngff-zarr, whose files hold the 0.6 JSON schemas
# (found by path, so no import names it).
VALIDATING = {"plan", "pack", "validate"}


def test_the_rules_that_check_metadata_have_both_0_6_validators():
    for rule in VALIDATING:
        _, plain, pip = env_pins(REPO / "envs" / f"{rule}.yaml")
        pins = pyproject_pins(env_python(plain))
        assert pip["ome-zarr-models"] == pins["ome-zarr-models"] == "1.8", rule
        assert pip["ngff-zarr"] == pins["ngff-zarr"], rule


# fsspec finds these by the URL's scheme, so no import names them: every rule that reads or
# writes datasets needs them for s3:// and http(s):// rows.
REMOTE = {"s3fs", "aiohttp"}


def test_every_rule_that_touches_data_can_reach_remote_datasets():
    for rule in RULES:
        _, plain, pip = env_pins(REPO / "envs" / f"{rule}.yaml")
        pins = pyproject_pins(env_python(plain))
        assert REMOTE <= set(pip), f"envs/{rule}.yaml lacks {REMOTE - set(pip)}"
        assert all(pip[name] == pins[name] for name in REMOTE)
