"""The files a Snakemake workflow is expected to carry (workflow catalog, license, test
configuration, changelog), checked against what they describe."""

import re
import tomllib

import yaml
from conftest import REPO

from ngff_resave import __version__
from ngff_resave.sheet.settings import fill_config_defaults, read_sheet


def test_license_file_is_the_license_pyproject_names():
    license_id = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"]
    assert license_id == "BSD-3-Clause"
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "Neither the name of the copyright holder" in text


def test_workflow_catalog_file_describes_how_the_workflow_runs():
    usage = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert usage["report"] is True
    assert usage["software-stack-deployment"]["conda"] is True
    configfile = usage["mandatory-flags"]["flags"].split("--configfile", 1)[1].split()[0]
    assert (REPO / configfile).is_file()
    assert (REPO / "config" / "README.md").is_file()
    # Conda deployment means every rule names a pinned env that exists.
    for rule_file in (REPO / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\n\s+"\.\./\.\./(envs/[^"]+)"', rule_file.read_text()):
            assert (REPO / env).is_file(), (rule_file.name, env)


def test_test_configuration_is_valid_and_has_a_row_meant_to_fail():
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    fill_config_defaults(config)
    sheet = read_sheet(REPO / ".test" / config["samples"])
    assert list(sheet["dataset"]) == [
        "image-with-labels",
        "plate",
        "bioformats2raw",
        "not-ome-zarr",
    ]
    assert (REPO / ".test" / "data" / "not-ome-zarr").is_dir()


def test_changelog_has_the_current_version():
    changelog = (REPO / "CHANGELOG.md").read_text()
    versions = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.M)
    assert versions and versions[0] == __version__
