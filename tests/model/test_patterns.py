"""Each spelling rule is defined once (ngff_resave.model.patterns); the schemas, the workflow and
the READMEs that repeat it must agree with it."""

import re

import pytest
import yaml
from conftest import REPO

from ngff_resave.arrays.codecs import CodecError, named_codec
from ngff_resave.model import patterns
from ngff_resave.ome.crate import CrateError, build_crate, resolve_license

SCHEMAS = REPO / "workflow" / "schemas"


def schema(name):
    return yaml.safe_load((SCHEMAS / f"{name}.schema.yaml").read_text())


def test_sheet_schema_patterns_are_the_package_patterns():
    columns = schema("samples")["properties"]
    assert columns["dataset"]["pattern"] == f"^{patterns.DATASET_ID}$"
    assert columns["license"]["pattern"] == patterns.LICENSE
    assert columns["organism"]["pattern"] == patterns.ORGANISM_ID
    assert columns["modality"]["pattern"] == patterns.MODALITY_ID
    assert columns["chunks"]["pattern"] == columns["shards"]["pattern"] == patterns.SIZES
    assert columns["codec"]["pattern"] == patterns.CODEC_SETTING
    assert tuple(columns["ngff_version"]["enum"]) == patterns.NGFF_VERSIONS


def test_config_schema_patterns_are_the_package_patterns():
    keys = schema("config")["properties"]
    assert keys["codec"]["pattern"] == patterns.CODEC_SETTING
    assert tuple(keys["ngff_version"]["enum"]) == patterns.NGFF_VERSIONS
    assert keys["ngff_version"]["default"] == patterns.NGFF_VERSIONS[0]
    crate = keys["rocrate"]["properties"]
    assert crate["license"]["pattern"] == patterns.LICENSE
    assert crate["organism"]["pattern"] == patterns.ORGANISM_ID
    assert crate["modality"]["pattern"] == patterns.MODALITY_ID


def test_the_workflow_constrains_dataset_wildcards_by_the_same_pattern():
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert "dataset=patterns.DATASET_ID," in common


def test_the_config_readme_spells_the_same_rules():
    text = (REPO / "config" / "README.md").read_text()
    assert f"`{patterns.DATASET_ID}`" in text
    # Markdown tables escape the alternatives' bars.
    escaped_bar = "\\|"
    assert f"`blosc-<{escaped_bar.join(patterns.BLOSC_CNAMES)}>-<0-9>`" in text
    assert "`zstd-<level>`" in text and "`gzip-<0-9>`" in text
    for shorthand in patterns.LICENSE_SHORTHANDS:
        assert f"`{shorthand}`" in text


@pytest.mark.parametrize("cname", patterns.BLOSC_CNAMES)
def test_every_codec_the_schema_allows_has_a_v3_form(cname):
    for level in range(10):
        name = f"blosc-{cname}-{level}"
        assert re.match(patterns.CODEC_SETTING, name)
        assert named_codec(name, 2)[0]["configuration"]["cname"] == cname
    for name in ("zstd-19", "gzip-9", "none"):
        assert re.match(patterns.CODEC_SETTING, name)
        named_codec(name, 2)


@pytest.mark.parametrize("name", ["keep-1", "blosc-lz5-1", "gzip-10", "zstd-", "zlib-1"])
def test_codecs_outside_the_grammar_are_refused_by_both(name):
    assert not re.match(patterns.CODEC_SETTING, name)
    with pytest.raises(CodecError, match=re.escape(patterns.CODEC_SPELLING)):
        named_codec(name, 2)


def test_the_crate_uses_the_same_license_organism_and_modality_rules():
    for shorthand, url in patterns.LICENSE_SHORTHANDS.items():
        assert resolve_license(shorthand) == url
    with pytest.raises(CrateError, match="organism"):
        build_crate(name="n", description="d", license="CC0-1.0", organism="9606")
    with pytest.raises(CrateError, match="modality"):
        build_crate(name="n", description="d", license="CC0-1.0", modality="FBbi:1")
