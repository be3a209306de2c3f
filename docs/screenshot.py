"""Screenshots of a workflow report, taken in a real headless browser (Chromium, driven by
Playwright): the thumbnails' table and one dataset's validation page, as a user clicks to them.

    python docs/screenshot.py REPORT_FOLDER [--chromium /usr/bin/chromium] [--out docs]

REPORT_FOLDER is an unpacked ``snakemake --report report.zip`` (the folder holding
``report.html``). ``make screenshot`` runs the test configuration, builds the report and calls
this script.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

LOG = logging.getLogger("screenshot")
VIEWPORT = {"width": 1400, "height": 900}
SETTLE_MS = 600


def open_subcategory(page: Page, report: Path, category: str, subcategory: str) -> None:
    page.goto(report.absolute().as_uri())
    page.wait_for_timeout(SETTLE_MS)
    page.get_by_text(category, exact=True).first.click()
    page.get_by_text(subcategory, exact=True).first.click()
    page.wait_for_timeout(SETTLE_MS)


def view_row(page: Page, dataset: str) -> None:
    """Click the eye of the table row whose first cell is ``dataset``."""
    row = page.locator("tr", has=page.get_by_text(dataset, exact=True)).first
    row.locator("a, button").first.click()
    page.wait_for_timeout(SETTLE_MS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("report_folder", type=Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--dataset", default="image-with-labels")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = args.report_folder / "report.html"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport=VIEWPORT)
        # (subcategory, open the dataset's row, then fold the menu away)
        shots = {
            "report-thumbnails.png": ("Thumbnails", True, False),
            "report-validation.png": ("Validation", True, True),
        }
        for name, (subcategory, open_dataset, fold_menu) in shots.items():
            open_subcategory(page, report, "Datasets", subcategory)
            if open_dataset:
                view_row(page, args.dataset)
            if fold_menu:
                # What the menu's close button does (the report's own app object).
                page.evaluate("app.setView({hideNavbar: true})")
                page.wait_for_timeout(SETTLE_MS)
            page.screenshot(path=str(args.out / name))
            LOG.info("%s", args.out / name)
        browser.close()


if __name__ == "__main__":
    main()
