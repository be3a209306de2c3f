"""The files the Snakemake report shows: for every dataset of the catalog its thumbnail and a
validation page (every check, the mode and the figures), and the catalog as a sortable table
with the run's conversion cost below it.

They are made from ``results/catalog.csv`` and each dataset's outcome, so failed datasets have
their page too: a grey card saying why stands in for the picture they do not have."""

from __future__ import annotations

import base64
import functools
import html
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ngff_resave.records.outcomes import check_counts, read_outcome
from ngff_resave.report.catalog import human_bytes
from ngff_resave.report.costs import (
    ASSUMPTION,
    COLUMNS,
    NOTES,
    RunCosts,
    projection_text,
    run_costs,
    table_rows,
)
from ngff_resave.report.pictures import THUMBNAIL_FILE, placeholder
from ngff_resave.storage import read_local_bytes, write_local_bytes

LOG = logging.getLogger(__name__)

REPORT_FOLDER = "report"
THUMBNAILS = "thumbnails"
VALIDATION = "validation"
CATALOG_PAGE = "catalog.html"
# The catalog's columns a dataset's page lists, in this order, before its checks.
# A dataset's page lists at most this many passed checks (every failed one): a plate's tens
# of thousands made a page of 9 MB that took longer to write than its catalog.
PASSED_ROWS = 1000

FIGURES = [
    "kind",
    "mode",
    "valid",
    "validated",
    "input",
    "url",
    "shape",
    "dtype",
    "chunks",
    "shards",
    "levels",
    "arrays",
    "read",
    "written",
    "written_human_readable",
    "seconds",
    "mended",
    "skipped",
    "error",
]
STYLE = """
body { font-family: sans-serif; margin: 1em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; }
tr.failed td { background: #fde2e2; }
.valid { color: #176b1b; } .invalid { color: #a31515; }
img { image-rendering: pixelated; max-width: 100%; border: 1px solid #ccc; }
.columns { display: flex; flex-wrap: wrap; gap: 2em; align-items: flex-start; }
.columns > div { flex: 1 1 30em; min-width: 0; }
td:last-child { overflow-wrap: anywhere; }
"""
# Click a column's header to sort by it (numbers as numbers), again to reverse.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach((th, column) => {
  th.style.cursor = "pointer";
  th.title = "sort";
  th.addEventListener("click", () => {
    const body = th.closest("table").tBodies[0];
    const up = th.dataset.order !== "up";
    th.closest("tr").querySelectorAll("th").forEach((h) => delete h.dataset.order);
    th.dataset.order = up ? "up" : "down";
    const key = (row) => row.cells[column].textContent.trim();
    const rows = Array.from(body.rows).sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      const [nx, ny] = [Number(x), Number(y)];
      const order = x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny)
        ? nx - ny : x.localeCompare(y);
      return up ? order : -order;
    });
    rows.forEach((row) => body.appendChild(row));
  });
});
"""


@dataclass
class ReportPages:
    """What :func:`write_report_pages` wrote."""

    datasets: int
    thumbnails: int
    placeholders: int


def write_report_pages(results: Path) -> ReportPages:
    """Write ``results/report/``: ``thumbnails/{dataset}.png``, ``validation/{dataset}.html``
    and ``catalog.html``, for every row of ``results/catalog.csv``. Both folders are written
    whole each time, so nothing of a dataset no longer in the sheet stays."""
    catalog = read_catalog(results)
    folder = results / REPORT_FOLDER
    for name in (THUMBNAILS, VALIDATION):
        shutil.rmtree(folder / name, ignore_errors=True)
        (folder / name).mkdir(parents=True)
    drawn = 0
    for row in catalog.to_dict(orient="records"):
        dataset = row["dataset"]
        outcome = read_outcome(results, dataset) or {}
        png = thumbnail_png(results, row, outcome)
        drawn += png is not None
        if png is None:
            png = placeholder(missing_picture_text(row, outcome)).png()
        write_local_bytes(folder / THUMBNAILS / f"{dataset}.png", png)
        page = dataset_page(row, outcome, png)
        write_local_bytes(folder / VALIDATION / f"{dataset}.html", page.encode())
    costs = run_costs(results, catalog["dataset"])
    write_local_bytes(folder / CATALOG_PAGE, catalog_page(catalog, costs).encode())
    pages = ReportPages(len(catalog), drawn, len(catalog) - drawn)
    LOG.info(
        "report pages: %d datasets, %d thumbnails, %d without a picture",
        pages.datasets,
        pages.thumbnails,
        pages.placeholders,
    )
    return pages


def read_catalog(results: Path) -> pd.DataFrame:
    return pd.read_csv(results / "catalog.csv", dtype=str, keep_default_na=False)


def thumbnail_png(results: Path, row: dict[str, str], outcome: dict[str, Any]) -> bytes | None:
    """The thumbnail the dataset's validating job drew, while it stands for the catalog row."""
    if row["valid"] != "True" or not outcome.get("thumbnail"):
        return None
    return read_local_bytes(results / row["dataset"] / THUMBNAIL_FILE)


def missing_picture_text(row: dict[str, str], outcome: dict[str, Any]) -> str:
    if row["valid"] != "True":
        return f"{row['dataset']}: no picture, the dataset failed. {row['error']}"
    return (
        f"{row['dataset']}: valid, but no thumbnail: validated by a version before 0.2.0, or "
        f"drawing it failed (see {outcome.get('log') or 'its log'})"
    )


