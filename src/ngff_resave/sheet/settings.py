"""The sample sheet and the config: load, check against the JSON schemas, and turn a row into
the settings its plan needs. All problems are found before any job runs, each naming the row
(sheet line and dataset) and the column."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import yaml

from ngff_resave.model.patterns import RESERVED_DATASET_IDS
from ngff_resave.planning.dataset import PlanSettings
from ngff_resave.records.ownership import real_path
from ngff_resave.storage import LAYER_OPTIONS, is_url

SCHEMAS = Path(__file__).resolve().parents[3] / "workflow" / "schemas"
SAMPLES_SCHEMA = SCHEMAS / "samples.schema.yaml"
CONFIG_SCHEMA = SCHEMAS / "config.schema.yaml"


class SheetError(ValueError):
    """The sheet or config cannot be used; the message lists every problem found."""


def _load_schema(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def fill_config_defaults(
    config: dict[str, Any], schema_path: Path = CONFIG_SCHEMA
) -> dict[str, Any]:
    """Validate the config and fill in the schema's defaults (what Snakemake's validate does)."""
    validator_class = jsonschema.validators.extend(
        jsonschema.Draft202012Validator,
        {"properties": _properties_with_defaults},
    )
    config = json.loads(json.dumps(config))
    errors = sorted(validator_class(_load_schema(schema_path)).iter_errors(config), key=str)
    if errors:
        raise SheetError(
            "config: "
            + "; ".join(
                f"{'/'.join(map(str, e.absolute_path)) or 'top level'}: {e.message}" for e in errors
            )
        )
    return config


def _properties_with_defaults(validator: Any, properties: Any, instance: Any, schema: Any) -> Any:
    if isinstance(instance, dict):
        for name, sub in properties.items():
            if "default" in sub:
                instance.setdefault(name, json.loads(json.dumps(sub["default"])))
    yield from jsonschema.Draft202012Validator.VALIDATORS["properties"](
        validator, properties, instance, schema
    )


def read_sheet(path: str | Path) -> pd.DataFrame:
    """Read a .tsv or .csv sheet as text; empty cells become absent values."""
    path = Path(path)
    if not path.exists():
        raise SheetError(f"sample sheet {path} does not exist")
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    if path.suffix.lower() not in (".tsv", ".csv"):
        raise SheetError(f"sample sheet {path}: use a .tsv or .csv file")
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise SheetError(
            f"sample sheet {path} is empty: it needs a header line (at least "
            "the columns dataset and input) and one row per dataset"
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(lambda col: col.str.strip())


def _separator_hint(frame: pd.DataFrame, sheet_name: str) -> str:
    """Why the required columns may be missing: a header split with the other separator."""
    header = " ".join(map(str, frame.columns))
    read_as, other = ("tab", "comma") if sheet_name.lower().endswith(".tsv") else ("comma", "tab")
    mark = "," if other == "comma" else "\t"
    if mark in header:
        return (
            f"; the separator looks wrong: the file is read as {read_as}-separated (by its "
            f"extension) but its header is {other}-separated ({header[:80]!r}); rename it "
            f"to {'.csv' if other == 'comma' else '.tsv'} or use {read_as}s"
        )
    return ""


def _int_list(text: str | None) -> list[int] | None:
    return [int(v) for v in text.split(",")] if text else None


def check_sheet(
    frame: pd.DataFrame, config: dict[str, Any], sheet_name: str, workdir: Path
) -> list[dict[str, str]]:
    """Every row as a dict of its non-empty cells; raises SheetError naming row and column."""
    schema = _load_schema(SAMPLES_SCHEMA)
    validator = jsonschema.Draft202012Validator(schema)
    problems: list[str] = []
    rows: list[dict[str, str]] = []
    missing = [c for c in schema["required"] if c not in frame.columns]
    if missing:
        raise SheetError(
            f"{sheet_name}: missing column(s) {', '.join(missing)}"
            + _separator_hint(frame, sheet_name)
        )
    unknown = [c for c in frame.columns if c not in schema["properties"]]
    if unknown:
        raise SheetError(
            f"{sheet_name}: unknown column(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(schema['properties'])}"
        )
    if frame.empty:
        raise SheetError(f"{sheet_name}: the sheet has no rows")
    seen_ids: dict[str, int] = {}
    seen_outputs: dict[str, int] = {}
    for index, record in enumerate(frame.to_dict(orient="records")):
        line = index + 2  # the header is line 1
        row = {k: v for k, v in record.items() if v != ""}
        where = f"{sheet_name} line {line} (dataset '{row.get('dataset', '')}')"
        dataset = row.get("dataset", "")
        if dataset in seen_ids:
            problems.append(
                f"{where}, column 'dataset': duplicate id, first on line {seen_ids[dataset]}"
            )
        seen_ids.setdefault(dataset, line)
        output = real_path(resolve_output(row, config, workdir))
        if output in seen_outputs:
            problems.append(
                f"{where}, column 'output': {output} is also the output of line "
                f"{seen_outputs[output]}"
            )
        seen_outputs.setdefault(output, line)
        row_errors = list(validator.iter_errors(row))
        for error in row_errors:
            column = (
                error.path[0]
                if error.path
                else ", ".join(c for c in schema["required"] if c not in row)
            )
            problems.append(f"{where}, column '{column}': {error.message}")
        if not row_errors:
            problems += _check_row_values(row, config, where, workdir)
        rows.append(row)
    problems += _check_overlaps(rows, config, sheet_name, workdir)
    if problems:
        raise SheetError("invalid sample sheet:\n  " + "\n  ".join(problems))
    return rows


def _check_overlaps(
    rows: list[dict[str, str]], config: dict[str, Any], sheet_name: str, workdir: Path
) -> list[str]:
    """No output may lie in or around any row's input: inputs are never written to. Paths are
    compared with their links resolved. Linear in the rows: each path's ancestors are looked up
    in the set of the other side's paths."""
    problems = []
    inputs: dict[str, list[int]] = {}
    for line, row in enumerate(rows, start=2):
        if row.get("input"):
            inputs.setdefault(real_path(_absolute(row["input"], workdir)), []).append(line)
    outputs: dict[str, list[int]] = {}
    for line, row in enumerate(rows, start=2):
        outputs.setdefault(real_path(resolve_output(row, config, workdir)), []).append(line)

    def report(output: str, source: str) -> None:
        for line in outputs[output]:
            row = rows[line - 2]
            # A row writing in place has its own input as output, with consent; no other.
            others = [n for n in inputs[source] if n != line or row.get("in_place") != "true"]
            if others:
                problems.append(
                    f"{sheet_name} line {line} (dataset '{row.get('dataset', '')}'), column "
                    f"'output': {output} overlaps the input of line {others[0]} ({source})"
                )

    for output in outputs:
        for ancestor in _self_and_ancestors(output):
            if ancestor in inputs:
                report(output, ancestor)
    for source in inputs:
        for ancestor in _self_and_ancestors(source)[1:]:
            if ancestor in outputs:
                report(ancestor, source)
    return problems


