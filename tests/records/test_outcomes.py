"""Which datasets are done: a valid outcome of the current plan, validated in a mode at least
as strong as the one asked, its output there."""

from __future__ import annotations

from pathlib import Path

import pytest

from ngff_resave.model.plan import SheetEntry
from ngff_resave.records import outcomes
from ngff_resave.records.outcomes import Outcome


def finished(tmp_path: Path, validated: str) -> tuple[Path, SheetEntry]:
    output = tmp_path / "d.ome.zarr"
    output.mkdir()
    (output / "zarr.json").write_text("{}")
    results = tmp_path / "results"
    Outcome(dataset="d", valid=True, plan_digest="p", validated=validated).write(results)
    entry = SheetEntry(
        dataset="d", input="in", output=str(output), settings_digest="", plan_digest="p"
    )
    return results, entry


@pytest.mark.parametrize(
    ("validated", "asked", "done"),
    [
        ("sample", "sample", True),
        ("sample", "full", False),
        ("sample", "reread", False),
        ("full", "sample", True),
        ("full", "full", True),
        ("full", "reread", False),
        ("reread", "full", True),
        ("reread", "sample", True),
        ("", "sample", False),  # an outcome that does not say how it was validated
    ],
)
def test_a_stronger_validation_asked_later_makes_a_dataset_not_done(
    tmp_path, validated, asked, done
):
    results, entry = finished(tmp_path, validated)
    assert outcomes.dataset_state(results, entry, asked).done is done
    # Asked for no mode (a caller that does not validate): the outcome stands as it is.
    assert outcomes.dataset_state(results, entry).done


def test_an_outcome_is_json_with_each_check_on_a_line_of_its_own(tmp_path):
    """validation.json stays readable line by line (a plate's tens of thousands of checks are
    written without indenting each field of each check)."""
    import json

    checks = [{"check": f"array {n}: values", "ok": True, "detail": 'é "q"'} for n in range(3)]
    outcome = Outcome(dataset="d", valid=True, plan_digest="p", checks=checks, failed=[])
    path = outcome.write(tmp_path)
    text = path.read_text()
    assert json.loads(text) == {**outcome.__dict__}
    lines = text.splitlines()
    assert [json.loads(line.strip().rstrip(",")) for line in lines if '"check"' in line] == checks
    assert '  "dataset": "d",' in lines and '  "failed": [],' in lines
    assert text.endswith("}\n")
