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
# What the package's log format puts before a message: time, level and logger.
LOG_LINE_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ [\w.]+: ")


def last_error_line(log_file: Path) -> str:
    """The last line that says what went wrong (an ERROR or exception line, else the last)."""
    try:
        lines = [line.strip() for line in log_file.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    for line in reversed(lines):
        if " ERROR " in line or re.match(r"^[A-Za-z_.]+(Error|Exception)\b", line):
            return LOG_LINE_PREFIX.sub("", line)
    return LOG_LINE_PREFIX.sub("", lines[-1]) if lines else ""


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


# "a, b, c and 116 more": a list of paths a reason names, the first few spelled out.
NAMED_LIST = re.compile(
    r"(?P<first>[^\s,;()]+)(?P<others>(?:, [^\s,;()]+)+) and (?P<more>\d+) more"
)
# A claim's description (records.ownership.describe_claim): the run, host, process and time.
CLAIM_DETAILS = re.compile(
    r"\(input [^;()]*; run \S+ on host (?P<host>[^,()]+), process (?P<pid>\d+), "
    r"since (?P<since>[^()]+)\)"
)
# How long one reason may be in the run's summary; results/failed.tsv has it whole.
BRIEF_LIMIT = 400


def brief_reason(reason: str, dataset: str = "", workdir: str | None = None) -> str:
    """A failure's reason for the summary a run ends with: on one line, without what the
    summary line says already (the dataset), paths in the working directory relative to it,
    a list of paths as its first and a count, a claim as its host, process and time. What to
    do, which ends a reason, is kept whole: a reason still too long loses the middle."""
    text = " ".join(reason.split())
    base = (workdir or "").rstrip("/")
    if base:
        text = text.replace(f" of working directory {base}", "")
        # Only where a path starts with it (not inside another path ending alike).
        text = re.sub(rf"(?<![\w/.~-]){re.escape(base)}/", "", text)
    if dataset:
        text = text.removeprefix(f"dataset '{dataset}': ")
    text = NAMED_LIST.sub(
        lambda m: f"{m['first']} and {int(m['more']) + m['others'].count(', ')} more", text
    )
    text = CLAIM_DETAILS.sub(
        lambda m: f"(host {m['host']}, process {m['pid']}, since {m['since']})", text
    )
    if len(text) <= BRIEF_LIMIT:
        return text
    head, _, advice = text.rpartition("; ")
    if not head or len(advice) > BRIEF_LIMIT // 2:
        return text[: BRIEF_LIMIT - 1] + "…"
    return f"{head[: BRIEF_LIMIT - len(advice) - 3]}…; {advice}"
