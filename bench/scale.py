"""`make bench`, scale scenarios: many small datasets and a large plate, ngff-resave's whole
workflow against the 2024 challenge's converter as a user would script it.

Scenarios (inputs made once with ome-zarr-py, OME-Zarr 0.4 / Zarr v2, cached under
bench/cache/scale/):

* ``small-N``: N images of t,c,z,y,x = 1x1x1x256x256 uint16, 3 levels, a different picture each.
  Ours: one sheet of N rows, one Snakemake run from clean. The challenge: a sequential shell
  loop, one ``ome2024-ngff-challenge resave`` process per dataset.
* ``plate``: a 1,536-well plate, 4 fields per well of 1x1x1x64x64 uint16, 2 levels.
  Ours: a one-row sheet (full pixel validation). The challenge: one process.

Figures: whole-run wall seconds (median of --repeat); Snakemake's own peak memory (VmHWM of the
Snakemake process itself, read from /proc/self/status at its exit by a small wrapper that runs
Snakemake in-process; its job processes are not in it) and its own CPU seconds (user + sys of
that process alone, getrusage(RUSAGE_SELF) at exit); the number of jobs Snakemake ran; dry-run
seconds from scratch (results/ deleted) and with everything done.

Writes bench/scale-results.md, prints the table and puts it between docs/benchmarks.md's
``<!-- bench-scale:start -->`` and ``<!-- bench-scale:end -->`` markers when both are there.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import re
import shutil
import signal
import statistics
import string
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:  # run as `python bench/scale.py` or imported by the tests
    sys.path.insert(0, str(HERE))

from benchmark import CHALLENGE, challenge_python  # noqa: E402

from ngff_resave.cli.examples import fluorescence  # noqa: E402

LOG = logging.getLogger("bench.scale")
CACHE = HERE / "cache"
SMALL_SHAPE = (1, 1, 1, 256, 256)
SMALL_LEVELS = 3
FIELD_SHAPE = (1, 1, 1, 64, 64)
FIELD_LEVELS = 2
PLATE_WELLS = 1536
PLATE_FIELDS = 4
SPEC_VERSION = 2
LICENSE = "CC-BY-4.0"
README_START, README_END = "<!-- bench-scale:start -->", "<!-- bench-scale:end -->"
WORKFLOW_FOLDERS = ("results", "logs", "benchmarks", ".snakemake")

# Runs Snakemake in this very process, then records the process's own peak memory and CPU time
# (children excluded) in the file named by the first argument.
WRAPPER = """\
import json, resource, runpy, sys
stats = sys.argv.pop(1)
try:
    runpy.run_module("snakemake", run_name="__main__", alter_sys=True)
finally:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/self/status") as status:
        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    with open(stats, "w") as out:
        json.dump({"hwm_kib": hwm, "maxrss_kib": usage.ru_maxrss,
                   "cpu": usage.ru_utime + usage.ru_stime}, out)
"""


@dataclass
class Measured:
    """One whole command: wall seconds, and from wait4 the CPU seconds and largest RSS of the
    command's process tree (the process and every descendant it waited for)."""
    seconds: float
    tree_cpu: float
    tree_peak_bytes: int


@dataclass
class SnakemakeRun:
    seconds: float
    own_peak_bytes: int
    own_cpu: float
    tree_cpu: float
    jobs: int


@dataclass
class Row:
    """One scenario's figures; ``items`` is what the per-item seconds divide by."""
    scenario: str
    datasets: str
    items: int
    item: str
    jobs: int
    ours: float
    challenge: float
    own_peak_bytes: int
    own_cpu: float
    tree_cpu: float
    dry_scratch: float
    dry_done: float


# ---- pure parts --------------------------------------------------------------------------


def ratio(challenge: float, ours: float) -> float:
    """How many times faster ours is than the challenge (>1: ours is faster)."""
    return challenge / ours if ours > 0 else math.inf


def per_item(seconds: float, items: int) -> float:
    return seconds / items if items else math.nan


