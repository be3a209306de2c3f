"""The conversion cost of a run, stated, as the 2024 OME-NGFF challenge set out to establish a
baseline for it: per step (plan, convert, metadata, validate, pack; catalog and report pages
where their rules are benchmarked) the jobs' wall seconds and core-seconds, the bytes they read
and wrote and their rate; the run's totals from its start to the catalog; and what that
projects for 1 TB of input on the machine that ran it.

Only this run's work counts: a record or benchmark written before the run started (the run's
``results/run.json``) belongs to a job kept from an earlier run.

Figures come from the jobs' records (``results/...``) and Snakemake's benchmark files
(``benchmarks/...``): wall seconds from a job's benchmark (the whole job), else from its record;
core-seconds from the benchmark's ``cpu_time``, else the job's seconds times its threads."""

from __future__ import annotations

import csv
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ngff_resave.records.ownership import RUN_FILE
from ngff_resave.storage import read_local_record

LOG = logging.getLogger(__name__)

GB = 1e9
TB = 1e12
BENCHMARKS = "benchmarks"
CPU_TIME = "cpu_time"
SECONDS_THREADS = "s × threads"
# Single jobs of the run that are measured only where their rules have a benchmark.
BENCHMARKED_ONLY = ("catalog", "report_pages")
# The steps that read the input: their bytes read are the run's (validation reads the output).
INPUT_STEPS = ("convert", "pack")
COLUMNS = [
    "step",
    "jobs",
    "seconds (wall, summed over jobs)",
    "core-seconds",
    "core-seconds from",
    "GB read",
    "GB written",
    "GB/s (read per second)",
]
ASSUMPTION = (
    "A linear extrapolation of this run's figures: time and core-time grow in proportion to "
    "the bytes of input read, with the same machine, cores and job layout, the same kind of "
    "data (copied or re-encoded, its compression) and the same storage. The run's fixed costs "
    "(planning, starting jobs) are scaled too, so a small run overstates the time per TB."
)
NOTES = [
    "Only the jobs of this run are counted: records and benchmarks written before it started "
    "are work kept from earlier runs.",
    "GB are 10^9 bytes. The run's GB read are the input's (convert and pack jobs); a validate "
    "job's reads of the output are in its row only.",
    "core-seconds from cpu_time: Snakemake's benchmark samples it every 0.5 s (every 30 s after "
    "the first 15 s), so the last interval of each job is missed: a lower bound. A job done "
    "before its second sample reads 0 and counts as unmeasured. From s × threads: the job's "
    "seconds times the threads its record names: what the job held, an upper bound.",
]


@dataclass(frozen=True)
class Benchmark:
    """One job's Snakemake benchmark: wall seconds, and CPU seconds where they were sampled."""

    seconds: float
    cpu_time: float | None


@dataclass(frozen=True)
class JobCost:
    step: str
    finished: float
    seconds: float | None = None
    core_seconds: float | None = None
    core_source: str = ""
    bytes_read: int | None = None
    bytes_written: int | None = None


@dataclass(frozen=True)
class StepCost:
    """The jobs of one step in this run, summed."""

    step: str
    jobs: int
    seconds: float | None
    core_seconds: float | None
    # How many jobs' core-seconds came from where ("": not measured).
    core_sources: dict[str, int]
    bytes_read: int | None
    bytes_written: int | None

    @classmethod
    def of(cls, step: str, jobs: list[JobCost]) -> StepCost:
        return cls(
            step=step,
            jobs=len(jobs),
            seconds=_total(j.seconds for j in jobs),
            core_seconds=_total(j.core_seconds for j in jobs),
            core_sources=dict(Counter(j.core_source for j in jobs)),
            bytes_read=_whole(_total(j.bytes_read for j in jobs)),
            bytes_written=_whole(_total(j.bytes_written for j in jobs)),
        )

    @property
    def gb_per_second(self) -> float | None:
        return _rate(self.bytes_read, self.seconds)

    def core_from(self) -> str:
        if set(self.core_sources) == {""}:
            return "not measured"
        if len(self.core_sources) == 1:
            return next(iter(self.core_sources))
        return ", ".join(
            f"{source or 'not measured'} ({count} {'job' if count == 1 else 'jobs'})"
            for source, count in sorted(self.core_sources.items(), key=lambda item: item[0] == "")
        )


