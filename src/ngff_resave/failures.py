"""``results/failed.tsv``: which dataset failed in which rule, with its log and last error line,
read from Snakemake's own log after a failed run."""

from __future__ import annotations

import csv
import re
from pathlib import Path

ERROR_IN_RULE = re.compile(r"^Error in rule (?P<rule>\S+?):?\s*$")
LOG_FIELD = re.compile(r"^\s+log: (?P<logs>.+?)(?: \(check log file\(s\) for error details\))?$")
WILDCARDS_FIELD = re.compile(r"^\s+wildcards: (?P<wildcards>.*)$")
DATASET_IN_LOG = re.compile(r"^logs/(?P<dataset>[^/]+)/")


def last_error_line(log_file: Path) -> str:
    """The last line that says what went wrong (an ERROR or exception line, else the last)."""
    try:
        lines = [line.strip() for line in log_file.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    for line in reversed(lines):
        if " ERROR " in line or re.match(r"^[A-Za-z_.]+(Error|Exception)\b", line):
            return line
    return lines[-1] if lines else ""


def parse_failures(snakemake_log: Path) -> list[dict[str, str]]:
    """The failed jobs listed in a Snakemake log: dataset, rule and job log."""
    failures: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in snakemake_log.read_text(errors="replace").splitlines():
        match = ERROR_IN_RULE.match(line)
        if match:
            current = {"dataset": "", "rule": match["rule"], "log": ""}
            failures.append(current)
            continue
        if current is None:
            continue
        if match := LOG_FIELD.match(line):
            current["log"] = match["logs"].split(",")[0].strip()
            if found := DATASET_IN_LOG.match(current["log"]):
                current["dataset"] = current["dataset"] or found["dataset"]
        elif match := WILDCARDS_FIELD.match(line):
            found = re.search(r"\bdataset=([^,\s]+)", match["wildcards"])
            if found:
                current["dataset"] = found.group(1)
        elif line and not line.startswith(" "):
            current = None
    return failures


def write_failed_tsv(snakemake_logs: str | Path | list[str] | None, output: str | Path) -> list[
    dict[str, str]
]:
    """Snakemake hands ``onerror`` its log file (a list of them in recent versions)."""
    if isinstance(snakemake_logs, (str, Path)):
        snakemake_logs = [str(snakemake_logs)]
    rows = []
    for log_file in snakemake_logs or []:
        if Path(log_file).is_file():
            rows += parse_failures(Path(log_file))
    for row in rows:
        row["error"] = last_error_line(Path(row["log"])) if row["log"] else ""
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["dataset", "rule", "log", "error"], delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    return rows
