"""The sample sheet and the config: load, check against the JSON schemas, and turn a row into
the settings its plan needs. What makes the sheet unreadable as a sheet (its columns, duplicate
ids, values of the wrong form) is found before any job runs, each problem naming the row (sheet
line and dataset) and the column, or the option of ``ngff-resave convert``. Whether a row's input
exists and is OME-Zarr is planning's to find: such a row fails alone (``sheet.plan``)."""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import yaml

from ngff_resave.model.patterns import (
    CODEC_SPELLING,
    LICENSE_SHORTHANDS,
    NGFF_VERSIONS,
    RESERVED_DATASET_IDS,
)
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
        problems = [
            f"{'/'.join(map(str, e.absolute_path)) or 'top level'}: {_config_problem(e)}"
            for e in errors
        ]
        raise SheetError(
            f"invalid config ({len(problems)} problem{'s' if len(problems) > 1 else ''}; "
            "nothing was run):\n  " + "\n  ".join(problems)
        )
    return config


def _config_problem(error: Any) -> str:
    """What is wrong with a config value, in words: the values accepted, not the schema's
    regular expression."""
    key = str(error.absolute_path[-1]) if error.absolute_path else ""
    if error.validator == "enum":
        return f"{error.instance!r} is not accepted: give one of " + ", ".join(
            str(v) for v in error.validator_value
        )
    if error.validator == "pattern" and key in ACCEPTED:
        return f"{error.instance!r} is not accepted: give {ACCEPTED[key]}"
    return str(error.message)


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


def _separator_hint(columns: list[str], sheet_name: str) -> str:
    """Why the required columns may be missing: a header split with the other separator."""
    header = " ".join(columns)
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


@dataclass(frozen=True)
class Wording:
    """How a problem says where it is: in a sample sheet, by file, line, dataset and column;
    on the command line of ``ngff-resave convert`` (``options`` given), by the option that sets
    the column."""

    source: str
    # column -> the command-line option(s) that set it; None for a sheet.
    options: Mapping[str, str] | None = None
    # What to do about a missing license, in the terms of this source; on a command line it
    # is the whole message, in a sheet it follows the row and column.
    missing_license: str = (
        "no license: set `rocrate.license` in the config or a `license` column, or a "
        "`rocrate` column set to false to write no RO-Crate"
    )
    # What a column accepts, where a command line says it otherwise than ACCEPTED.
    accepted: Mapping[str, str] = field(default_factory=dict)

    @property
    def command_line(self) -> bool:
        return self.options is not None

    def at(self, line: int, dataset: str, column: str) -> str:
        """Where a cell is: ``samples.tsv line 3 (dataset 'a'), column 'input'``, or the
        option that sets it."""
        if self.options is not None:
            return self.options.get(column, column)
        return f"{self.source} line {line} (dataset '{dataset}'), column '{column}'"

    def setting(self, column: str, value: str) -> str:
        """A column's setting as the user writes it: ``mode reference`` or ``--reference``."""
        if self.options is not None:
            return self.options.get(column, f"{column} {value}")
        return f"{column} {value}"

    def line(self, line: int) -> str:
        """Another row: ``line 3``; the command line has only its own."""
        return "INPUT" if self.options is not None else f"line {line}"

    def report(self, problems: list[str]) -> SheetError:
        if self.options is not None:
            return SheetError("; ".join(problems))
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        return SheetError(
            f"invalid sample sheet {self.source} ({count}; nothing was run):\n  "
            + "\n  ".join(problems)
        )


SIZES_WORDS = "whole numbers above 0 separated by commas, such as 1,1,64,256,256"
TRUE_OR_FALSE = "true or false"
# What each column accepts, in words, for values of the wrong form.
ACCEPTED = {
    "dataset": "an id of letters, digits, '_', '.' and '-', starting with a letter or digit",
    "input": "a path, s3:// URL or http(s):// URL",
    "output": "a path or s3:// URL",
    "license": (
        f"one of the shorthands {' and '.join(LICENSE_SHORTHANDS)}, or the URL (http:// or "
        "https://) of any other license"
    ),
    "organism": "an NCBI taxon id such as NCBI:txid9606",
    "modality": "an FBbi term such as obo:FBbi_00000369",
    "chunks": SIZES_WORDS,
    "shards": SIZES_WORDS,
    "codec": CODEC_SPELLING,
    "rocrate": TRUE_OR_FALSE,
    "in_place": TRUE_OR_FALSE,
    "fallback": TRUE_OR_FALSE,
    "mode": "auto or reference",
    "ngff_version": " or ".join(NGFF_VERSIONS),
}
# Values a near miss is compared with, for "did you mean".
CHOICES = {
    "license": list(LICENSE_SHORTHANDS),
    "mode": ["auto", "reference"],
    "ngff_version": list(NGFF_VERSIONS),
    "rocrate": ["true", "false"],
    "in_place": ["true", "false"],
    "fallback": ["true", "false"],
}


