"""A dataset's validation page: every failed check, the passed ones up to a bound."""

import subprocess
import sys

from ngff_resave.report.pages import PASSED_ROWS, dataset_page


def test_a_page_lists_every_failed_check_and_counts_the_passed_beyond_its_bound():
    passed = PASSED_ROWS + 1500
    checks = [{"check": f"array {i}: values", "ok": True, "detail": ""} for i in range(passed)]
    failures = {5: "early", PASSED_ROWS + 10: "late <b>", passed - 1: "last"}
    for position, detail in sorted(failures.items(), reverse=True):
        checks.insert(position, {"check": f"check {detail}", "ok": False, "detail": detail})
    row = {"dataset": "plate", "valid": "False", "seconds": "1", "written": "0"}

    page = dataset_page(row, {"checks": checks}, b"")

    assert f"{passed} of {len(checks)} checks passed" in page
    for detail in failures.values():
        assert f"<td>check {detail.replace('<b>', '&lt;b&gt;')}</td>" in page
    assert page.count("<td>NO</td>") == len(failures)
    assert page.count("<td>yes</td>") == PASSED_ROWS
    assert f"array {PASSED_ROWS - 1}: values" in page and f"array {PASSED_ROWS}: v" not in page
    assert "and 1500 more checks, all passed" in page
    assert "results/plate/validation.json" in page


def test_a_page_with_few_checks_lists_them_all():
    checks = [{"check": f"c{i}", "ok": i != 3, "detail": ""} for i in range(10)]
    row = {"dataset": "d", "valid": "False", "seconds": "1", "written": "0"}
    page = dataset_page(row, {"checks": checks}, b"")
    assert page.count("<td>yes</td>") == 9 and page.count("<td>NO</td>") == 1
    assert "more checks" not in page


def test_the_pages_and_the_catalog_import_no_zarr_python():
    # Both run in the Snakemake process, which planning leaves without zarr-python (0.1 s).
    code = (
        "import sys, ngff_resave.report.pages, ngff_resave.steps.catalog; "
        "print('zarr' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
