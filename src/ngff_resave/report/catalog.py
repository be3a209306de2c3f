"""The catalog: one CSV row per dataset, the 2024 challenge's columns first, then ours."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from ngff_resave.arrays.codecs import v3_data_type
from ngff_resave.model.plan import (
    Failure,
    InventoryItem,
    PlanSummary,
    SheetEntry,
    SheetPlan,
    read_plan_summary,
    read_sheet_plan,
)
from ngff_resave.records.ownership import CRATE_FILE
from ngff_resave.report.costs import RunCosts, run_costs, summary_lines
from ngff_resave.report.failures import brief_reason
from ngff_resave.storage import (
    delete_local,
    open_location,
    read_local_record,
    write_local_bytes,
)

CHALLENGE_COLUMNS = [
    "url",
    "written",
    "written_human_readable",
    "origin",
    "shape",
    "shards",
    "chunks",
    "dimension_names",
    "license",
    "name",
    "description",
    "organismId",
    "fbbiId",
    "wells",
    "images",
]
OUR_COLUMNS = [
    "dataset",
    "input",
    "kind",
    "ngff_version",
    "input_version",
    "dtype",
    "levels",
    "arrays",
    "read",
    "seconds",
    "mode",
    "valid",
    "validated",
    "mended",
    "skipped",
    "error",
]
COLUMNS = CHALLENGE_COLUMNS + OUR_COLUMNS
FAILED_COLUMNS = ["dataset", "rule", "log", "failure", "error"]


def human_bytes(count: float) -> str:
    """Same spelling as the challenge's catalog (1024-based, two decimals)."""
    units = ["B", "KB", "MB", "GB", "TB"]
    while count >= 1024.0 and len(units) > 1:
        count /= 1024.0
        units.pop(0)
    return f"{count:.2f} {units[0]}"


def _joined(values: list[Any] | None) -> str:
    return ",".join(str(v) for v in values or [])


def _crate_fields(crate: dict[str, Any] | None) -> dict[str, Any]:
    fields = {"license": "", "name": "", "description": "", "organismId": "", "fbbiId": ""}
    for item in (crate or {}).get("@graph", []):
        if item.get("@id") == "./":
            fields.update({k: item.get(k, "") for k in ("license", "name", "description")})
            # A carried-forward crate may name its license by reference (RO-Crate's advice).
            if isinstance(fields["license"], dict):
                fields["license"] = fields["license"].get("@id", "")
        types = item.get("@type")
        if types == "biosample":
            fields["organismId"] = item.get("organism_classification", {}).get("@id", "")
        if types == "image_acquisition":
            fields["fbbiId"] = item.get("fbbi_id", {}).get("@id", "")
    return fields


def _listed(items: Iterable[str]) -> str:
    """Items of a catalog cell, ``;``-separated (a ``;`` inside an item becomes ``,``)."""
    return "; ".join(item.replace(";", ",") for item in items)


# More items than this of one reason are counted in the catalog (plan.json names each).
NAMED_SKIPS = 3


def _skipped_lines(items: Iterable[InventoryItem]) -> list[str]:
    """The catalog's ``skipped`` cell: each item with its reason, but many of one reason (the
    leftover chunk files of an earlier, larger write) counted, with the first as an example."""
    by_reason: dict[str, list[str]] = {}
    for item in items:
        by_reason.setdefault(item.reason, []).append(item.path)
    lines = []
    for reason, paths in by_reason.items():
        if len(paths) > NAMED_SKIPS:
            lines.append(f"{len(paths)} items (e.g. {paths[0]}): {reason}")
        else:
            lines += [f"{path}: {reason}" for path in paths]
    return lines


def public_url(output: str, url_prefix: str | None) -> str:
    if url_prefix:
        return url_prefix.rstrip("/") + "/" + posixpath.basename(output.rstrip("/"))
    return output