def closest(word: str, allowed: list[str]) -> str | None:
    """The allowed name ``word`` most likely means (a typo, another case), or None."""
    by_lower = {a.lower(): a for a in allowed}
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[found[0]] if found else None


def _value_guess(column: str, value: str) -> str | None:
    """The accepted value a wrong one most likely means: the same in another case, the start of
    a license shorthand (``CC-BY`` for ``CC-BY-4.0``), or a mode's near miss; not a nearby
    version or another license, which would be another meaning."""
    choices = CHOICES.get(column, [])
    lower = value.lower()
    for choice in choices:
        if lower == choice.lower() or (
            column == "license" and len(lower) >= 3 and choice.lower().startswith(lower)
        ):
            return choice
    return closest(value, choices) if column == "mode" else None


def _schema_problem(
    error: Any, row: dict[str, str], required: list[str], accepted: Mapping[str, str]
) -> tuple[str, str]:
    """The column of a schema error and what is wrong, in words (no regular expressions):
    ``accepted``'s where it has the column, else ACCEPTED's."""
    if not error.path:
        missing = [c for c in required if c not in row]
        return ", ".join(missing), "empty: every row needs one"
    column = str(error.path[0])
    value = row.get(column, "")
    words = accepted.get(column) or ACCEPTED.get(column)
    if words:
        guess = _value_guess(column, value)
        hint = f" (did you mean `{guess}`?)" if guess else ""
        return column, f"{value!r} is not accepted{hint}: give {words}"
    return column, str(error.message)


def header_problems(columns: list[str], schema: dict[str, Any], sheet_name: str) -> list[str]:
    """Unknown and missing columns, each named, with the allowed name an unknown one most
    likely means; the separator, when the header looks split by the other one."""
    allowed = list(schema["properties"])
    unknown = [c for c in columns if c not in schema["properties"]]
    missing = [c for c in schema["required"] if c not in columns]
    hint = _separator_hint(columns, sheet_name) if missing else ""
    problems = []
    unmatched = False
    for column in unknown:
        guess = None if hint else closest(column, allowed)
        unmatched = unmatched or guess is None
        problems.append(
            f"unknown column `{column}`" + (f" (did you mean `{guess}`?)" if guess else "")
        )
    problems += [f"missing column `{column}` (required)" for column in missing]
    if not problems:
        return []
    text = f"{sheet_name}: the header: " + "; ".join(problems)
    if unmatched:
        text += f"; the columns are {', '.join(allowed)}"
    return [text + hint]


def check_sheet(
    frame: pd.DataFrame,
    config: dict[str, Any],
    sheet_name: str,
    workdir: Path,
    wording: Wording | None = None,
) -> list[dict[str, str]]:
    """Every row as a dict of its non-empty cells; raises SheetError naming row and column (or
    the option, with a command line's ``wording``)."""
    wording = wording or Wording(sheet_name)
    schema = _load_schema(SAMPLES_SCHEMA)
    validator = jsonschema.Draft202012Validator(schema)
    problems: list[str] = []
    rows: list[dict[str, str]] = []
    header = header_problems([str(c) for c in frame.columns], schema, sheet_name)
    if header:
        raise SheetError(header[0])
    if frame.empty:
        raise SheetError(
            f"{sheet_name}: the sheet has no rows: add one line per dataset below the header"
        )
    seen_ids: dict[str, int] = {}
    seen_outputs: dict[str, int] = {}
    for index, record in enumerate(frame.to_dict(orient="records")):
        line = index + 2  # the header is line 1
        row = {k: v for k, v in record.items() if v != ""}
        dataset = row.get("dataset", "")

        def at(column: str, line: int = line, dataset: str = dataset) -> str:
            return wording.at(line, dataset, column)

        if dataset in seen_ids:
            problems.append(
                f"{at('dataset')}: duplicate id, first on line {seen_ids[dataset]}: "
                "give each row its own"
            )
        seen_ids.setdefault(dataset, line)
        output = real_path(resolve_output(row, config, workdir))
        if output in seen_outputs:
            problems.append(
                f"{at('output')}: {output} is also the output of line "
                f"{seen_outputs[output]}: give each row its own output"
            )
        seen_outputs.setdefault(output, line)
        row_errors = list(validator.iter_errors(row))
        for error in row_errors:
            column, what = _schema_problem(error, row, schema["required"], wording.accepted)
            problems.append(f"{at(column)}: {what}")
        if not row_errors:
            problems += _check_row_values(row, config, at, workdir, wording)
        rows.append(row)
    problems += _check_overlaps(rows, config, wording, workdir)
    if problems:
        raise wording.report(problems)
    return rows


