"""The command line as a user meets it: ``--help`` with the user's commands first and the
workflow's steps apart, every argument described, the versions right; an expected failure in
one line that names the option and what to do, a traceback only under ``--log debug`` or for a
bug."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from ngff_resave.cli.main import STEP_COMMANDS, USER_COMMANDS, build_parser, main
from ngff_resave.model.versions import READ_VERSIONS_TEXT, WRITE_VERSIONS_TEXT

CLI = [sys.executable, "-m", "ngff_resave"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_help_lists_the_users_commands_first_and_the_steps_apart():
    text = build_parser().format_help()
    commands, steps = text.split("workflow steps")
    for name in USER_COMMANDS:
        assert f"\n    {name}" in commands, name
    for name in STEP_COMMANDS:
        assert f"\n    {name} " not in commands and f"\n  {name} " in steps, name
    assert commands.index("convert") < commands.index("restore-in-place")
    for markup in (":mod:", "``", "This module", "only parses"):
        assert markup not in text, markup
    assert f"Convert {READ_VERSIONS_TEXT} datasets to {WRITE_VERSIONS_TEXT}" in text


def test_every_command_and_argument_is_described():
    parser = build_parser()
    commands = subparsers(parser)
    assert set(commands) == {*USER_COMMANDS, *STEP_COMMANDS}
    for name, command in commands.items():
        assert command.description, name
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)


def test_the_version_ranges_in_the_help_are_right():
    convert = subparsers(build_parser())["convert"].format_help()
    assert "0.4 dataset" not in convert
    assert f"Convert one {READ_VERSIONS_TEXT} dataset to {WRITE_VERSIONS_TEXT}" in " ".join(
        convert.split()
    )
    assert f"the root of an {READ_VERSIONS_TEXT} dataset" in " ".join(convert.split())


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_a_missing_license_is_one_line_in_command_line_terms(examples, tmp_path):
    result = run("convert", str(examples["plate"]), "out.ome.zarr", cwd=tmp_path)
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "ngff-resave convert: error: no license: choose one with --cc-by, --cc0 or "
        "--rocrate-license URL, or write no RO-Crate with --rocrate-skip"
    )
    assert not (tmp_path / "out.ome.zarr").exists()


def test_bad_options_name_the_option_not_a_sheet_line(examples, tmp_path):
    result = run(
        "convert",
        str(examples["plate"]),
        "out.ome.zarr",
        "--cc0",
        "--rocrate-organism",
        "human",
        cwd=tmp_path,
    )
    line = one_line(result.stderr)
    assert result.returncode == 2
    assert line.startswith("ngff-resave convert: error: --rocrate-organism: 'human' is not")
    assert "sample sheet" not in line and "line 2" not in line and "column" not in line


def test_a_missing_input_is_one_line_and_debug_shows_the_traceback(tmp_path):
    args = ["convert", str(tmp_path / "nothing.zarr"), "out.ome.zarr", "--cc-by"]
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        f"ngff-resave convert: error: INPUT {tmp_path / 'nothing.zarr'} does not exist: give "
        "the root folder of an OME-Zarr dataset (the one with .zattrs or zarr.json), or an "
        "s3:// or http(s):// URL"
    )
    debug = run(*args, "--log", "debug", cwd=tmp_path)
    assert debug.returncode == 2 and "Traceback" in debug.stderr
    assert debug.stderr.rstrip().endswith("or an s3:// or http(s):// URL")


def test_an_unexpected_error_is_shown_as_a_bug_with_its_traceback(monkeypatch, tmp_path, capsys):
    from ngff_resave.cli import one_dataset

    def broken(*args: object) -> int:
        raise KeyError("nobody expects this")

    monkeypatch.setattr(one_dataset, "convert_one_dataset", broken)
    assert main(["convert", "i.zarr", str(tmp_path / "o.zarr"), "--cc-by"]) == 2
    error = capsys.readouterr().err
    assert "Traceback" in error and "KeyError" in error
    assert "this is a bug: please report it with the traceback above" in error
