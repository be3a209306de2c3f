"""The command line as the rules call it: exit codes, outcomes, and the records a failure
leaves for the next run to redo."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import LICENSE, read_json

from ngff_resave.cli.main import main
from ngff_resave.model.plan import SheetPlan, read_plan
from ngff_resave.records.outcomes import stale_convert_records
from ngff_resave.sheet.settings import fill_config_defaults
from ngff_resave.storage import open_location


def plan_workdir(workdir: Path, inputs: dict[str, Path], **config) -> list[str]:
    """A sheet of the given inputs; the `plan` command line for it."""
    lines = ["dataset\tinput"] + [f"{d}\t{path}" for d, path in inputs.items()]
    (workdir / "samples.tsv").write_text("\n".join(lines) + "\n")
    full = fill_config_defaults(
        {"samples": "samples.tsv", "rocrate": {"license": LICENSE}, **config}
    )
    return [
        "plan",
        "--config",
        json.dumps(full),
        "--results",
        "results",
        "--output",
        "results/plans/a.json",
        "--attempt",
        "a",
        "--inputs-digest",
        "d",
    ]


def test_metadata_that_0_5_rejects_fails_its_row_at_planning_only(
    example_copy, examples, tmp_path, monkeypatch
):
    root = example_copy("image-with-labels")
    attrs = json.loads((root / ".zattrs").read_text())
    # A scale with one value too few: rejected by the 0.5 models, and no mend guesses one.
    transforms = attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"]
    transforms[0]["scale"] = transforms[0]["scale"][1:]
    (root / ".zattrs").write_text(json.dumps(attrs))
    monkeypatch.chdir(tmp_path)
    assert main(plan_workdir(tmp_path, {"img": root, "plate": examples["plate"]})) == 0
    sheet = SheetPlan.model_validate_json((tmp_path / "results" / "plan.json").read_bytes())
    img, plate = sheet.entries
    assert img.plan_digest is None and img.failure == "input defect"
    assert "dataset 'img'" in img.error and "would not be valid OME-Zarr 0.5" in img.error
    assert plate.plan_digest and read_plan(tmp_path / "results" / "plate" / "plan.json")
    assert not (tmp_path / "results" / "img" / "plan.json").exists()
    assert not (tmp_path / "results" / "ome-zarr" / "img.ome.zarr").exists()


def test_unchanged_rows_reuse_their_plan_without_reading_the_input(
    example_copy, tmp_path, monkeypatch
):
    root = example_copy("plate")
    monkeypatch.chdir(tmp_path)
    args = plan_workdir(tmp_path, {"plate": root})
    assert main(args) == 0
    plan_file = tmp_path / "results" / "plate" / "plan.json"
    before = plan_file.stat().st_mtime_ns
    shutil.rmtree(root / "A")  # the input can no longer be read: a re-plan would fail
    assert main(args) == 0
    assert plan_file.stat().st_mtime_ns == before
    entry = SheetPlan.model_validate_json((tmp_path / "results" / "plan.json").read_bytes())
    assert entry.entries[0].plan_digest is not None
    # a changed setting plans the row again (and now finds the damage)
    assert main(plan_workdir(tmp_path, {"plate": root}, codec="blosc-zstd-5")) == 0
    entry = SheetPlan.model_validate_json((tmp_path / "results" / "plan.json").read_bytes())
    assert entry.entries[0].plan_digest is None and "dataset 'plate'" in entry.entries[0].error


def test_a_plan_of_an_older_format_is_planned_again(examples, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = plan_workdir(tmp_path, {"plate": examples["plate"]})
    assert main(args) == 0
    plan_file = tmp_path / "results" / "plate" / "plan.json"
    old = json.loads(plan_file.read_text())
    old["format"] = 1
    plan_file.write_text(json.dumps(old))
    assert read_plan(plan_file) is None
    (tmp_path / "results" / "plan.json").unlink()
    assert main(args) == 0
    assert read_plan(plan_file) is not None


@pytest.mark.parametrize(("damage", "arrays_redone"), [("crate", set()), ("pixels", {"2"})])
def test_an_invalid_dataset_names_what_must_be_redone(
    examples, tmp_path, monkeypatch, damage, arrays_redone
):
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            plan_workdir(
                tmp_path, {"img": examples["image-with-labels"]}, parts={"target_bytes": 20000}
            )
        )
        == 0
    )
    plan = read_plan(tmp_path / "results" / "img" / "plan.json")
    records = []
    for job in plan.jobs:
        record = f"results/img/convert/{job.id}.json"
        assert (
            main(
                [
                    "convert-job",
                    "--plan",
                    "results/img/plan.json",
                    "--job",
                    job.id,
                    "--record",
                    record,
                ]
            )
            == 0
        )
        records.append(record)
    out = Path(plan.output)
    if damage == "crate":
        shutil.rmtree(out / "labels")  # gone before the crate and groups are written
        arrays_redone = {a.path for a in plan.arrays if a.path.startswith("labels/")}
    else:
        shutil.rmtree(out / "2" / "c")
    assert (
        main(
            [
                "metadata",
                "--plan",
                "results/img/plan.json",
                "--record",
                "results/img/m.json",
                "--results",
                "results",
                "--convert-records",
                *records,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "validate",
                "--plan",
                "results/img/plan.json",
                "--record",
                "results/img/v.json",
                "--results",
                "results",
                "--logs",
                "logs",
                "--metadata-record",
                "results/img/m.json",
            ]
        )
        == 0
    )
    outcome = read_json(tmp_path / "results" / "img" / "validation.json")
    assert outcome["valid"] is False and "dataset 'img'" in outcome["error"]
    assert outcome["failure"] == "conversion failure" and outcome["rule"] == "validate"
    assert outcome["record"] == "results/img/v.json"
    assert set(outcome["failed_arrays"]) == arrays_redone
    assert not (out / "zarr.json").exists()
    sheet = SheetPlan.model_validate_json((tmp_path / "results" / "plan.json").read_bytes())
    stale = {p.stem for p in stale_convert_records(tmp_path / "results", sheet.entries[0])}
    expected = {j.id for j in plan.jobs if arrays_redone & {p.path for p in j.arrays}}
    assert stale == expected and stale


def test_a_pack_goes_on_past_a_failing_dataset(examples, example_copy, tmp_path, monkeypatch):
    broken = example_copy("plate")
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            plan_workdir(
                tmp_path,
                {
                    "broken": broken,
                    "img": examples["image-with-labels"],
                    "b2r": examples["bioformats2raw"],
                },
            )
        )
        == 0
    )
    chunk = next(
        p
        for p in (broken / "A" / "1" / "0" / "0").rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    chunk.write_bytes(b"not a compressed chunk" * 4)
    assert (
        main(
            [
                "pack",
                "--record",
                "results/packs/p.json",
                "--results",
                "results",
                "--logs",
                "logs",
                "broken",
                "img",
                "b2r",
            ]
        )
        == 0
    )
    record = read_json(tmp_path / "results" / "packs" / "p.json")
    assert record["failed"] == ["broken"]
    assert [d["valid"] for d in record["datasets"]] == [False, True, True]
    for dataset in ("img", "b2r"):
        assert read_json(tmp_path / "results" / dataset / "validation.json")["valid"]
        assert "is valid" in (tmp_path / "logs" / dataset / "pack.log").read_text()
    outcome = read_json(tmp_path / "results" / "broken" / "validation.json")
    assert outcome["valid"] is False and outcome["log"] == "logs/broken/pack.log"
    assert "dataset 'broken'" in outcome["error"]
    assert "dataset 'img'" not in (tmp_path / "logs" / "broken" / "pack.log").read_text()


def test_a_write_error_names_the_output_path(examples, tmp_path, monkeypatch):
    from ngff_resave.records.ownership import Run, check_output
    from ngff_resave.steps.pack import run_dataset

    monkeypatch.chdir(tmp_path)
    assert main(plan_workdir(tmp_path, {"img": examples["image-with-labels"]})) == 0
    output = tmp_path / "results" / "ome-zarr" / "img.ome.zarr"
    plan = read_json(tmp_path / "results" / "img" / "plan.json")
    # The output is this row's (claimed), then a file appears where an array's folder goes.
    check_output(
        "img",
        plan["input"],
        open_location(str(output)),
        Run.current(tmp_path / "results"),
        take=True,
    )
    (output / "1").write_text("a file where the array's folder goes")
    outcome = run_dataset("img", tmp_path / "results", tmp_path / "logs", 1, "full", 8)
    assert not outcome.valid
    assert f"cannot write {output}/1/" in outcome.error, outcome.error


@pytest.mark.parametrize(
    "command",
    [
        ["convert", "in.ome.zarr", "out.ome.zarr", "--cc-by"],
        ["pack", "--record", "r.json", "--results", "results", "--logs", "logs", "d"],
        [
            "validate",
            "--plan",
            "p.json",
            "--record",
            "r.json",
            "--results",
            "results",
            "--logs",
            "logs",
            "--metadata-record",
            "m.json",
        ],
    ],
    ids=lambda command: command[0],
)
@pytest.mark.parametrize("value", ["0", "-3", "x"])
def test_sample_chunks_below_one_is_refused_by_every_command(command, value, tmp_path, capsys):
    # Refused while parsing, before any file is read or written.
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--sample-chunks", value])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "argument --sample-chunks" in error
    assert ("must be at least 1" if value != "x" else "not a whole number") in error
    assert not list(tmp_path.iterdir())


def test_sample_chunks_reach_the_validation_of_every_command(monkeypatch, tmp_path):
    """The value given is the one validation samples with (convert used to ignore it)."""
    from ngff_resave.cli import one_dataset
    from ngff_resave.steps import pack, validate

    seen: dict[str, int] = {}
    monkeypatch.setattr(pack, "run_pack", lambda *a: seen.setdefault("pack", a[-1]) and {})
    monkeypatch.setattr(validate, "validate_step", lambda *a: seen.setdefault("validate", a[-2]))
    monkeypatch.setattr(
        one_dataset,
        "convert_one_dataset",
        lambda request, *a: seen.setdefault("convert", request.sample_chunks) and 0,
    )
    main(["pack", "--record", "r", "--results", "r", "--logs", "l", "--sample-chunks", "3", "d"])
    main(
        [
            *("validate", "--plan", "p", "--record", "r", "--results", "r", "--logs", "l"),
            *("--metadata-record", "m", "--sample-chunks", "4"),
        ]
    )
    main(["convert", "i.zarr", str(tmp_path / "o.zarr"), "--cc-by", "--sample-chunks", "5"])
    assert seen == {"pack": 3, "validate": 4, "convert": 5}