def _check_overlaps(
    rows: list[dict[str, str]], config: dict[str, Any], wording: Wording, workdir: Path
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
                    f"{wording.at(line, row.get('dataset', ''), 'output')}: {output} overlaps "
                    f"the input of {wording.line(others[0])} ({source}); an input is never "
                    "written to: choose an output outside it"
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
    row: dict[str, str],
    config: dict[str, Any],
    at: Callable[[str], str],
    workdir: Path,
    wording: Wording,
) -> list[str]:
    """A row's values that the schema cannot check. Whether its input exists is not among
    them: a missing input fails that row alone, at planning."""
    problems = []
    if row["dataset"] in RESERVED_DATASET_IDS:
        problems.append(
            f"{at('dataset')}: '{row['dataset']}' is a name the workflow uses in "
            f"results/ and logs/; reserved: {', '.join(sorted(RESERVED_DATASET_IDS))}"
        )
    chunks, shards = _int_list(row.get("chunks")), _int_list(row.get("shards"))
    if chunks and shards:
        if len(chunks) != len(shards):
            problems.append(
                f"{at('shards')}: {len(shards)} values but chunks has {len(chunks)}: give "
                "both one value per dimension"
            )
        elif any(s % c for s, c in zip(shards, chunks, strict=True)):
            problems.append(
                f"{at('shards')}: {shards} is not a whole multiple of chunks {chunks}: make "
                "each shard size a multiple of the chunk size"
            )
    for column in ("input_storage", "output_storage"):
        if row.get(column) and row[column] not in config.get("storage", {}):
            presets = ", ".join(config.get("storage", {})) or "none"
            problems.append(
                f"{at(column)}: no storage preset '{row[column]}' in the config's storage "
                f"(presets: {presets})"
            )
    if row.get("details"):
        path = workdir / row["details"]
        try:
            json.loads(path.read_text())
        except (OSError, ValueError) as err:
            problems.append(f"{at('details')}: cannot read {path}: {err}")
    if crate_enabled(row, config) and not (row.get("license") or config["rocrate"]["license"]):
        problems.append(
            wording.missing_license
            if wording.command_line
            else f"{at('license')}: {wording.missing_license}"
        )
    problems += _check_reference(row, at, wording)
    for column in ("input", "output"):
        value = row.get(column) or (
            resolve_output(row, config, workdir) if column == "output" else ""
        )
        if is_url(value):
            problem = url_problem(value, column)
            if problem:
                problems.append(f"{at(column)}: {problem}")
    return problems


# Cells that shape the shards a row writes: without fallback, a reference row writes none.
SHARD_COLUMNS = ("codec", "chunks", "shards", "details")


def _check_reference(row: dict[str, str], at: Callable[[str], str], wording: Wording) -> list[str]:
    """The columns of reference mode: consistent with the mode, and where links or writes in
    place are possible."""
    reference = row.get("mode") == "reference"
    in_place = row.get("in_place") == "true"
    fallback = row.get("fallback") == "true"
    mode = wording.setting("mode", "reference")
    problems = [
        f"{at(column)}: only a row with {mode} uses it"
        for column in ("in_place", "fallback")
        if row.get(column) == "true" and not reference
    ]
    if not reference:
        return problems
    if not fallback:
        problems += [
            f"{at(column)}: {mode} keeps the input's chunks and codecs; "
            f"{column} applies only to arrays converted with "
            f"{wording.setting('fallback', 'true')}"
            for column in SHARD_COLUMNS
            if row.get(column) and not (column == "codec" and row[column] == "keep")
        ]
    source = row.get("input", "")
    if in_place:
        if row.get("output"):
            problems.append(
                f"{at('output')}: in_place: true writes into the input; leave output empty"
            )
        if is_url(source) and not source.startswith("s3://"):
            problems.append(
                f"{at('in_place')}: {source} cannot be written to (only a local "
                "path or s3:// input can take metadata in place)"
            )
    elif is_url(source) or is_url(row.get("output", "")):
        problems.append(
            f"{at('mode')}: reference to a new output links the input's chunk "
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