def _self_and_ancestors(path: str) -> list[str]:
    found = [path]
    while "/" in path.rstrip("/"):
        path = path.rstrip("/").rsplit("/", 1)[0]
        if not path or path.endswith(":/") or path.endswith(":"):
            break
        found.append(path)
    return found


def _check_row_values(
    row: dict[str, str], config: dict[str, Any], where: str, workdir: Path
) -> list[str]:
    problems = []
    if row["dataset"] in RESERVED_DATASET_IDS:
        problems.append(
            f"{where}, column 'dataset': '{row['dataset']}' is a name the workflow uses in "
            f"results/ and logs/; reserved: {', '.join(sorted(RESERVED_DATASET_IDS))}"
        )
    chunks, shards = _int_list(row.get("chunks")), _int_list(row.get("shards"))
    if chunks and shards:
        if len(chunks) != len(shards):
            problems.append(
                f"{where}, column 'shards': {len(shards)} values but chunks has {len(chunks)}"
            )
        elif any(s % c for s, c in zip(shards, chunks, strict=True)):
            problems.append(
                f"{where}, column 'shards': {shards} is not a whole multiple of chunks {chunks}"
            )
    for column in ("input_storage", "output_storage"):
        if row.get(column) and row[column] not in config.get("storage", {}):
            problems.append(
                f"{where}, column '{column}': no storage preset '{row[column]}' in config storage"
            )
    if row.get("details"):
        path = workdir / row["details"]
        try:
            json.loads(path.read_text())
        except (OSError, ValueError) as err:
            problems.append(f"{where}, column 'details': cannot read {path}: {err}")
    if crate_enabled(row, config) and not (row.get("license") or config["rocrate"]["license"]):
        problems.append(
            f"{where}, column 'license': no license (and no rocrate.license in "
            "config); set one, or turn the crate off with rocrate=false"
        )
    if not is_url(row.get("input", "")) and row.get("input"):
        if not (workdir / row["input"]).exists():
            problems.append(f"{where}, column 'input': {workdir / row['input']} does not exist")
    problems += _check_reference(row, where)
    for column in ("input", "output"):
        value = row.get(column) or (
            resolve_output(row, config, workdir) if column == "output" else ""
        )
        if is_url(value):
            problem = url_problem(value, column)
            if problem:
                problems.append(f"{where}, column '{column}': {problem}")
    return problems