def parse_sizes(text: str) -> list[int]:
    """``"100,1000"`` -> [100, 1000]; empty -> []."""
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if any(n < 1 for n in sizes):
        raise ValueError(f"dataset counts must be positive: {text!r}")
    return sizes


def row_name(index: int) -> str:
    """Plate row names as spreadsheets count: A..Z, AA, AB, ..."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = string.ascii_uppercase[rest] + name
    return name


def plate_layout(wells: int) -> tuple[int, int]:
    """Rows and columns of a plate of ``wells`` wells, 2:3 like real plates where it can
    (1536 -> 32 x 48, 384 -> 16 x 24, 96 -> 8 x 12)."""
    limit = max(1, math.isqrt(2 * wells // 3))
    rows = max(r for r in range(1, limit + 1) if wells % r == 0)
    return rows, wells // rows


def median_run(runs: Sequence[SnakemakeRun]) -> SnakemakeRun:
    """Median seconds and CPU over repeats, the largest peak; jobs of the last run."""
    return SnakemakeRun(statistics.median(r.seconds for r in runs),
                        max(r.own_peak_bytes for r in runs),
                        statistics.median(r.own_cpu for r in runs),
                        statistics.median(r.tree_cpu for r in runs), runs[-1].jobs)


def number(value: float, digits: int = 1) -> str:
    """``value`` with ``digits`` decimals; ``n/a`` for a figure that could not be measured."""
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def times(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}x"


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| scenario | datasets | jobs | ours s | challenge s | ratio | s/dataset (ours / "
        "challenge) | Snakemake peak MB | Snakemake CPU s | dry-run s (scratch / done) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        unit = "" if r.item == "dataset" else f" per {r.item}"
        lines.append(
            f"| {r.scenario} | {r.datasets} | {r.jobs} | {r.ours:.1f} | {r.challenge:.1f} | "
            f"{times(ratio(r.challenge, r.ours))} | {per_item(r.ours, r.items):.3f} / "
            f"{per_item(r.challenge, r.items):.3f}{unit} | {r.own_peak_bytes / 2**20:.0f} | "
            f"{r.own_cpu:.1f} | {number(r.dry_scratch)} / {number(r.dry_done)} |")
    return "\n".join(lines) + "\n"


def linearity(small: Sequence[Row]) -> str:
    """Largest against smallest N of the small-datasets scenario, next to the ideal N ratio."""
    if len(small) < 2:
        return ""
    low, high = min(small, key=lambda r: r.items), max(small, key=lambda r: r.items)
    ideal = high.items / low.items
    figures = [("wall", high.ours, low.ours), ("Snakemake peak memory", high.own_peak_bytes,
                                                low.own_peak_bytes),
               ("Snakemake CPU", high.own_cpu, low.own_cpu), ("jobs", high.jobs, low.jobs),
               ("dry run from scratch", high.dry_scratch, low.dry_scratch)]
    parts = [f"{name} {times(ratio(a, b))}" for name, a, b in figures]
    return (f"Linearity, {high.items} vs {low.items} datasets (linear = {ideal:g}x): "
            + ", ".join(parts) + ".\n")


def replace_between(content: str, start: str, end: str, text: str) -> str | None:
    """``content`` with ``text`` between the markers, or None when they are not both there."""
    if start not in content or end not in content:
        return None
    head, rest = content.split(start, 1)
    return f"{head}{start}\n{text}{end}{rest.split(end, 1)[1]}"


def jobs_in_log(log: str) -> int | None:
    """Jobs Snakemake ran, from its log: the sum of its ``Execute N jobs...`` lines (written
    under --quiet too), else the total of its last ``N of M steps`` line."""
    batches = re.findall(r"^Execute (\d+) jobs?\.\.\.", log, flags=re.MULTILINE)
    if batches:
        return sum(int(n) for n in batches)
    steps = re.findall(r"(\d+) of (\d+) steps", log)
    return int(steps[-1][1]) if steps else None


# ---- inputs ------------------------------------------------------------------------------


def _spec(kind: str, **values: object) -> dict[str, object]:
    from importlib.metadata import version

    return {"kind": kind, "version": SPEC_VERSION, "ome-zarr": version("ome-zarr"), **values}


def _write_image(group, data, levels: int, name: str) -> None:
    """One OME-Zarr 0.4 multiscale image by ome-zarr-py, levels halving y and x; chunks are
    ome-zarr-py's default (each level's dask chunks: here the whole level, one chunk)."""
    from ome_zarr.format import FormatV04
    from ome_zarr.scale import Methods
    from ome_zarr.writer import write_image

    write_image(data, group, scale_factors=tuple(2**i for i in range(1, levels)), name=name,
                fmt=FormatV04(), axes="tczyx", method=Methods.NEAREST)


def generate_small(folder: Path, count: int) -> list[tuple[str, Path]]:
    """``count`` small OME-Zarr 0.4 images (cached; a larger count extends a smaller one)."""
    import zarr

    marker = folder / "inputs.json"
    spec = _spec("small", shape=SMALL_SHAPE, levels=SMALL_LEVELS)
    done = 0
    if marker.exists():
        saved = json.loads(marker.read_text())
        done = saved["count"] if saved["spec"] == json.loads(json.dumps(spec)) else 0
    if not done:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    images = [(f"img{i:05d}", folder / f"img{i:05d}.ome.zarr") for i in range(count)]
    if done < count:
        LOG.info("generating %d small images in %s", count - done, folder)
        for i in range(done, count):
            name, root = images[i]
            data = fluorescence(SMALL_SHAPE, "<u2", seed=i)
            _write_image(zarr.open_group(str(root), mode="w", zarr_format=2), data,
                         SMALL_LEVELS, name)
        marker.write_text(json.dumps({"spec": spec, "count": count}))
    return images


def generate_plate(folder: Path, wells: int, fields: int) -> Path:
    """An OME-Zarr 0.4 plate of ``wells`` wells with ``fields`` fields each (cached)."""
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_plate_metadata, write_well_metadata

    root = folder / f"plate-{wells}x{fields}.ome.zarr"
    marker = folder / f"plate-{wells}x{fields}.json"
    spec = json.dumps(_spec("plate", wells=wells, fields=fields, shape=FIELD_SHAPE,
                            levels=FIELD_LEVELS))
    if marker.exists() and marker.read_text() == spec:
        return root
    shutil.rmtree(root, ignore_errors=True)
    rows, columns = plate_layout(wells)
    LOG.info("generating %s: %d x %d wells, %d fields each", root, rows, columns, fields)
    row_names = [row_name(r) for r in range(rows)]
    column_names = [str(c + 1) for c in range(columns)]
    plate = zarr.open_group(str(root), mode="w", zarr_format=2)
    well_paths = [f"{r}/{c}" for r in row_names for c in column_names]
    write_plate_metadata(plate, row_names, column_names, well_paths, fmt=FormatV04(),
                         field_count=fields, name="scale-plate")
    for w, path in enumerate(well_paths):
        well = plate.require_group(path)
        write_well_metadata(well, [str(f) for f in range(fields)], fmt=FormatV04())
        for f in range(fields):
            data = fluorescence(FIELD_SHAPE, "<u2", seed=fields * w + f)
            _write_image(well.require_group(str(f)), data, FIELD_LEVELS, f"{path}/{f}")
    marker.write_text(spec)
    return root


def warm(paths: Sequence[Path]) -> None:
    """Read every input file once so that ours and the challenge both start warm."""
    for path in paths:
        for file in path.rglob("*"):
            if file.is_file():
                file.read_bytes()


# ---- measuring ---------------------------------------------------------------------------


def measured(command: Sequence[str], cwd: Path | None = None, timeout: float | None = None,
             name: str = "") -> Measured:
    """Run ``command`` as its own process group; kill the group after ``timeout`` seconds."""
    start = time.perf_counter()
    process = subprocess.Popen(list(command), cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:  # ended just now
            pass

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if timer:
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    name = name or " ".join(command)
    if expired.is_set():
        raise TimeoutError(f"{name} killed after {timeout:.0f} s")
    if process.returncode != 0:
        raise RuntimeError(f"{name} failed ({process.returncode}):\n"
                           f"{stderr[-3000:]}")
    return Measured(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def write_workdir(workdir: Path, datasets: Sequence[tuple[str, Path]]) -> None:
    """A working directory with a sheet of (dataset, input) rows and a config naming it."""
    workdir.mkdir(parents=True, exist_ok=True)
    sheet = "".join(f"{name}\t{path.resolve()}\n" for name, path in datasets)
    (workdir / "samples.tsv").write_text(f"dataset\tinput\n{sheet}")
    (workdir / "config.yaml").write_text(
        f"samples: samples.tsv\nrocrate:\n  license: {LICENSE}\n")


def clean(workdir: Path, folders: Sequence[str] = WORKFLOW_FOLDERS) -> None:
    for folder in folders:
        fresh(workdir / folder)


def snakemake_command(workdir: Path, stats: Path, cores: int, *args: str) -> list[str]:
    return [sys.executable, "-c", WRAPPER, str(stats), "-s", str(REPO / "Snakefile"),
            "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
            "--cores", str(cores), *args, "--quiet"]


def count_jobs(workdir: Path) -> int:
    """Jobs of the last run as Snakemake's log counts them (``rule all`` included), else the
    benchmark records (one per job of a rule that has ``benchmark:``)."""
    log = newest_log(workdir)
    found = jobs_in_log(log.read_text(errors="replace")) if log else None
    return found if found is not None else len(list((workdir / "benchmarks").rglob("*.tsv")))


def newest_log(workdir: Path) -> Path | None:
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"),
                  key=lambda p: p.stat().st_mtime)
    return logs[-1] if logs else None


def run_snakemake(workdir: Path, cores: int, timeout: float, *args: str) -> SnakemakeRun:
    stats = workdir.parent / f"{workdir.name}-snakemake-stats.json"
    stats.unlink(missing_ok=True)
    started = time.time()
    try:
        run = measured(snakemake_command(workdir, stats, cores, *args), timeout=timeout,
                       name=f"snakemake {' '.join(args)} in {workdir}")
    except RuntimeError as err:
        raise RuntimeError(f"{err}\n{why_failed(workdir, cores, started, *args)}") from None
    own = json.loads(stats.read_text())
    return SnakemakeRun(run.seconds, own["hwm_kib"] * 1024, own["cpu"], run.tree_cpu,
                        count_jobs(workdir))


def why_failed(workdir: Path, cores: int, started: float, *args: str) -> str:
    """The end of the failed run's Snakemake log; a dry run (-n) under --quiet writes none and
    says nothing, so it is run once more, untimed, without --quiet, for its message."""
    log = newest_log(workdir)
    if log is not None and log.stat().st_mtime >= started:
        return f"{log}:\n{log.read_text(errors='replace')[-3000:]}"
    command = snakemake_command(workdir, workdir.parent / "diagnosis-stats.json", cores, *args)
    again = subprocess.run(command[:-1], capture_output=True, text=True, timeout=600)
    return (f"again without --quiet (exit {again.returncode}):\n"
            f"{(again.stdout + again.stderr)[-3000:]}")


def seconds_or_nan(run: Callable[[], SnakemakeRun]) -> float:
    """Wall seconds of a secondary figure (dry run, planning); nan, logged, when it fails, so
    that one broken figure does not lose the others."""
    try:
        return run().seconds
    except (RuntimeError, TimeoutError) as err:
        LOG.error("%s", err)
        return math.nan


def dry_runs(workdir: Path, cores: int, timeout: float) -> tuple[float, float]:
    """``snakemake -n`` with everything done, then with results/ deleted (from scratch)."""
    done = seconds_or_nan(lambda: run_snakemake(workdir, cores, timeout, "-n"))
    fresh(workdir / "results")
    scratch = seconds_or_nan(lambda: run_snakemake(workdir, cores, timeout, "-n"))
    return scratch, done


def challenge_loop(python: Path, datasets: Sequence[tuple[str, Path]], out: Path,
                   timeout: float) -> Measured:
    """The challenge's converter over every dataset, one process each, in a shell loop."""
    fresh(out).mkdir(parents=True)
    listing = out / "datasets.tsv"
    listing.write_text("".join(f"{name}\t{path.resolve()}\n" for name, path in datasets))
    tool = python.parent / "ome2024-ngff-challenge"
    script = ('set -euo pipefail\nwhile IFS=$\'\\t\' read -r name input; do\n'
              f'  "{tool}" resave --silent --cc-by "$input" "{out}/$name.ome.zarr"\n'
              f'done < "{listing}"\n')
    return measured(["bash", "-c", script], timeout=timeout)


