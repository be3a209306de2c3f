"""The catalog: one CSV row per dataset, the 2024 challenge's columns first, then ours."""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

import pandas as pd

from ngff_resave.codecs import v3_data_type
from ngff_resave.crate import CRATE_FILE
from ngff_resave.storage import Location

CHALLENGE_COLUMNS = [
    "url", "written", "written_human_readable", "origin", "shape", "shards", "chunks",
    "dimension_names", "license", "name", "description", "organismId", "fbbiId", "wells", "images",
]
OUR_COLUMNS = [
    "dataset", "input", "kind", "ngff_version", "dtype", "levels", "arrays", "read", "seconds",
    "mode", "valid",
]
COLUMNS = CHALLENGE_COLUMNS + OUR_COLUMNS


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
        types = item.get("@type")
        if types == "biosample":
            fields["organismId"] = item.get("organism_classification", {}).get("@id", "")
        if types == "image_acquisition":
            fields["fbbiId"] = item.get("fbbi_id", {}).get("@id", "")
    return fields


def public_url(output: str, url_prefix: str | None) -> str:
    if url_prefix:
        return url_prefix.rstrip("/") + "/" + posixpath.basename(output.rstrip("/"))
    return output


def catalog_row(plan: dict[str, Any], records: list[dict[str, Any]],
                metadata_record: dict[str, Any], validation: dict[str, Any],
                crate: dict[str, Any] | None, url_prefix: str | None) -> dict[str, Any]:
    first_image = plan["images"][0] if plan["images"] else ""
    level0 = next(a for a in plan["arrays"] if a["image"] == first_image and a["level"] == 0)
    written = sum(r["bytes_written"] for r in records) + metadata_record.get("bytes_written", 0)
    modes = sorted({a["mode"] for a in plan["arrays"]})
    is_plate = plan["kind"].endswith("plate")
    row = {
        "url": public_url(plan["output"], url_prefix),
        "written": written,
        "written_human_readable": human_bytes(written),
        "origin": plan.get("origin") or "",
        "shape": _joined(level0["shape"]),
        "shards": _joined(level0["output"]["shards"]),
        "chunks": _joined(level0["output"]["chunks"]),
        "dimension_names": _joined(level0["dimension_names"]),
        **_crate_fields(crate),
        "wells": plan["wells"] if is_plate else "",
        "images": len(plan["images"]) if is_plate else "",
        "dataset": plan["dataset"],
        "input": plan["input"],
        "kind": plan["kind"],
        "ngff_version": "0.5",
        "dtype": v3_data_type(level0["dtype"])[0],
        "levels": 1 + max(a["level"] for a in plan["arrays"]),
        "arrays": len(plan["arrays"]),
        "read": sum(r["bytes_read"] for r in records),
        "seconds": round(sum(r["seconds"] for r in records), 3),
        "mode": "+".join(modes),
        "valid": bool(validation.get("valid")),
    }
    if not row["name"]:
        row["name"] = plan.get("name") or ""
    return row


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def build_catalog(results: Path, datasets: list[str], url_prefix: str | None) -> pd.DataFrame:
    """Read each dataset's plan, records, validation report and crate from ``results/``."""
    rows = []
    for dataset in datasets:
        folder = results / dataset
        plan = _load(folder / "plan.json")
        records = [_load(folder / "convert" / f"{job['id']}.json") for job in plan["jobs"]]
        target = Location.from_text(plan["output"], plan.get("output_storage"))
        rows.append(catalog_row(plan, records, _load(folder / "metadata.json"),
                                _load(folder / "validation.json"),
                                target.read_json(CRATE_FILE), url_prefix))
    return pd.DataFrame(rows, columns=COLUMNS)


def write_catalog(frame: pd.DataFrame, path: str | Path) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(target)