# Cells that shape the shards a row writes: without fallback, a reference row writes none.
SHARD_COLUMNS = ("codec", "chunks", "shards", "details")


def _check_reference(row: dict[str, str], where: str) -> list[str]:
    """The columns of reference mode: consistent with the mode, and where links or writes in
    place are possible."""
    reference = row.get("mode") == "reference"
    in_place = row.get("in_place") == "true"
    fallback = row.get("fallback") == "true"
    problems = [
        f"{where}, column '{column}': only a row with mode reference uses it"
        for column in ("in_place", "fallback")
        if row.get(column) == "true" and not reference
    ]
    if not reference:
        return problems
    if not fallback:
        problems += [
            f"{where}, column '{column}': mode reference keeps the input's chunks and codecs; "
            f"{column} applies only to arrays converted with fallback: true"
            for column in SHARD_COLUMNS
            if row.get(column) and not (column == "codec" and row[column] == "keep")
        ]
    source = row.get("input", "")
    if in_place:
        if row.get("output"):
            problems.append(
                f"{where}, column 'output': in_place: true writes into the input; leave "
                "output empty"
            )
        if is_url(source) and not source.startswith("s3://"):
            problems.append(
                f"{where}, column 'in_place': {source} cannot be written to (only a local "
                "path or s3:// input can take metadata in place)"
            )
    elif is_url(source) or is_url(row.get("output", "")):
        problems.append(
            f"{where}, column 'mode': reference to a new output links the input's chunk "
            "files, which needs a local input and a local output; for an s3:// input use "
            "in_place: true, else mode auto"
        )
    return problems


# Where a URL may point: inputs are read from S3 or HTTP(S); outputs are written to S3 only.
URL_SCHEMES = {"input": ("s3", "http", "https"), "output": ("s3",)}


def url_problem(url: str, column: str) -> str | None:
    """Why this URL cannot be the row's input or output, or None. The URL itself is not
    repeated when it carries credentials, which must never reach a log or a plan."""
    scheme, _, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        return (
            f"a {scheme}:// URL with credentials in it; give credentials through the AWS "
            "environment variables or a profile (storage preset 'profile'), never in the sheet"
        )
    if scheme not in URL_SCHEMES[column]:
        allowed = ", ".join(f"{s}://" for s in URL_SCHEMES[column])
        return f"{url}: {scheme}:// cannot be an {column} (an {column} may be a path or {allowed})"
    return missing_filesystem(url)