@dataclass(frozen=True)
class Projection:
    """1 TB of input at the run's rate."""

    wall_hours: float
    core_hours: float | None


@dataclass(frozen=True)
class RunCosts:
    """The cost of one run: its steps, and its wall time from its start to the catalog."""

    host: str
    cpus: int | None
    started: float
    finished: float
    steps: list[StepCost]
    datasets: int
    datasets_with_jobs: int

    @property
    def wall_seconds(self) -> float:
        return max(0.0, self.finished - self.started)

    @property
    def jobs(self) -> int:
        return sum(s.jobs for s in self.steps)

    @property
    def bytes_read(self) -> int:
        return sum(s.bytes_read or 0 for s in self.steps if s.step in INPUT_STEPS)

    @property
    def bytes_written(self) -> int:
        return sum(s.bytes_written or 0 for s in self.steps)

    @property
    def core_seconds(self) -> float | None:
        return _total(s.core_seconds for s in self.steps)

    @property
    def gb_per_second(self) -> float | None:
        return _rate(self.bytes_read, self.wall_seconds)

    @property
    def projection(self) -> Projection | None:
        if not self.bytes_read:
            return None
        scale = TB / self.bytes_read / 3600
        core = self.core_seconds
        return Projection(self.wall_seconds * scale, None if core is None else core * scale)

    def machine(self) -> str:
        cpus = f", {self.cpus} CPUs" if self.cpus else ""
        return f"host {self.host}{cpus}"


def run_costs(results: Path, datasets: Iterable[str]) -> RunCosts | None:
    """The cost of the run recorded in ``results/run.json``, from the records and benchmarks its
    jobs wrote for ``datasets`` (the sheet's); None without a run record."""
    run = read_local_record(results / RUN_FILE)
    started = _number(run.get("started")) if run else None
    if run is None or started is None:
        LOG.info("no run record in %s: the conversion cost is not stated", results)
        return None
    benchmarks = results.parent / BENCHMARKS
    names = list(dict.fromkeys(datasets))
    packs = _jobs(
        "pack",
        results / "packs",
        benchmarks / "packs",
        "",
        started,
        lambda record: _pack_bytes(results, record, started),
    )
    packed = {
        item.get("dataset")
        for path in _fresh_files(results / "packs", "*.json", started)
        for item in (read_local_record(path) or {}).get("datasets", [])
    }
    steps: dict[str, list[JobCost]] = {
        "plan": _jobs("plan", results / "plans", benchmarks / "plans", "", started, _no_bytes),
        "convert": [],
        "metadata": [],
        "validate": [],
        "pack": packs,
    }
    with_jobs = set(packed)
    for dataset in names:
        folder, marks = results / dataset, benchmarks / dataset
        own = {
            "metadata": _jobs(
                "metadata",
                folder / "metadata",
                marks,
                "metadata-",
                started,
                lambda r: (None, _count(r.get("bytes_written"))),
            ),
            # Counted where a validate record names the bytes it read.
            "validate": _jobs(
                "validate",
                folder / "validate",
                marks,
                "validate-",
                started,
                lambda r: (_count(r.get("bytes_read")), None),
            ),
        }
        if dataset not in packed:
            own["convert"] = _jobs(
                "convert", folder / "convert", marks, "convert-", started, _convert_bytes
            )
        for step, jobs in own.items():
            steps[step] += jobs
            if jobs:
                with_jobs.add(dataset)
    for step in BENCHMARKED_ONLY:
        steps[step] = _benchmarked(step, benchmarks / f"{step}.tsv", started)
    measured = [StepCost.of(step, jobs) for step, jobs in steps.items() if jobs]
    finished = _fresh(results / "catalog.csv", started)
    if finished is None:
        # A run that failed dates its catalog back (so the next run makes it again): its end
        # is then its last job's.
        finished = max((j.finished for jobs in steps.values() for j in jobs), default=started)
    return RunCosts(
        host=str(run.get("host", "")),
        cpus=os.cpu_count() if run.get("host") == socket.gethostname() else None,
        started=started,
        finished=finished,
        steps=measured,
        datasets=len(names),
        datasets_with_jobs=len(with_jobs.intersection(names)),
    )