# ---- scenarios ---------------------------------------------------------------------------


def ours(workdir: Path, repeat: int, cores: int, timeout: float) -> SnakemakeRun:
    def once() -> SnakemakeRun:
        clean(workdir)
        return run_snakemake(workdir, cores, timeout)

    return median_run([once() for _ in range(repeat)])


def challenge(repeat: int, run: Callable[[], Measured]) -> float:
    return statistics.median(run().seconds for _ in range(repeat))


def small_scenario(count: int, python: Path, work: Path, repeat: int, cores: int,
                   timeout: float) -> Row:
    datasets = generate_small(CACHE / "scale" / "small", count)[:count]
    warm([path for _, path in datasets])
    workdir = work / f"small-{count}"
    write_workdir(workdir, datasets)
    LOG.info("small-%d: ngff-resave workflow", count)
    run = ours(workdir, repeat, cores, timeout)
    scratch, done = dry_runs(workdir, cores, timeout)
    LOG.info("small-%d: challenge loop", count)
    theirs = challenge(repeat, lambda: challenge_loop(python, datasets, work / "challenge",
                                                      timeout))
    return Row(f"small-{count}", str(count), count, "dataset", run.jobs, run.seconds, theirs,
               run.own_peak_bytes, run.own_cpu, run.tree_cpu, scratch, done)