def missing_filesystem(url: str) -> str | None:
    """Why fsspec cannot open this URL here (unknown scheme or its package not installed)."""
    import fsspec

    protocol = url.split("://", 1)[0]
    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as err:
        return f"cannot open {protocol}:// URLs here: {err}"
    return None


def crate_enabled(row: dict[str, str], config: dict[str, Any]) -> bool:
    if "rocrate" in row:
        return row["rocrate"] == "true"
    return bool(config["rocrate"]["enabled"])


def resolve_output(row: dict[str, str], config: dict[str, Any], workdir: Path) -> str:
    if row.get("in_place") == "true" and row.get("mode") == "reference" and row.get("input"):
        return _absolute(row["input"], workdir)
    output = row.get("output") or f"{config['output_root']}/{row.get('dataset', '')}.ome.zarr"
    return _absolute(output, workdir)


def _absolute(path: str, workdir: Path) -> str:
    return path.rstrip("/") if is_url(path) else os.path.normpath(workdir / path)


def storage_options(config: dict[str, Any], preset: str | None) -> dict[str, Any]:
    """The storage options of a preset of the config (empty for none): fsspec's (endpoint,
    region, anonymous access, profile) and the storage layer's own (concurrency, retries).
    Credentials are never among them: they come from the environment or the profile."""
    if not preset:
        return {}
    entry = config["storage"][preset]
    options: dict[str, Any] = {}
    if "endpoint" in entry:
        options["endpoint_url"] = entry["endpoint"]
    if "region" in entry:
        options.setdefault("client_kwargs", {})["region_name"] = entry["region"]
    if "anon" in entry:
        options["anon"] = entry["anon"]
    if "profile" in entry:
        options["profile"] = entry["profile"]
    for key in LAYER_OPTIONS:
        if key in entry:
            options[key] = entry[key]
    return options


def plan_settings(row: dict[str, str], config: dict[str, Any], workdir: Path) -> PlanSettings:
    """What the plan job of a row needs, with sheet values winning over config defaults."""
    crate = None
    if crate_enabled(row, config):
        crate = {
            "license": row.get("license") or config["rocrate"]["license"],
            "organism": row.get("organism") or config["rocrate"]["organism"],
            "modality": row.get("modality") or config["rocrate"]["modality"],
            "name": row.get("name"),
            "description": row.get("description"),
        }
    details = None
    if row.get("details"):
        details = json.loads((workdir / row["details"]).read_text())
    in_place = row.get("mode") == "reference" and row.get("in_place") == "true"
    return PlanSettings(
        dataset=row["dataset"],
        input=_absolute(row["input"], workdir),
        output=resolve_output(row, config, workdir),
        codec=row.get("codec") or config["codec"],
        chunks=_int_list(row.get("chunks")),
        shards=_int_list(row.get("shards")),
        details=details,
        shard_target_bytes=config["shards"]["target_bytes"],
        part_target_bytes=config["parts"]["target_bytes"],
        input_storage=storage_options(config, row.get("input_storage")),
        output_storage=storage_options(
            config, row.get("input_storage" if in_place else "output_storage")
        ),
        crate=crate,
        notes=row.get("notes"),
        origin=row.get("origin"),
        mend=bool(config.get("mend", True)),
        skip_unsupported=bool(config.get("skip_unsupported", False)),
        mode=row.get("mode", "auto"),
        in_place=in_place,
        fallback=row.get("fallback") == "true",
        ngff_version=row.get("ngff_version") or config["ngff_version"],
    )


def settings_json(settings: PlanSettings, overwrite: bool) -> str:
    return json.dumps({**asdict(settings), "overwrite": overwrite}, sort_keys=True)


def load_samples(config: dict[str, Any], workdir: Path | None = None) -> dict[str, dict[str, str]]:
    """The checked sheet of a config, by dataset id."""
    workdir = workdir or Path.cwd()
    sheet = workdir / config["samples"]
    rows = check_sheet(read_sheet(sheet), config, str(config["samples"]), workdir)
    return {row["dataset"]: row for row in rows}
