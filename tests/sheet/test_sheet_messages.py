"""What a sheet's problems say: the column a typo meant, accepted values in words, what to do;
and what is not a sheet problem (a missing input fails its row alone, at planning)."""

from pathlib import Path

import pandas as pd
import pytest

from ngff_resave.sheet.settings import (
    SheetError,
    check_sheet,
    fill_config_defaults,
    load_samples,
)


def sheet_error(workdir: Path, text: str, **config: object) -> str:
    (workdir / "in.zarr").mkdir(exist_ok=True)
    (workdir / "samples.tsv").write_text(text)
    settings = fill_config_defaults({"samples": "samples.tsv", **config})
    with pytest.raises(SheetError) as info:
        load_samples(settings, workdir)
    return str(info.value)


def test_a_typo_in_a_required_column_names_both_and_suggests(tmp_path):
    message = sheet_error(tmp_path, "dataset\tinupt\na\tin.zarr\n")
    assert "unknown column `inupt` (did you mean `input`?)" in message
    assert "missing column `input` (required)" in message
    assert "\n" not in message


def test_an_unknown_column_suggests_the_closest_allowed_name(tmp_path):
    message = sheet_error(tmp_path, "dataset\tinput\tlicence\na\tin.zarr\tCC0-1.0\n")
    assert "unknown column `licence` (did you mean `license`?)" in message
    # a column named in another case is still found
    message = sheet_error(tmp_path, "dataset\tInput\na\tin.zarr\n")
    assert "unknown column `Input` (did you mean `input`?)" in message


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("CC-BY", "'CC-BY' is not accepted (did you mean `CC-BY-4.0`?)"),
        ("cc0-1.0", "'cc0-1.0' is not accepted (did you mean `CC0-1.0`?)"),
        ("CC-BY-SA", "'CC-BY-SA' is not accepted: give one of the shorthands"),
    ],
)
def test_a_wrong_license_says_in_words_what_is_accepted(tmp_path, value, said):
    message = sheet_error(tmp_path, f"dataset\tinput\tlicense\na\tin.zarr\t{value}\n")
    assert "samples.tsv line 2 (dataset 'a'), column 'license'" in message
    assert said in message
    assert (
        "shorthands CC-BY-4.0 and CC0-1.0, or the URL (http:// or https://) of any other" in message
    )
    assert "^(" not in message and "\\" not in message


def test_wrong_values_are_explained_without_regular_expressions(tmp_path):
    message = sheet_error(
        tmp_path,
        "dataset\tinput\torganism\tchunks\tngff_version\na\tin.zarr\thuman\t1,x\t0.7\n",
    )
    assert "column 'organism': 'human' is not accepted: give an NCBI taxon id" in message
    assert "column 'chunks': '1,x' is not accepted: give whole numbers above 0" in message
    assert "column 'ngff_version': '0.7' is not accepted: give 0.5 or 0.6" in message
    assert "^" not in message and "does not match" not in message


def test_a_missing_license_says_how_to_set_one_in_sheet_terms(tmp_path):
    message = sheet_error(tmp_path, "dataset\tinput\na\tin.zarr\n")
    assert (
        "column 'license': no license: set `rocrate.license` in the config or a `license` "
        "column, or a `rocrate` column set to false"
    ) in message
    assert "rocrate=false" not in message


def test_a_missing_input_is_not_a_sheet_problem(tmp_path):
    """Whether an input exists is planning's to find, for that row alone (the workflow tests
    show the run going on with the others)."""
    (tmp_path / "samples.tsv").write_text("dataset\tinput\tlicense\ngone\tno/such.zarr\tCC0-1.0\n")
    samples = load_samples(fill_config_defaults({"samples": "samples.tsv"}), tmp_path)
    assert samples["gone"]["input"] == "no/such.zarr"


def test_a_command_line_wording_names_options_not_sheet_lines(tmp_path):
    from ngff_resave.cli.one_dataset import COMMAND_LINE

    config = fill_config_defaults({"samples": "command line"})
    (tmp_path / "in.zarr").mkdir()

    def problem(**cells: str) -> str:
        row = {"dataset": "a", "input": "in.zarr", **cells}
        frame = pd.DataFrame([row], dtype=str)
        with pytest.raises(SheetError) as info:
            check_sheet(frame, config, "command line", tmp_path, COMMAND_LINE)
        message = str(info.value)
        assert "line 2" not in message and "sample sheet" not in message and "\n" not in message
        return message

    said = problem(organism="human", license="CC0-1.0")
    assert said.startswith("--rocrate-organism: 'human' is not accepted: give an NCBI taxon")
    said = problem(license="CC-BY")
    assert said == (
        "--rocrate-license: 'CC-BY' is not accepted (did you mean `CC-BY-4.0`?): give a "
        "license's URL (http:// or https://); for CC-BY 4.0 or CC0 1.0 give --cc-by or --cc0"
    )
    said = problem(fallback="true")
    assert said.startswith(
        "no license: choose one with --cc-by, --cc0 or --rocrate-license URL, or write no "
        "RO-Crate with --rocrate-skip; "
    )
    assert "--fallback: only a row with --reference uses it" in said
    said = problem(output="in.zarr/inner", rocrate="false")
    assert said.startswith("OUTPUT: ") and "inner overlaps the input of INPUT" in said


def test_a_wrong_config_value_says_what_is_accepted():
    with pytest.raises(SheetError) as info:
        fill_config_defaults(
            {"samples": "s.tsv", "ngff_version": "0.7", "rocrate": {"license": "MIT"}}
        )
    message = str(info.value)
    assert "ngff_version: '0.7' is not accepted: give one of 0.5, 0.6" in message
    assert "rocrate/license: 'MIT' is not accepted: give one of the shorthands" in message
    assert "^(" not in message