def throughput(row: dict[str, str]) -> str:
    """Bytes written per second of the dataset's jobs, in MB/s."""
    try:
        seconds, written = float(row["seconds"]), float(row["written"])
    except ValueError:
        return ""
    return f"{written / 1e6 / seconds:.1f}" if seconds > 0 else ""


def dataset_page(row: dict[str, str], outcome: dict[str, Any], png: bytes) -> str:
    """One dataset: its picture, its figures and every validation check."""
    dataset = html.escape(row["dataset"])
    valid = row["valid"] == "True"
    verdict = (
        '<p class="valid">valid</p>' if valid else '<p class="invalid">failed or not valid</p>'
    )
    figures = [(name, row.get(name, "")) for name in FIGURES]
    figures.insert(FIGURES.index("seconds") + 1, ("MB/s", throughput(row)))
    figure_rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>"
        for name, value in figures
    )
    checks = outcome.get("checks", [])
    passed, total = check_counts(checks)
    shown = shown_checks(checks)
    check_rows = "".join(map(check_row, shown))
    if len(shown) < len(checks):
        unlisted = passed - check_counts(shown)[0]
        check_rows += (
            f"<tr><td></td><td>and {unlisted} more checks, all passed</td>"
            f"<td>in results/{dataset}/validation.json</td></tr>"
        )
    shows = outcome.get("thumbnail") or "no picture"
    picture = base64.b64encode(png).decode()
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{dataset}</title>"
        f"<style>{STYLE}</style></head><body><h1>{dataset}</h1>{verdict}"
        "<div class='columns'><div>"
        f'<img alt="thumbnail of {dataset}" src="data:image/png;base64,{picture}">'
        f"<p>{html.escape(shows)}</p><h2>Figures</h2><table>{figure_rows}</table></div>"
        f"<div><h2>Validation: {passed} of {total} checks passed</h2>"
        f"<table class='sortable'><thead><tr><th>ok</th><th>check</th><th>detail</th></tr>"
        f"</thead><tbody>{check_rows}</tbody></table></div></div>"
        f"<script>{SORT_SCRIPT}</script></body></html>\n"
    )


def shown_checks(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The checks a dataset's page lists, in their order: every failed one, and the passed
    ones up to :data:`PASSED_ROWS`."""
    shown, passed = [], 0
    for check in checks:
        if check.get("ok"):
            passed += 1
            if passed > PASSED_ROWS:
                continue
        shown.append(check)
    return shown


def check_row(check: dict[str, Any]) -> str:
    return (
        f'<tr class="{"" if check.get("ok") else "failed"}">'
        f"<td>{'yes' if check.get('ok') else 'NO'}</td>"
        f"<td>{html.escape(str(check.get('check', '')))}</td>"
        f"<td>{html.escape(str(check.get('detail', '')))}</td></tr>"
    )


def catalog_page(catalog: pd.DataFrame, costs: RunCosts | None) -> str:
    """The catalog as one HTML table whose columns sort on a click; the run's conversion cost
    below it."""
    table = catalog.to_html(index=False, classes="sortable", border=0, na_rep="")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>catalog</title>"
        f"<style>{STYLE}</style></head><body><h1>Catalog: {len(catalog)} datasets</h1>"
        "<p>Click a column's header to sort by it.</p>"
        f"{table}{cost_section(costs)}<script>{SORT_SCRIPT}</script></body></html>\n"
    )


def cost_section(costs: RunCosts | None) -> str:
    """The run's conversion cost: its steps and totals as a table, what that projects for 1 TB
    of input, and what the figures are."""
    if costs is None:
        return (
            "<h2 id='conversion-cost'>Conversion cost</h2>"
            "<p>Not stated: there is no run record (results/run.json).</p>"
        )
    head = "".join(f"<th>{html.escape(name)}</th>" for name in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table_rows(costs)
    )
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(costs.started))
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in NOTES)
    return (
        "<h2 id='conversion-cost'>Conversion cost of this run</h2>"
        f"<p>Run started {started} on {html.escape(costs.machine())}; "
        f"{costs.datasets_with_jobs} of {costs.datasets} datasets had jobs in it; work kept "
        "from earlier runs is not counted.</p>"
        f"<table class='costs'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p><strong>{html.escape(projection_text(costs))}.</strong> "
        f"{html.escape(ASSUMPTION)}</p><ul>{notes}</ul>"
    )


@functools.cache
def _catalog_rows(results: str, mtime: float) -> dict[str, dict[str, str]]:
    frame = read_catalog(Path(results))
    return {row["dataset"]: row for row in frame.to_dict(orient="records")}


def report_labels(results: Path, dataset: str, page: str) -> dict[str, str]:
    """The columns a dataset's row has in the report's tables (``page``: ``thumbnail`` or
    ``validation``)."""
    path = results / "catalog.csv"
    row = _catalog_rows(str(path.parent), os.path.getmtime(path)).get(dataset)
    if row is None:
        return {"dataset": dataset}
    labels = {
        "dataset": dataset,
        "kind": row["kind"],
        "valid": "yes" if row["valid"] == "True" else "no",
        "mode": row["mode"] or "-",
    }
    if page == "thumbnail":
        seconds = row["seconds"]
        labels.update(
            written=human_bytes(float(row["written"] or 0)),
            seconds=seconds or "-",
            **{"MB/s": throughput(row) or "-"},
        )
    else:
        outcome = read_outcome(results, dataset) or {}
        passed, total = check_counts(outcome.get("checks", []))
        labels["checks passed"] = f"{passed} of {total}"
        labels["error"] = (row["error"] or "-")[:120]
    # Snakemake reads braces in labels as wildcards.
    return {key: value.replace("{", "(").replace("}", ")") for key, value in labels.items()}