def catalog_row(
    plan: PlanSummary,
    records: list[dict[str, Any]],
    metadata_record: dict[str, Any],
    outcome: dict[str, Any],
    crate: dict[str, Any] | None,
    url_prefix: str | None,
) -> dict[str, Any]:
    level0 = plan.first_level
    written = sum(r.get("bytes_written", 0) for r in records) + metadata_record.get(
        "bytes_written", 0
    )
    is_plate = plan.kind.endswith("plate")
    row = {
        "url": public_url(plan.output, url_prefix),
        "written": written,
        "written_human_readable": human_bytes(written),
        "origin": plan.origin or "",
        "shape": _joined(level0.shape),
        # A referenced array is not sharded (its blocks are only units of work).
        "shards": _joined(level0.output.shards) if level0.sharded else "",
        "chunks": _joined(level0.output.chunks),
        "dimension_names": _joined(level0.dimension_names),
        **_crate_fields(crate),
        "wells": plan.wells if is_plate else "",
        "images": len(plan.images) if is_plate else "",
        "dataset": plan.dataset,
        "input": plan.input,
        "kind": plan.kind,
        "ngff_version": plan.ngff_version,
        "input_version": plan.input_version,
        "dtype": v3_data_type(level0.dtype)[0],
        "levels": plan.levels,
        "arrays": plan.array_count,
        "read": sum(r.get("bytes_read", 0) for r in records),
        "seconds": round(sum(r.get("seconds", 0) for r in records), 3),
        "mode": "+".join(plan.modes),
        "valid": bool(outcome.get("valid")),
        "validated": outcome.get("validated", "") if outcome.get("valid") else "",
        "mended": _listed(mend.line() for mend in plan.mends),
        "skipped": _listed(_skipped_lines(plan.skipped)),
        "error": outcome.get("error", ""),
    }
    if not row["name"]:
        row["name"] = plan.name or ""
    return row


def unplanned_row(entry: SheetEntry, url_prefix: str | None, error: str) -> dict[str, Any]:
    """A dataset without a plan: what the sheet says, and why it failed."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS, "")
    row.update(
        {
            "url": public_url(entry.output, url_prefix),
            "written": 0,
            "written_human_readable": human_bytes(0),
            "dataset": entry.dataset,
            "input": entry.input,
            "valid": False,
            "error": error,
        }
    )
    return row


def recorded_summary(outcome: dict[str, Any] | None, plan_digest: str | None) -> PlanSummary | None:
    """The plan's summary a job recorded with the outcome, when made from this plan."""
    if not outcome or not outcome.get("summary") or outcome.get("plan_digest") != plan_digest:
        return None
    try:
        return PlanSummary.model_validate(outcome["summary"])
    except ValidationError:
        return None  # of another version: the plan is read instead