def plate_scenario(wells: int, fields: int, python: Path, work: Path, repeat: int, cores: int,
                   timeout: float) -> tuple[Row, float, float]:
    """The plate's row, our planning wall time (``--until plan``) and the plan job's seconds."""
    plate = generate_plate(CACHE / "scale", wells, fields)
    warm([plate])
    workdir = work / "plate"
    write_workdir(workdir, [("plate", plate)])
    LOG.info("plate: planning alone")
    plans = []
    for _ in range(repeat):
        clean(workdir)
        plans.append(seconds_or_nan(lambda: run_snakemake(workdir, cores, timeout,
                                                          "--until", "plan")))
    plan_job = plan_job_seconds(workdir / "benchmarks")
    LOG.info("plate: ngff-resave workflow")
    run = ours(workdir, repeat, cores, timeout)
    scratch, done = dry_runs(workdir, cores, timeout)
    LOG.info("plate: challenge")
    out = work / "challenge"
    theirs = challenge(repeat, lambda: measured(
        [str(python.parent / "ome2024-ngff-challenge"), "resave", "--silent", "--cc-by",
         str(plate), str(fresh(out))], timeout=timeout))
    images = wells * fields
    row = Row("plate", f"1 plate, {wells} wells x {fields} fields", images, "field", run.jobs,
              run.seconds, theirs, run.own_peak_bytes, run.own_cpu, run.tree_cpu, scratch, done)
    return row, statistics.median(plans), plan_job


