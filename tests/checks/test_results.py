"""The validation record: failed checks as made, a kind of passed check made many times
folded into one entry that names every path it stands for."""

from ngff_resave.checks.results import FOLD_ABOVE, Report
from ngff_resave.records.outcomes import check_counts


def _plate_report() -> tuple[Report, list[str]]:
    report = Report("plate")
    report.add("root zarr.json has ome.version 0.6", True, group="")
    paths = [f"A/{well}/0/s0" for well in range(1, FOLD_ABOVE + 30)]
    for path in paths:
        report.add(f"array {path}: shape as planned", True, array=path)
        ok = path != "A/7/0/s0"
        report.add(
            f"array {path}: values equal the input (full)",
            ok,
            "" if ok else "differs",
            array=path,
        )
    for well in range(1, 4):
        report.add(f"0.6 JSON schemas A/{well}", True, group=f"A/{well}")
    return report, paths


def test_many_passed_checks_of_a_kind_are_one_entry_naming_their_paths():
    report, paths = _plate_report()
    recorded = report.recorded_checks()

    assert recorded[0] == report.checks[0]
    shape = recorded[1]
    assert shape == {
        "check": f"{len(paths)} x array *: shape as planned",
        "ok": True,
        "detail": "",
        "count": len(paths),
        "paths": paths,
    }
    # The failed check kept as made, and a kind made few times: each check on its own.
    values = [c for c in recorded if "values equal" in c["check"]]
    failed = {"check": "array A/7/0/s0: values equal the input (full)", "ok": False}
    assert [c for c in values if not c["ok"]] == [{**failed, "detail": "differs"}]
    assert [c["check"] for c in recorded[-3:]] == [f"0.6 JSON schemas A/{w}" for w in (1, 2, 3)]
    assert values[0]["count"] == len(paths) - 1
    assert "A/7/0/s0" not in values[0]["paths"]
    # Counted as made; valid and failed as before.
    assert check_counts(recorded) == (len(report.checks) - 1, len(report.checks))
    assert len(recorded) == 1 + 1 + 2 + 3
    assert not report.valid and report.failed == ["array A/7/0/s0: values equal the input (full)"]
    assert report.to_json()["checks"] == recorded


def test_checks_of_a_kind_fold_only_with_the_same_detail_and_above_the_bound():
    report = Report("image")
    for i in range(FOLD_ABOVE + 1):
        report.add(
            f"array {i}: values", True, "read back" if i % 2 else "server checksum", array=str(i)
        )
    for i in range(FOLD_ABOVE):
        report.add(f"array {i}: shape", True, array=str(i))
    recorded = report.recorded_checks()
    # Neither detail's checks are more than the bound; nor are the shape checks.
    assert recorded == report.checks
    assert check_counts(recorded) == (2 * FOLD_ABOVE + 1, 2 * FOLD_ABOVE + 1)