def read_benchmark(path: Path) -> Benchmark | None:
    """A Snakemake benchmark file (tab-separated: ``s``, ..., ``cpu_time``); None when it is
    missing or not one."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        # With repeat() every row is one more run of the job: all of them are its cost.
        seconds = sum(float(row["s"]) for row in rows)
    except FileNotFoundError:
        return None
    except (OSError, KeyError, TypeError, ValueError) as err:
        LOG.warning("%s is not a Snakemake benchmark record (%s): not counted", path, err)
        return None
    if not rows:
        return None
    cpu = [_number(row.get(CPU_TIME)) for row in rows]
    sampled = [value for value in cpu if value]
    # A job done before Snakemake's second sample reads 0 (see NOTES): not measured.
    return Benchmark(seconds, sum(sampled) if len(sampled) == len(cpu) else None)


def job_cost(
    step: str,
    finished: float,
    record: dict[str, Any] | None,
    benchmark: Benchmark | None,
    bytes_read: int | None = None,
    bytes_written: int | None = None,
) -> JobCost:
    """One job's cost from its record and its benchmark, either of which may be missing."""
    record = record or {}
    seconds = benchmark.seconds if benchmark else _number(record.get("seconds"))
    threads = _number(record.get("threads"))
    core, source = None, ""
    if benchmark and benchmark.cpu_time is not None:
        core, source = benchmark.cpu_time, CPU_TIME
    elif seconds is not None and threads:
        core, source = seconds * threads, SECONDS_THREADS
    return JobCost(step, finished, seconds, core, source, bytes_read, bytes_written)


def summary_lines(costs: RunCosts | None) -> list[str]:
    """The conversion cost in the few lines a run ends with, in units a reader takes in at a
    glance (kB to TB, s to h)."""
    if costs is None:
        return ["  conversion cost: not stated (no run record, results/run.json)"]
    rate = _rate(costs.bytes_read, costs.wall_seconds)
    lines = [
        f"  conversion cost, this run's jobs only ({costs.datasets_with_jobs} of {costs.datasets}"
        " datasets had jobs; work kept from earlier runs is not counted):",
        f"    {human_duration(costs.wall_seconds)} from the run's start to the catalog; read "
        f"{human_size(costs.bytes_read)} of input, wrote {human_size(costs.bytes_written)}"
        + (f" ({human_size(rate * GB)}/s)" if rate else "")
        + f"; core time {human_duration(costs.core_seconds)}",
    ]
    if costs.steps:
        steps = ", ".join(
            f"{s.step} {human_duration(s.seconds)} / {human_duration(s.core_seconds)}"
            + (f" at {human_size(s.gb_per_second * GB)}/s" if s.gb_per_second else "")
            + (f" ({s.jobs} jobs)" if s.jobs > 1 else "")
            for s in costs.steps
        )
        lines.append(f"    per step, wall / core time (and input read per second): {steps}")
    lines.append(f"    {projection_text(costs)}")
    return lines


# Below this much input read, a run's fixed costs (planning, starting jobs, the catalog) weigh
# more than its reading and writing, and scaling them to 1 TB says nothing about a real batch.
PROJECTION_MIN_BYTES = GB


def projection_text(costs: RunCosts) -> str:
    projection = costs.projection
    if projection is None:
        return "1 TB projection: none, this run read no input"
    if costs.bytes_read < PROJECTION_MIN_BYTES:
        return (
            f"1 TB projection left out: this run read {human_size(costs.bytes_read)} of input, "
            f"under the {human_size(PROJECTION_MIN_BYTES)} from which its rate says something "
            "(below that, fixed costs such as planning and starting jobs outweigh the "
            "reading and writing)"
        )
    core = (
        f", {_figure(projection.core_hours)} core-hours"
        if projection.core_hours is not None
        else ""
    )
    return (
        f"1 TB of input at this rate on {costs.machine()}: {_figure(projection.wall_hours)} h "
        f"wall{core} (linear extrapolation of this run)"
    )


def human_size(count: float | None) -> str:
    """Bytes in decimal units, three significant digits: ``389 kB``, ``3.9 GB``."""
    if count is None:
        return "-"
    for unit, scale in (("TB", TB), ("GB", GB), ("MB", 1e6), ("kB", 1e3)):
        if abs(count) >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count:.0f} B"