def plan_job_seconds(benchmarks: Path) -> float:
    """Seconds of the plan job(s): the sum of the ``s`` column of every Snakemake benchmark
    record under ``benchmarks``, read right after ``--until plan`` (so every record there is a
    plan job's, wherever the rule puts it); nan when there is none."""
    records = sorted(benchmarks.rglob("*.tsv"))
    if not records:
        return math.nan
    total = 0.0
    for record in records:
        header, values = record.read_text().splitlines()[:2]
        total += float(dict(zip(header.split("\t"), values.split("\t"), strict=False))["s"])
    return total


# ---- report ------------------------------------------------------------------------------


def report(rows: Sequence[Row], planning: tuple[float, float] | None, repeat: int,
           cores: int) -> str:
    from importlib.metadata import version

    lines = [
        f"{os.cpu_count()} cores; median of {repeat} run(s); ngff-resave: one Snakemake run "
        f"from clean, --cores {cores}, full validation, RO-Crate; challenge: {CHALLENGE}, "
        "one process per dataset in a sequential shell loop, its default threads. Inputs by "
        f"ome-zarr {version('ome-zarr')} (OME-Zarr 0.4, Zarr v2): small datasets "
        f"{'x'.join(map(str, SMALL_SHAPE))} uint16, {SMALL_LEVELS} levels; plate fields "
        f"{'x'.join(map(str, FIELD_SHAPE))} uint16, {FIELD_LEVELS} levels.",
        "",
        table(rows),
        "ratio = challenge s / ours s (target >= 2x). Snakemake peak MB and CPU s are the "
        "Snakemake process alone (VmHWM and getrusage(RUSAGE_SELF) at its exit), not its jobs; "
        "jobs = Snakemake's own step count. Dry run: `snakemake -n` after results/ is deleted / "
        "with everything done.",
        "",
    ]
    for r in rows:
        lines.append(f"- {r.scenario}: CPU of the whole run, jobs included, "
                     f"{r.tree_cpu:.1f} s.")
    line = linearity([r for r in rows if r.scenario.startswith("small-")])
    if line:
        lines += ["", line.rstrip()]
    if planning:
        wall, job = planning
        lines += ["", f"Plate planning: `snakemake --until plan` from clean {number(wall)} s "
                      f"wall (target < 5 s); the plan job itself {number(job)} s."]
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, text: str, start: str = README_START, end: str = README_END
                  ) -> None:
    if not readme.exists():
        return
    content = replace_between(readme.read_text(), start, end, text)
    if content is not None:
        readme.write_text(content)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", default="100,1000",
                        help="dataset counts of the small-datasets scenario, comma-separated "
                             "(empty: skip it)")
    parser.add_argument("--plate-wells", type=int, default=PLATE_WELLS,
                        help="wells of the plate (0: skip the plate)")
    parser.add_argument("--plate-fields", type=int, default=PLATE_FIELDS)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cores", type=int, default=2, help="Snakemake --cores")
    parser.add_argument("--timeout", type=float, default=6 * 3600,
                        help="seconds before one measured command is killed")
    parser.add_argument("--work", type=Path, default=CACHE / "scale-work")
    parser.add_argument("--output", type=Path, default=HERE / "scale-results.md")
    parser.add_argument("--readme", type=Path, default=REPO / "docs" / "benchmarks.md",
                        help="page to update between its markers")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if importlib.util.find_spec("ome_zarr") is None:
        parser.error("ome-zarr is not installed: pip install -e '.[bench]'")
    args.work.mkdir(parents=True, exist_ok=True)
    python = challenge_python(CACHE)
    rows = [small_scenario(n, python, args.work, args.repeat, args.cores, args.timeout)
            for n in parse_sizes(args.small)]
    planning = None
    if args.plate_wells:
        row, wall, job = plate_scenario(args.plate_wells, args.plate_fields, python, args.work,
                                        args.repeat, args.cores, args.timeout)
        rows.append(row)
        planning = (wall, job)
    text = report(rows, planning, args.repeat, args.cores)
    print(text)
    dated = f"Run of {time.strftime('%Y-%m-%d')}. {text}"
    args.output.write_text(f"# Scale benchmark\n\n{dated}")
    update_readme(args.readme, dated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
