"""The ``catalog`` rule: the catalog CSV and ``failed.tsv`` of the run."""

from __future__ import annotations

from pathlib import Path

from ngff_resave.report.catalog import write_run_catalog


def catalog_step(results: Path, url_prefix: str | None) -> str:
    """``results/catalog.csv`` and ``results/failed.tsv``; the run's summary."""
    _, text = write_run_catalog(results, url_prefix)
    return text