def human_duration(seconds: float | None) -> str:
    """Seconds as s, min or h: ``0.26 s``, ``48 s``, ``3.4 min``, ``11.1 h``."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2g} s"
    # Rounded up into the next unit where its own would read 60.
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    if seconds < 3570:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:,.1f} h"


def table_rows(costs: RunCosts) -> list[list[str]]:
    """The rows under :data:`COLUMNS`: one per step of the run, then the run's totals (its wall
    time from its start to the catalog, not the jobs' sum)."""
    rows = [
        [
            s.step,
            str(s.jobs),
            _figure(s.seconds),
            _figure(s.core_seconds),
            s.core_from(),
            _gb(s.bytes_read),
            _gb(s.bytes_written),
            _figure(s.gb_per_second),
        ]
        for s in costs.steps
    ]
    rows.append(
        [
            "run (start to catalog)",
            str(costs.jobs),
            _figure(costs.wall_seconds),
            _figure(costs.core_seconds),
            "the steps' sum",
            _gb(costs.bytes_read),
            _gb(costs.bytes_written),
            _figure(costs.gb_per_second),
        ]
    )
    return rows


def _jobs(
    step: str,
    records: Path,
    benchmarks: Path,
    prefix: str,
    started: float,
    amounts: Callable[[dict[str, Any]], tuple[int | None, int | None]],
) -> list[JobCost]:
    """The jobs of one rule written in this run: records ``{records}/{key}.json`` and benchmarks
    ``{benchmarks}/{prefix}{key}.tsv``; ``amounts`` gives a record's bytes read and written."""
    keys = {p.stem for p in _fresh_files(records, "*.json", started)}
    keys |= {p.stem[len(prefix) :] for p in _fresh_files(benchmarks, f"{prefix}*.tsv", started)}
    jobs = []
    for key in sorted(keys):
        record_path, benchmark_path = records / f"{key}.json", benchmarks / f"{prefix}{key}.tsv"
        times = [_fresh(record_path, started), _fresh(benchmark_path, started)]
        record = read_local_record(record_path) if times[0] is not None else None
        benchmark = read_benchmark(benchmark_path) if times[1] is not None else None
        read, written = amounts(record) if record is not None else (None, None)
        finished = max(t for t in times if t is not None)
        jobs.append(job_cost(step, finished, record, benchmark, read, written))
    return jobs


def _benchmarked(step: str, path: Path, started: float) -> list[JobCost]:
    finished = _fresh(path, started)
    benchmark = read_benchmark(path) if finished is not None else None
    return (
        [] if finished is None or benchmark is None else [job_cost(step, finished, None, benchmark)]
    )


def _convert_bytes(record: dict[str, Any]) -> tuple[int | None, int | None]:
    return _count(record.get("bytes_read")), _count(record.get("bytes_written"))


def _no_bytes(record: dict[str, Any]) -> tuple[None, None]:
    return None, None


def _pack_bytes(
    results: Path, record: dict[str, Any], started: float
) -> tuple[int | None, int | None]:
    """A pack's bytes: its datasets' convert records and metadata written in this run."""
    read, written = 0, 0
    for item in record.get("datasets", []):
        folder = results / str(item.get("dataset", ""))
        for path in _fresh_files(folder / "convert", "*.json", started):
            converted = read_local_record(path) or {}
            read += _count(converted.get("bytes_read")) or 0
            written += _count(converted.get("bytes_written")) or 0
        if _fresh(folder / "metadata.json", started) is not None:
            written += (
                _count((read_local_record(folder / "metadata.json") or {}).get("bytes_written"))
                or 0
            )
    return read, written


def _fresh(path: Path, started: float) -> float | None:
    """When ``path`` was written, if in this run."""
    try:
        written = path.stat().st_mtime
    except OSError:
        return None
    return written if written >= started else None


def _fresh_files(folder: Path, pattern: str, started: float) -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if _fresh(p, started) is not None)


def _number(value: Any) -> float | None:
    """A figure of a record or benchmark; None where it is missing (Snakemake writes ``NA``)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _count(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _total(values: Iterable[float | int | None]) -> float | None:
    """The sum of what was measured; None when nothing was."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)


def _rate(count: int | None, seconds: float | None) -> float | None:
    return count / GB / seconds if count and seconds else None


def _gb(count: int | None) -> str:
    return "" if count is None else _figure(count / GB)


def _figure(value: float | None, missing: str = "") -> str:
    """Three significant digits, thousands grouped; ``missing`` when not measured."""
    if value is None:
        return missing
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) >= 0.001 else f"{value:.2e}"
