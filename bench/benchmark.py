"""`make bench`: ngff-resave against a plain byte copy and the 2024 challenge's converter.

One run, same machine, same input, measured as whole processes (wall seconds and the peak
resident memory of the process, from wait4). Every figure is the median of --repeat runs; the
ratios are taken in the same run, so a slow or busy machine shifts all of them alike.

Writes bench/results.md and bench/results.png, prints the table and puts it between the
``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
import venv
from dataclasses import dataclass
from pathlib import Path

import numcodecs
import numpy as np
import zarr

from ngff_resave.cli.examples import AXES, fluorescence
from ngff_resave.planning.dataset import PlanSettings
from ngff_resave.records.ownership import Run
from ngff_resave.sheet.plan import plan_row

LOG = logging.getLogger("bench")
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# The page the bench scripts put their tables on (bench/versions.py: docs/versions.md).
DOCS = REPO / "docs" / "benchmarks.md"
CHALLENGE = "ome2024-ngff-challenge==1.0.3"
# t, c, z, y, x: 805 MB of uint16 at level 0, about 1.07 GB over 4 levels.
SHAPE = (1, 2, 12, 4096, 4096)
CHUNKS = (1, 1, 1, 1024, 1024)
LEVELS = 4


@dataclass
class Figure:
    name: str
    seconds: float
    peak_bytes: int
    note: str = ""
    written: int | None = None


def new_bytes(output: Path, source: Path) -> int:
    """Bytes a run added to the disk under ``output``: its files but those that are the input's
    own (hard links share the input's inode; a symbolic link is counted as its own size)."""
    inputs = {(p.stat().st_dev, p.stat().st_ino) for p in source.rglob("*") if p.is_file()}
    total = 0
    for path in output.rglob("*"):
        info = path.lstat()
        if path.is_symlink() or path.is_file():
            total += 0 if (info.st_dev, info.st_ino) in inputs else info.st_size
    return total


def generate(folder: Path) -> Path:
    """The synthetic OME-Zarr 0.4 input (cached: made once, reused by later runs)."""
    root = folder / "input.ome.zarr"
    marker = folder / "input.done"
    spec = json.dumps({"shape": SHAPE, "chunks": CHUNKS, "levels": LEVELS, "version": 1})
    if marker.exists() and marker.read_text() == spec:
        return root
    shutil.rmtree(root, ignore_errors=True)
    LOG.info("generating %s (%s uint16, %d levels)", root, SHAPE, LEVELS)
    store = zarr.storage.LocalStore(root)
    arrays = []
    for level in range(LEVELS):
        shape = (*SHAPE[:3], SHAPE[3] >> level, SHAPE[4] >> level)
        arrays.append(zarr.create_array(
            store, name=str(level), shape=shape, chunks=tuple(min(c, s) for c, s in
                                                              zip(CHUNKS, shape, strict=True)),
            dtype="<u2", compressors=numcodecs.Blosc("lz4", 5, numcodecs.Blosc.SHUFFLE),
            zarr_format=2, fill_value=0, chunk_key_encoding={"name": "v2", "separator": "/"}))
    for c in range(SHAPE[1]):
        for z in range(SHAPE[2]):
            plane = fluorescence((SHAPE[3], SHAPE[4]), "<u2", seed=1000 * c + z)
            for level, array in enumerate(arrays):
                array[0, c, z] = plane[:: 2**level, :: 2**level]
    datasets = [{"path": str(level), "coordinateTransformations": [
        {"type": "scale", "scale": [1.0, 1.0, 1.0, 2.0**level, 2.0**level]}]}
        for level in range(LEVELS)]
    (root / ".zattrs").write_text(json.dumps({"multiscales": [
        {"version": "0.4", "name": "benchmark", "axes": AXES, "datasets": datasets}]}))
    marker.write_text(spec)
    return root


def measured(command: list[str], cwd: Path | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (largest process of the command's tree: the waited-for child
    and, through RUSAGE_CHILDREN of the child itself, what it waited for)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{stderr[-3000:]}")
    return seconds, usage.ru_maxrss * 1024


def byte_copy(source: Path, target: Path) -> None:
    """Read every file of the tree and write it elsewhere (no cp: it may clone blocks)."""
    for path in sorted(source.rglob("*")):
        out = target / path.relative_to(source)
        if path.is_dir():
            out.mkdir(parents=True, exist_ok=True)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(path.read_bytes())


def challenge_python(cache: Path) -> Path:
    """The challenge's converter, from the package registry, in a virtual environment of its
    own (its pins differ from ours)."""
    env = cache / "challenge-venv"
    python = env / "bin" / "python"
    if not (env / "installed").exists():
        LOG.info("installing %s into %s", CHALLENGE, env)
        venv.create(env, with_pip=True, clear=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", CHALLENGE], check=True)
        (env / "installed").write_text(CHALLENGE)
    return python


def ngff(*args: str) -> list[str]:
    return [sys.executable, "-m", "ngff_resave", *args]


def run_convert_jobs(plan: Path, records: Path, threads: int) -> tuple[float, int]:
    """Every convert job of a plan, one process each, as the workflow runs them."""
    total, peak = 0.0, 0
    for job in json.loads(plan.read_text())["jobs"]:
        seconds, rss = measured(ngff("convert-job", "--plan", str(plan), "--job", job["id"],
                                     "--record", str(records / f"{job['id']}.json"),
                                     "--threads", str(threads)))
        total += seconds
        peak = max(peak, rss)
    return total, peak


def make_plan(source: Path, work: Path, codec: str, output: Path, mode: str = "auto") -> Path:
    """One dataset's plan, as the workflow's plan job makes it."""
    settings = PlanSettings(
        dataset="bench", input=str(source), output=str(output), codec=codec, mode=mode
    )
    plan = work / f"plan-{codec}-{mode}.json"
    plan.write_bytes(plan_row(settings, Run.current(work)).to_bytes())
    return plan


def median_of(repeat: int, run) -> tuple[float, int]:
    results = [run() for _ in range(repeat)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def benchmark(work: Path, repeat: int, threads: int) -> tuple[list[Figure], int, int]:
    cache = HERE / "cache"
    cache.mkdir(exist_ok=True)
    source = generate(cache)
    pixel_bytes = sum(int(np.prod(zarr.open_array(str(source / str(level)), mode="r").shape)) * 2
                      for level in range(LEVELS))
    stored = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    python = challenge_python(cache)
    out = work / "out"

    def fresh(path: Path) -> Path:
        shutil.rmtree(path, ignore_errors=True)
        return path

    byte_copy(source, fresh(out / "warm"))  # read the input once so every run starts warm
    figures = []
    seconds, peak = median_of(repeat, lambda: measured(
        [sys.executable, __file__, "byte-copy", str(source), str(fresh(out / "copy"))]))
    figures.append(Figure("a. byte copy of the input tree", seconds, peak))

    figures[-1].written = new_bytes(out / "copy", source)

    def ours(codec: str, mode: str = "auto") -> tuple[float, int]:
        target = fresh(out / f"ours-{codec}-{mode}")
        plan = make_plan(source, work, codec, target, mode)
        return run_convert_jobs(plan, fresh(work / f"records-{codec}-{mode}"), threads)

    seconds, peak = median_of(repeat, lambda: ours("keep"))
    figures.append(Figure("b. ngff-resave convert jobs, copy mode", seconds, peak,
                          f"{threads} threads per job", new_bytes(out / "ours-keep-auto", source)))
    seconds, peak = median_of(repeat, lambda: ours("keep", "reference"))
    figures.append(Figure("f. ngff-resave convert jobs, reference mode", seconds, peak,
                          "chunk files hard-linked under v3 metadata, nothing copied",
                          new_bytes(out / "ours-keep-reference", source)))
    seconds, peak = median_of(repeat, lambda: ours("blosc-zstd-5"))
    figures.append(Figure("c. ngff-resave convert jobs, re-encode blosc-zstd-5", seconds, peak,
                          f"{threads} threads per job",
                          new_bytes(out / "ours-blosc-zstd-5-auto", source)))

    # The challenge gets our plan's chunks and shards, in its own details format.
    plan = make_plan(source, work, "keep", out / "unused")
    details = work / "details.json"
    subprocess.run(ngff("details", "--plan", str(plan), "--output", str(details)), check=True)
    seconds, peak = median_of(repeat, lambda: measured(
        [str(python.parent / "ome2024-ngff-challenge"), "resave", "--silent", "--cc-by",
         "--output-read-details", str(details), str(source), str(fresh(out / "challenge"))]))
    figures.append(Figure("d. ome2024-ngff-challenge resave", seconds, peak,
                          "its default 16 threads, blosc-zstd-5",
                          new_bytes(out / "challenge", source)))

    workdir = fresh(work / "workflow")
    workdir.mkdir(parents=True)
    (workdir / "samples.tsv").write_text(f"dataset\tinput\nbench\t{source}\n")

    def workflow(validate_mode: str, row: str = f"bench\t{source}\t") -> tuple[float, int]:
        (workdir / "samples.tsv").write_text(f"dataset\tinput\tmode\tin_place\n{row}\n")
        (workdir / "config.yaml").write_text(
            "samples: samples.tsv\nrocrate:\n  license: CC0-1.0\n"
            f"validate:\n  mode: {validate_mode}\n")
        for folder in ("results", "logs", "benchmarks", ".snakemake"):
            fresh(workdir / folder)
        return measured([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
                         "--directory", str(workdir), "--configfile",
                         str(workdir / "config.yaml"), "--cores", str(threads), "--quiet"])

    def one_command(*options: str) -> tuple[float, int]:
        records = fresh(work / "command")
        return measured(ngff("convert", "--no-progress", "--log", "warn", "--cc0",
                             "--output-threads", str(threads), "--results",
                             str(records / "results"), "--logs", str(records / "logs"),
                             *options, str(source), str(fresh(out / "command"))))

    seconds, peak = median_of(repeat, one_command)
    figures.append(Figure("e. ngff-resave convert INPUT OUTPUT, one command", seconds, peak,
                          "as b' in one process: plan, copy, metadata, crate, full validation",
                          new_bytes(out / "command", source)))
    seconds, peak = median_of(repeat, lambda: one_command("--reference"))
    figures.append(Figure("f'. ngff-resave convert --reference INPUT OUTPUT", seconds, peak,
                          "as e, reference mode: links, metadata, crate, full validation",
                          new_bytes(out / "command", source)))
    seconds, peak = median_of(repeat, lambda: workflow("full"))
    figures.append(Figure("b'. ngff-resave whole workflow, plan to catalog", seconds, peak,
                          "copy mode, full pixel validation, RO-Crate",
                          new_bytes(workdir / "results" / "ome-zarr", source)))

    # In place writes into the input: here into a replica of the input whose files are hard
    # links to it (its folders are its own, so the cached input gains nothing).
    replica = fresh(work / "replica.ome.zarr")

    def in_place() -> tuple[float, int]:
        shutil.copytree(source, fresh(replica), copy_function=os.link)
        return workflow("full", f"bench\t{replica}\treference\ttrue")

    seconds, peak = median_of(repeat, in_place)
    figures.append(Figure("g. ngff-resave whole workflow, reference in place", seconds, peak,
                          "as b', mode reference, in_place: metadata written beside the v2 "
                          "files", new_bytes(replica, source)))
    # Sample mode still decodes every output chunk (only the comparison with the input is
    # sampled): this row shows what is left of its saving.
    seconds, peak = median_of(repeat, lambda: workflow("sample"))
    figures.append(Figure("b''. ngff-resave whole workflow, sample validation", seconds, peak,
                          "as b', validate.mode sample: every output chunk decoded, "
                          "8 input chunks per array compared",
                          new_bytes(workdir / "results" / "ome-zarr", source)))
    return figures, pixel_bytes, stored


def table(figures: list[Figure], pixel_bytes: int, stored: int, repeat: int,
          threads: int) -> str:
    by_letter = {f.name[:2]: f for f in figures}
    challenge, copy = by_letter["d."], by_letter["a."]
    lines = [
        f"Input: {pixel_bytes / 1e9:.2f} GB of uint16 pixels ({stored / 1e9:.2f} GB stored, "
        f"blosc lz4), shape {SHAPE}, chunks {CHUNKS}, {LEVELS} levels. "
        f"{os.cpu_count()} cores; median of {repeat} runs; ngff-resave with {threads} threads.",
        "",
        "| run | seconds | MB/s (pixels) | peak memory | bytes written | x faster than d "
        "| time / a | note |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for f in figures:
        written = "" if f.written is None else f"{f.written:,}"
        lines.append(
            f"| {f.name} | {f.seconds:.1f} | {pixel_bytes / f.seconds / 1e6:.0f} | "
            f"{f.peak_bytes / 2**20:.0f} MiB | {written} | {challenge.seconds / f.seconds:.2f} | "
            f"{f.seconds / copy.seconds:.2f} | {f.note} |")
    return "\n".join(lines) + "\n"


def chart(figures: list[Figure], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    names = [f.name for f in figures]
    colours = {"a": "#999", "b": "#2a7", "c": "#27a", "d": "#c52", "e": "#2a7", "f": "#a72",
               "g": "#a72"}
    ax.barh(names, [f.seconds for f in figures], color=[colours[f.name[0]] for f in figures])
    ax.invert_yaxis()
    ax.set_xlabel("seconds (lower is better)")
    ax.set_title("OME-Zarr 0.4 to 0.5, ~1 GB uint16")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command")
    copy = sub.add_parser("byte-copy")
    copy.add_argument("source", type=Path)
    copy.add_argument("target", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=HERE / "cache" / "work")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.command == "byte-copy":
        byte_copy(args.source, args.target)
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    figures, pixel_bytes, stored = benchmark(args.work, args.repeat, args.threads)
    text = table(figures, pixel_bytes, stored, args.repeat, args.threads)
    print(text)
    dated = f"Run of {time.strftime('%Y-%m-%d')}. {text}"
    (HERE / "results.md").write_text(f"# Benchmark\n\n{dated}")
    chart(figures, HERE / "results.png")
    update_readme(DOCS, dated)
    return 0


def repo_relative(text: str) -> str:
    """``text`` with this checkout's absolute paths written relative to the repository (and the
    home folder as ``~``), so that a results table names no machine's folders."""
    return (text.replace(f"{REPO}/", "").replace(str(REPO), ".")
            .replace(str(Path.home()), "~"))


def update_readme(readme: Path, text: str) -> None:
    """Put the latest table between the benchmark markers of ``readme`` (docs/benchmarks.md)."""
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    content = readme.read_text()
    if start in content and end in content:
        head, rest = content.split(start, 1)
        readme.write_text(f"{head}{start}\n{text}{end}{rest.split(end, 1)[1]}")


if __name__ == "__main__":
    sys.exit(main())
