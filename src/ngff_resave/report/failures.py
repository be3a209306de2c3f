"""Jobs that died before they could record an outcome (killed, out of memory): which datasets,
in which rule, with the job's log and its last error line, read from Snakemake's own log after
a failed run. ``results/failed.tsv`` lists them with the recorded failures (see catalog)."""

from __future__ import annotations

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


def crashed_jobs(
    snakemake_logs: str | Path | list[str] | None, pack_members: dict[str, list[str]]
) -> dict[str, dict[str, str]]:
    """The datasets whose job died before it could record an outcome (killed, out of memory),
    from Snakemake's log: by dataset, the rule, the job's log and its last error line. A pack's
    failure counts for each of its datasets. Snakemake hands ``onerror`` its log file (a list
    of them in recent versions)."""
    if isinstance(snakemake_logs, (str, Path)):
        snakemake_logs = [str(snakemake_logs)]
    crashed: dict[str, dict[str, str]] = {}
    for log_file in snakemake_logs or []:
        if not Path(log_file).is_file():
            continue
        for failure in parse_failures(Path(log_file)):
            error = last_error_line(Path(failure["log"])) if failure["log"] else ""
            pack = re.search(r"^logs/packs/([^/]+)\.log$", failure["log"])
            datasets = pack_members.get(pack.group(1), []) if pack else [failure["dataset"]]
            for dataset in filter(None, datasets):
                crashed[dataset] = {
                    "rule": failure["rule"],
                    "log": failure["log"],
                    "failure": "conversion failure",
                    "error": error or f"job of rule {failure['rule']} failed",
                }
    return crashed