def build_catalog(
    results: Path,
    sheet: SheetPlan,
    url_prefix: str | None,
    crashed: dict[str, dict[str, str]] | None = None,
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """One row per dataset of the sheet, failed ones included, and the failures: read from
    the sheet plan, each dataset's plan, records, outcome and crate. ``crashed`` names the
    datasets whose job died before it could record an outcome (from Snakemake's log)."""
    crashed = crashed or {}
    rows, failures = [], []
    for entry in sheet.entries:
        folder = results / entry.dataset
        failure: dict[str, str] | None = None
        outcome = recorded = read_local_record(folder / "validation.json")
        if entry.plan_digest is None:
            failure = {
                "rule": "plan",
                "log": f"logs/plans/{sheet.attempt}.log",
                "failure": str(entry.failure or ""),
                "error": entry.error or "",
            }
            rows.append(unplanned_row(entry, url_prefix, failure["error"]))
            failures.append({"dataset": entry.dataset, **failure})
            continue
        if outcome is None or outcome.get("plan_digest") != entry.plan_digest:
            failure = crashed.get(entry.dataset) or {
                "rule": "",
                "log": "",
                "failure": Failure.CONVERSION.value,
                "error": f"dataset '{entry.dataset}': not converted: its job did not finish",
            }
            outcome = {"valid": False, "error": failure["error"]}
        elif not outcome.get("valid"):
            failure = {k: outcome.get(k, "") for k in ("rule", "log", "failure", "error")}
        # The summary: as the job recorded it with the outcome, else read from the plan (a
        # plate's whole plan takes seconds to read, its row needs little).
        planned = recorded_summary(recorded, entry.plan_digest) or read_plan_summary(
            folder / "plan.json"
        )
        if planned is None:
            raise FileNotFoundError(
                f"dataset '{entry.dataset}': {folder / 'plan.json'} is "
                "missing or not a plan of this version"
            )
        records = [
            read_local_record(folder / "convert" / f"{job}.json") or {} for job in entry.jobs
        ]
        target = open_location(planned.output, planned.output_storage)
        crate = target.read_json(CRATE_FILE) if outcome.get("valid") else None
        rows.append(
            catalog_row(
                planned,
                records,
                read_local_record(folder / "metadata.json") or {},
                outcome,
                crate,
                url_prefix,
            )
        )
        if failure is not None:
            failures.append({"dataset": entry.dataset, **failure})
    return pd.DataFrame(rows, columns=COLUMNS), failures


def write_catalog(frame: pd.DataFrame, path: str | Path) -> None:
    write_local_bytes(path, frame.to_csv(index=False).encode())


def write_failed(failures: list[dict[str, str]], path: str | Path) -> None:
    """``failed.tsv`` when something failed; none when nothing did."""
    target = Path(path)
    if not failures:
        delete_local(target)
        return
    frame = pd.DataFrame(failures, columns=FAILED_COLUMNS)
    write_local_bytes(target, frame.to_csv(sep="\t", index=False).encode())


# Failures named one by one in the summary; the rest are counted (failed.tsv has all).
SUMMARY_FAILURES = 20


def summary(
    frame: pd.DataFrame,
    failures: list[dict[str, str]],
    catalog: str,
    failed_tsv: str,
    costs: RunCosts | None,
    ran: bool = True,
) -> str:
    """The lines a run ends with: what was converted, what failed and why (each reason's
    advice kept, its paths shortened), where to look, and what the run's conversion cost.
    ``ran``: False for a run that had nothing to do, which shows the catalog as it is."""
    valid = int(frame["valid"].astype(bool).sum()) if len(frame) else 0
    lines = [
        f"ngff-resave: {valid} of {len(frame)} datasets converted and valid; "
        f"{len(failures)} failed.",
        f"  catalog: {catalog}",
    ]
    if failures:
        workdir = os.getcwd()
        lines.append(f"  failures: {failed_tsv} (each with its log and whole reason)")
        for failure in failures[:SUMMARY_FAILURES]:
            reason = brief_reason(failure["error"], failure["dataset"], workdir)
            lines.append(
                f"  FAILED {failure['dataset']} ({failure['failure'] or 'failure'}, "
                f"rule {failure['rule'] or '?'}): {reason}"
            )
        if len(failures) > SUMMARY_FAILURES:
            lines.append(f"  ... and {len(failures) - SUMMARY_FAILURES} more in {failed_tsv}")
        lines.append(
            "  fix these (or take their rows out of the sheet) and run again: only what failed "
            "is redone"
        )
    if ran:
        lines += summary_lines(costs)
    else:
        lines.append("  conversion cost: none, this run had nothing to do")
    return "\n".join(lines)


def write_run_catalog(
    results: Path, url_prefix: str | None, crashed: dict[str, dict[str, str]] | None = None
) -> tuple[bool, str]:
    """``results/catalog.csv`` and ``results/failed.tsv`` for the sheet plan in ``results``;
    whether every dataset is valid, and the summary to end the run with."""
    sheet = read_sheet_plan(results / "plan.json")
    if sheet is None:
        return False, f"ngff-resave: no sheet plan in {results}: nothing was planned"
    frame, failures = build_catalog(results, sheet, url_prefix, crashed)
    catalog, failed_tsv = results / "catalog.csv", results / "failed.tsv"
    write_catalog(frame, catalog)
    write_failed(failures, failed_tsv)
    costs = run_costs(results, frame["dataset"])
    return not failures, summary(frame, failures, str(catalog), str(failed_tsv), costs)


def read_run_summary(results: Path, ran: bool = True) -> tuple[bool, str]:
    """The summary of the catalog and ``failed.tsv`` that the catalog step wrote (``ran``:
    in this run, else in an earlier one, this run having had nothing to do)."""
    catalog, failed_tsv = results / "catalog.csv", results / "failed.tsv"
    frame = pd.read_csv(catalog, dtype={"valid": bool, "dataset": str})
    failures: list[dict[str, str]] = []
    if failed_tsv.exists():
        failures = pd.read_csv(failed_tsv, sep="\t", dtype=str, keep_default_na=False).to_dict(
            orient="records"
        )
    costs = run_costs(results, frame["dataset"]) if ran else None
    return not failures, summary(frame, failures, str(catalog), str(failed_tsv), costs, ran)
