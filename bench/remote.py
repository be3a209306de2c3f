"""`make bench`, remote scenario: from a local S3 server, four ways, in one run.

A moto server (server mode, in memory, 127.0.0.1 only) is started by this script; the cached
~1 GB synthetic input (bench/benchmark.py's ``generate``) is uploaded to
``s3://bench-in/input.ome.zarr`` once per run (reported, in no figure). Then, each measured as a
whole process (wall seconds; median of --repeat):

* ``plain copy``: every input object read and written to ``s3://bench-out/`` by s3fs, the same
  client against the same endpoint with the same number of requests in flight. It moves the
  bytes a converter moves and does nothing else: the floor no converter can beat.
* ``ngff-resave, S3 to S3``: the whole workflow as a user runs it (a working directory with
  samples.tsv and config.yaml naming a storage preset for the endpoint; ``python -m
  snakemake``), reading ``s3://bench-in/`` and writing ``s3://bench-out/``; its catalog must call
  the output valid.
* ``ngff-resave, S3 to local disk``: the same workflow, settings and input in a working
  directory of its own, the sheet's ``output`` a local folder (no ``output_storage``): the
  challenge's destination, so the like-for-like comparison with it.
* ``challenge``: ``ome2024-ngff-challenge resave`` reading the same input from the same server
  (``--input-bucket/--input-endpoint``), with the options bench/benchmark.py gives it. It
  refuses S3 output (checked in every run), so it writes to local disk.

Objects are counted by listing: the input's keys plus the output's (the plain copy: twice the
input's; a local output's files by walking its folder); MB/s is input bytes over wall seconds.
Every process gets fake AWS credentials and no AWS configuration files, so nothing can reach a
real account.

Writes bench/remote-results.md (paths relative to the repository) and prints the table; its
main table is copied by hand into docs/benchmarks.md. Exits non-zero when a workflow run fails or
its output is not valid (after writing the other figures).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib.util
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:  # run as `python bench/remote.py`
    sys.path.insert(0, str(HERE))

LOG = logging.getLogger("bench.remote")
CACHE = HERE / "cache"
IN_BUCKET, OUT_BUCKET = "bench-in", "bench-out"
INPUT_KEY = "input.ome.zarr"
DATASET = "bench"
PRESET = "local-s3"
LICENSE = "CC-BY-4.0"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench-fake-key",
    "AWS_SECRET_ACCESS_KEY": "bench-fake-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
# Variables that could point a client at a real account or another endpoint.
AWS_CLEARED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


@dataclass
class Listing:
    keys: int
    bytes: int


@dataclass
class Scenario:
    """One scenario's runs: wall seconds of each, objects moved, notes, or why it failed;
    ``parts`` are named seconds of each run (jobs' own records), reported as medians too."""

    name: str
    note: str = ""
    seconds: list[float] = field(default_factory=list)
    objects: int = 0
    written: str = ""
    parts: dict[str, list[float]] = field(default_factory=dict)
    error: str = ""
    command: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    def add_part(self, name: str, seconds: float) -> None:
        self.parts.setdefault(name, []).append(seconds)

    @property
    def extra(self) -> list[str]:
        medians = [
            f"{name} {statistics.median(values):.1f} s" for name, values in self.parts.items()
        ]
        return [self.written, *medians] if self.written else medians

    @property
    def ok(self) -> bool:
        return bool(self.seconds) and not self.error


# ---- environment and server -----------------------------------------------------------------


def isolate_aws(work: Path) -> None:
    """Fake credentials and nonexistent AWS files for this process and all it starts."""
    for name in AWS_CLEARED:
        os.environ.pop(name, None)
    os.environ.update(FAKE_CREDENTIALS)
    os.environ["AWS_CONFIG_FILE"] = str(work / "no-such-aws-config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(work / "no-such-aws-credentials")
    # Jobs find the venv's python, snakemake and ngff_resave first, as the tests run them.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server():
    """A moto S3 server on 127.0.0.1 in a thread of this process (idle while the measured
    processes run: this process only waits for them)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def s3(endpoint: str):
    import s3fs

    return s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)


def listing(fs, prefix: str) -> Listing:
    fs.invalidate_cache()
    if not fs.exists(prefix):
        return Listing(0, 0)
    found = fs.find(prefix, detail=True)
    return Listing(len(found), sum(int(entry["size"]) for entry in found.values()))


def local_listing(folder: Path) -> Listing:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return Listing(len(files), sum(p.stat().st_size for p in files))


def remove(fs, prefix: str) -> None:
    fs.invalidate_cache()
    if fs.exists(prefix):
        fs.rm(prefix, recursive=True)
    fs.invalidate_cache()


def upload(fs, source: Path, prefix: str) -> tuple[Listing, float]:
    files = sorted(p for p in source.rglob("*") if p.is_file())
    start = time.perf_counter()
    fs.put([str(p) for p in files], [f"{prefix}/{p.relative_to(source).as_posix()}" for p in files])
    seconds = time.perf_counter() - start
    uploaded = listing(fs, prefix)
    stored = Listing(len(files), sum(p.stat().st_size for p in files))
    if uploaded != stored:
        raise RuntimeError(
            f"upload of {source} incomplete: {uploaded} on the server, {stored} on disk"
        )
    return uploaded, seconds


# ---- measuring ------------------------------------------------------------------------------


def measured(command: Sequence[str], log: Path, timeout: float, cwd: Path | None = None) -> float:
    """Wall seconds of ``command``, run as its own process group (killed after ``timeout``),
    its output in ``log``; raises with the end of the log when it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            returncode = process.wait()
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
    if expired.is_set():
        raise TimeoutError(f"{shlex.join(command)} killed after {timeout:.0f} s; log {log}")
    if returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"exit {returncode}: {shlex.join(command)}\n(log {log})\n{tail}")
    return seconds


# ---- 1. plain copy --------------------------------------------------------------------------


def plain_copy(endpoint: str, source: str, target: str, concurrency: int) -> int:
    """Every object under ``source`` to ``target``: read whole, written whole, ``concurrency``
    objects in flight, through s3fs's async API (what its cat/pipe batches run on)."""
    from fsspec.asyn import sync

    fs = s3(endpoint)
    keys = fs.find(source)

    async def copy_all() -> list[int]:
        gate = asyncio.Semaphore(concurrency)

        async def one(key: str) -> int:
            async with gate:
                data = await fs._cat_file(key)
                await fs._pipe_file(target + key[len(source) :], data)
                return len(data)

        return await asyncio.gather(*(one(key) for key in keys))

    return sum(sync(fs.loop, copy_all))


def run_plain_copy(
    scenario: Scenario,
    endpoint: str,
    fs,
    concurrency: int,
    expected: Listing,
    logs: Path,
    index: int,
    timeout: float,
) -> None:
    target = f"{OUT_BUCKET}/plain-copy.ome.zarr"
    remove(fs, target)
    command = [
        sys.executable,
        __file__,
        "plain-copy",
        "--endpoint",
        endpoint,
        "--concurrency",
        str(concurrency),
        f"{IN_BUCKET}/{INPUT_KEY}",
        target,
    ]
    scenario.command = shlex.join(command)
    seconds = measured(command, logs / f"plain-copy-{index}.log", timeout)
    copied = listing(fs, target)
    if copied != expected:
        raise RuntimeError(f"plain copy incomplete: {copied}, input {expected}")
    scenario.seconds.append(seconds)
    scenario.objects = expected.keys + copied.keys
    remove(fs, target)


# ---- 2. the workflow ------------------------------------------------------------------------


def write_workdir(
    workdir: Path,
    endpoint: str,
    concurrency: int,
    validate: str,
    local_output: Path | None = None,
) -> str:
    """samples.tsv and config.yaml of a user's run from S3: to S3, or with ``local_output`` to
    that local folder (no ``output_storage``); the output (``s3://`` URL or local path)."""
    workdir.mkdir(parents=True, exist_ok=True)
    output = str(local_output) if local_output else f"s3://{OUT_BUCKET}/{DATASET}.ome.zarr"
    header = ["dataset", "input", "output", "license", "input_storage"]
    values = [DATASET, f"s3://{IN_BUCKET}/{INPUT_KEY}", output, LICENSE, PRESET]
    if not local_output:
        header.append("output_storage")
        values.append(PRESET)
    rows = [header, values]
    (workdir / "samples.tsv").write_text("".join("\t".join(row) + "\n" for row in rows))
    (workdir / "config.yaml").write_text(
        "samples: samples.tsv\nstorage:\n"
        f'  {PRESET}: {{endpoint: "{endpoint}", concurrency: {concurrency}}}\n'
        + ("" if validate == "full" else f"validate:\n  mode: {validate}\n")
    )
    return output


def snakemake_command(workdir: Path, cores: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        str(cores),
    ]


def job_logs(workdir: Path, since: float) -> str:
    """The ends of the job logs this run wrote (where a job's own error is)."""
    parts = []
    for log in sorted((workdir / "logs").rglob("*.log")):
        if log.stat().st_mtime >= since and log.stat().st_size:
            parts.append(
                f"--- {log.relative_to(workdir)}:\n{log.read_text(errors='replace')[-2500:]}"
            )
    return "\n".join(parts[-4:])


def catalog_rows(workdir: Path) -> list[dict[str, str]]:
    catalog = workdir / "results" / "catalog.csv"
    if not catalog.exists():
        raise RuntimeError(f"the workflow wrote no {catalog}")
    with catalog.open(newline="") as handle:
        return list(csv.DictReader(handle))


def job_seconds(results: Path) -> tuple[float, float]:
    """Seconds the convert jobs recorded (their sum), and the pack jobs' (convert, finish and
    validate of the datasets packed; nan when the dataset had jobs of its own)."""
    converts = [
        json.loads(p.read_text())["seconds"]
        for p in sorted((results / DATASET / "convert").glob("*.json"))
    ]
    packs = [
        entry["seconds"]
        for p in sorted((results / "packs").glob("*.json"))
        for entry in json.loads(p.read_text())["datasets"]
        if entry["dataset"] == DATASET
    ]
    return (sum(converts) if converts else float("nan"), sum(packs) if packs else float("nan"))


def rule_seconds(workdir: Path) -> dict[str, float]:
    """Wall seconds of the jobs of each rule that has ``benchmark:`` (Snakemake's records,
    benchmarks/<rule>/*.tsv, column ``s``)."""
    totals: dict[str, float] = {}
    for record in sorted((workdir / "benchmarks").rglob("*.tsv")):
        header, values = record.read_text().splitlines()[:2]
        seconds = float(dict(zip(header.split("\t"), values.split("\t"), strict=False))["s"])
        rule = record.relative_to(workdir / "benchmarks").parts[0]
        totals[rule] = totals.get(rule, 0.0) + seconds
    return totals


def run_workflow(
    scenario: Scenario,
    workdir: Path,
    output: str,
    fs,
    cores: int,
    expected: Listing,
    logs: Path,
    index: int,
    timeout: float,
) -> None:
    """One run in ``workdir`` (written by write_workdir) to ``output``, an ``s3://`` URL or a
    local folder (cleared before, walked after); its log is named after ``workdir``."""
    for folder in ("results", "logs", "benchmarks", ".snakemake"):
        shutil.rmtree(workdir / folder, ignore_errors=True)
    remote = output.startswith("s3://")
    prefix = output.removeprefix("s3://")
    if remote:
        remove(fs, prefix)
    else:
        shutil.rmtree(output, ignore_errors=True)
    command = snakemake_command(workdir, cores)
    scenario.command = shlex.join(command)
    started = time.time()
    try:
        seconds = measured(command, logs / f"{workdir.name}-{index}.log", timeout)
    except RuntimeError as err:
        raise RuntimeError(f"{err}\n{job_logs(workdir, started)}") from None
    rows = catalog_rows(workdir)
    if [row.get("valid") for row in rows] != ["True"]:
        raise RuntimeError("the workflow's output is not valid: catalog " + json.dumps(rows)[:3000])
    written = listing(fs, prefix) if remote else local_listing(Path(output))
    if not written.keys:
        raise RuntimeError(f"the workflow wrote nothing under {output}")
    convert, pack = job_seconds(workdir / "results")
    scenario.seconds.append(seconds)
    scenario.objects = expected.keys + written.keys
    scenario.written = f"output {written.keys} objects, {written.bytes / 1e6:.0f} MB"
    scenario.add_part("convert jobs' own records", convert)
    if pack == pack:  # not nan
        scenario.add_part("pack record (convert, finish, validate)", pack)
    for folder, total in rule_seconds(workdir).items():
        scenario.add_part(f"benchmarks/{folder}", total)


# ---- 3. the challenge's converter -----------------------------------------------------------


def challenge_details(source: Path, work: Path) -> Path | None:
    """Our plan's chunks and shards in the challenge's details format (as bench/benchmark.py
    gives them), keyed by the array paths it sees on S3 (``input.ome.zarr/0``...); None when
    the package cannot plan (the challenge then guesses shards itself)."""
    from benchmark import make_plan, ngff

    try:
        plan = make_plan(source, work, "keep", work / "unused")
        local = work / "details-local.json"
        subprocess.run(
            ngff("details", "--plan", str(plan), "--output", str(local)),
            check=True,
            capture_output=True,
        )
    except Exception as err:  # reported: the figure is still worth having
        LOG.error("no details for the challenge (its own shard guess instead): %s", err)
        return None
    prefix = str(source).rstrip("/")
    details = {
        INPUT_KEY + key[len(prefix) :] if key.startswith(prefix) else key: value
        for key, value in json.loads(local.read_text()).items()
    }
    path = work / "details-s3.json"
    path.write_text(json.dumps(details, indent=2))
    return path


def challenge_command(
    tool: Path, endpoint: str, details: Path | None, output: str, s3_output: bool
) -> list[str]:
    command = [str(tool), "resave", "--silent", "--cc-by"]
    if details:
        command += ["--output-read-details", str(details)]
    command += ["--input-bucket", IN_BUCKET, "--input-endpoint", endpoint]
    if s3_output:
        command += ["--output-bucket", OUT_BUCKET, "--output-endpoint", endpoint]
    return [*command, INPUT_KEY, output]


def challenge_s3_output(
    tool: Path, endpoint: str, details: Path | None, fs, logs: Path, timeout: float
) -> str:
    """Try the challenge's S3 output once (not measured): "" when it works, else why not."""
    prefix = f"{OUT_BUCKET}/challenge.ome.zarr"
    remove(fs, prefix)
    command = challenge_command(tool, endpoint, details, "challenge.ome.zarr", True)
    try:
        measured(command, logs / "challenge-s3-output.log", timeout)
    except (RuntimeError, TimeoutError) as err:
        lines = [line for line in str(err).splitlines() if line.strip()]
        return lines[-1] if lines else str(err)
    finally:
        remove(fs, prefix)
    return ""


def run_challenge(
    scenario: Scenario,
    tool: Path,
    endpoint: str,
    details: Path | None,
    s3_output: bool,
    fs,
    out: Path,
    expected: Listing,
    logs: Path,
    index: int,
    timeout: float,
) -> None:
    if s3_output:
        target = f"{OUT_BUCKET}/challenge.ome.zarr"
        remove(fs, target)
    else:
        shutil.rmtree(out, ignore_errors=True)
        target = str(out)
    command = challenge_command(
        tool,
        endpoint,
        details,
        target.removeprefix(f"{OUT_BUCKET}/") if s3_output else target,
        s3_output,
    )
    scenario.command = shlex.join(command)
    seconds = measured(command, logs / f"challenge-{index}.log", timeout)
    if s3_output:
        written = listing(fs, target)
    else:
        written = local_listing(out)
    if not written.keys:
        raise RuntimeError(f"the challenge's converter wrote nothing to {target}")
    scenario.seconds.append(seconds)
    scenario.objects = expected.keys + written.keys
    scenario.written = f"output {written.keys} objects, {written.bytes / 1e6:.0f} MB"


# ---- report ---------------------------------------------------------------------------------


def attempt(scenario: Scenario, run: Callable[[], None]) -> None:
    """One run of a scenario; a failure is kept (with its message) and ends its later runs."""
    if scenario.error:
        return
    try:
        run()
    except (RuntimeError, TimeoutError, OSError) as err:
        scenario.error = str(err)
        LOG.error("%s failed: %s", scenario.name, err)


def row(s: Scenario, input_bytes: int, floor: float) -> str:
    if not s.ok:
        return f"| {s.name} | failed | | | | | | {s.note}; see below |"
    ratio = s.wall / floor if floor == floor else float("nan")
    return (
        f"| {s.name} | {s.objects} | {input_bytes / 1e6:.0f} | {s.wall:.1f} | "
        f"{s.objects / s.wall:.0f} | {input_bytes / 1e6 / s.wall:.0f} | {ratio:.2f} | "
        f"{'; '.join([s.note, *s.extra])} |"
    )


def versus(ours: Scenario, theirs: Scenario) -> str:
    """The wall-seconds ratio, and in words which is faster."""
    ratio = ours.wall / theirs.wall
    if ratio > 1:
        return f"{ratio:.2f} (ngff-resave takes {ratio:.2f}x as long as the challenge's tool)"
    return f"{ratio:.2f} (the challenge's tool takes {1 / ratio:.2f}x as long as ngff-resave)"


def comparisons(ours: Sequence[tuple[Scenario, str]], theirs: Scenario, where: str) -> list[str]:
    """One line per ngff-resave scenario (with its destination) against the challenge's tool
    (writing to ``where``); the one with the same destination is called the like-for-like."""
    lines = []
    for scenario, destination in ours:
        if not (scenario.ok and theirs.ok):
            continue
        same = destination == where
        lines.append(
            f"- ngff-resave S3 to {destination} / challenge tool S3 to {where}, wall seconds: "
            f"{versus(scenario, theirs)}. "
            + (
                "Like-for-like: same input, same destination."
                if same
                else f"Different destinations ({destination} against {where}): not like-for-like."
            )
        )
    return ["", *lines] if lines else []


def machine() -> str:
    memory = ""
    try:
        with open("/proc/meminfo") as info:
            kib = next(int(line.split()[1]) for line in info if line.startswith("MemTotal:"))
        memory = f", {kib / 2**20:.1f} GiB RAM"
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores{memory}"


def report(
    scenarios: Sequence[Scenario],
    uploaded: Listing,
    upload_seconds: float,
    repeat: int,
    cores: int,
    concurrency: int,
    validate: str,
    challenge_s3: str,
) -> str:
    from importlib.metadata import version

    from benchmark import CHALLENGE, LEVELS, SHAPE, repo_relative

    plain, ours, ours_local, theirs = scenarios
    where = "local disk" if challenge_s3 else "S3"
    floor = plain.wall if plain.ok else float("nan")
    lines = [
        f"{machine()}; moto {version('moto')} (server mode, in memory, 127.0.0.1), "
        f"s3fs {version('s3fs')}; median of {repeat} run(s). Input: bench/benchmark.py's "
        f"synthetic image, shape {SHAPE} uint16, {LEVELS} levels, {uploaded.keys} objects, "
        f"{uploaded.bytes / 1e6:.0f} MB stored, at s3://{IN_BUCKET}/{INPUT_KEY}; its upload "
        f"took {upload_seconds:.1f} s (in no figure).",
        "",
        "| scenario | objects | MB | wall s | objects/s | MB/s | ratio vs plain copy | note |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        *(row(s, uploaded.bytes, floor) for s in scenarios),
        "",
        "objects = input keys + output keys (by listing; a local output's files, by walking its "
        "folder); MB = input bytes; MB/s = input MB / wall s; ratio vs plain copy = wall s / the "
        "plain copy's wall s. Wall seconds are whole processes (interpreter start included).",
    ]
    lines += comparisons([(ours, "S3"), (ours_local, "local disk")], theirs, where)
    lines += [
        "",
        f"Challenge tool: {CHALLENGE}, reads S3 with --input-bucket/--input-endpoint "
        "(tensorstore's s3 kvstore for pixels, zarr-python's fsspec store for "
        "metadata).",
    ]
    if challenge_s3:
        lines.append(
            f"It cannot write to S3 here, so it writes to local disk: with "
            f"--output-bucket it stops with `{challenge_s3}` (its main() calls "
            "check_or_delete_path() on the output whatever it is, and that refuses any "
            "bucket). Its row therefore has no S3 writes, which favours it against the "
            "ngff-resave S3-to-S3 row; the ngff-resave S3-to-local-disk row writes to local "
            "disk as it does (the same workflow and settings, the sheet's output a local "
            "folder), and is the one to compare it with."
        )
    lines += [
        "",
        f"Reading the figures: the server is one Python process (moto) on the same "
        f"{os.cpu_count()} cores as the clients, so the plain copy measures it, and the ratios, "
        "not the MB/s, are what carries over to a real store. ngff-resave's validation "
        f"(mode {validate}): in full mode each convert job proves every shard as it writes "
        "it, comparing it with the input it still holds, so the input is read once: to the "
        "server, by the server's own digest of the object (a HEAD after the PUT: its ETag, the "
        "MD5 the server computed, must be that of the bytes sent, its size and CRC32C those "
        "sent) and the bytes written, in memory, so no shard is downloaded again; to local "
        "disk, by reading it back. The validate step then lists the output and re-reads a "
        "sample of chunks on both sides (on S3, each sampled shard's index and chunks, in "
        "ranges of the object its HEAD found as recorded; the convert records include the "
        "proof, the `pack record` figure includes both). The challenge's tool compares 10 "
        "random pixels.",
    ]
    lines += [
        "",
        "Commands (each in an environment with fake AWS credentials, "
        "AWS_DEFAULT_REGION=us-east-1, AWS_EC2_METADATA_DISABLED=true and "
        "AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE naming no file; the port is "
        "a free one chosen per run; run from the repository, paths relative to it):",
        "",
    ]
    lines += [f"- {s.name}: `{repo_relative(s.command)}`" for s in scenarios if s.command]
    lines += [
        f"- ngff-resave config.yaml: `storage: {{{PRESET}: {{endpoint: ..., "
        f"concurrency: {concurrency}}}}}`, --cores {cores}, validate mode {validate}, "
        "RO-Crate on; the S3-to-local-disk run's sheet has the same row with `output` a "
        "local folder and no `output_storage`."
    ]
    failed = [s for s in scenarios if s.error]
    for s in failed:
        lines += ["", f"{s.name} failed:", "", "```", s.error.strip()[-6000:], "```"]
    return "\n".join(lines) + "\n"


# ---- main -----------------------------------------------------------------------------------


def benchmark(args: argparse.Namespace) -> tuple[str, bool]:
    from benchmark import challenge_python, generate

    source = generate(CACHE)
    tool = challenge_python(CACHE).parent / "ome2024-ngff-challenge"
    work = args.work
    logs = work / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    isolate_aws(work)
    server, endpoint = start_server()
    try:
        fs = s3(endpoint)
        for bucket in (IN_BUCKET, OUT_BUCKET):
            fs.mkdir(bucket)
        LOG.info("uploading %s to s3://%s/%s on %s", source, IN_BUCKET, INPUT_KEY, endpoint)
        uploaded, upload_seconds = upload(fs, source, f"{IN_BUCKET}/{INPUT_KEY}")
        LOG.info(
            "uploaded %d objects, %.0f MB in %.1f s",
            uploaded.keys,
            uploaded.bytes / 1e6,
            upload_seconds,
        )
        workdir = work / "workflow"
        output = write_workdir(workdir, endpoint, args.concurrency, args.validate)
        workdir_local = work / "workflow-local"
        output_local = write_workdir(
            workdir_local,
            endpoint,
            args.concurrency,
            args.validate,
            workdir_local / "output" / f"{DATASET}.ome.zarr",
        )
        details = challenge_details(source, work)
        challenge_s3 = challenge_s3_output(tool, endpoint, details, fs, logs, args.timeout)
        LOG.info("challenge S3 output: %s", challenge_s3 or "works")
        plain = Scenario("plain copy, s3fs", f"{args.concurrency} objects in flight")
        settings = (
            f"snakemake --cores {args.cores}, concurrency {args.concurrency}, "
            f"{args.validate} validation, RO-Crate"
        )
        ours = Scenario("ngff-resave workflow, S3 to S3", settings)
        ours_local = Scenario("ngff-resave workflow, S3 to local disk", settings)
        where = "S3" if not challenge_s3 else "local disk"
        theirs = Scenario(
            f"ome2024-ngff-challenge resave, S3 to {where}",
            "its default 16 shards per transaction, re-encodes blosc-zstd-5, checks 10 "
            "random pixels" + (", our plan's chunks and shards" if details else ""),
        )
        for index in range(args.repeat):
            LOG.info("run %d of %d: plain copy", index + 1, args.repeat)
            attempt(
                plain,
                lambda i=index: run_plain_copy(
                    plain, endpoint, fs, args.concurrency, uploaded, logs, i, args.timeout
                ),
            )
            LOG.info("run %d of %d: ngff-resave workflow, S3 to S3", index + 1, args.repeat)
            attempt(
                ours,
                lambda i=index: run_workflow(
                    ours, workdir, output, fs, args.cores, uploaded, logs, i, args.timeout
                ),
            )
            LOG.info("run %d of %d: ngff-resave workflow, S3 to local", index + 1, args.repeat)
            attempt(
                ours_local,
                lambda i=index: run_workflow(
                    ours_local,
                    workdir_local,
                    output_local,
                    fs,
                    args.cores,
                    uploaded,
                    logs,
                    i,
                    args.timeout,
                ),
            )
            LOG.info("run %d of %d: challenge", index + 1, args.repeat)
            attempt(
                theirs,
                lambda i=index: run_challenge(
                    theirs,
                    tool,
                    endpoint,
                    details,
                    not challenge_s3,
                    fs,
                    work / "challenge-out",
                    uploaded,
                    logs,
                    i,
                    args.timeout,
                ),
            )
        text = report(
            [plain, ours, ours_local, theirs],
            uploaded,
            upload_seconds,
            args.repeat,
            args.cores,
            args.concurrency,
            args.validate,
            challenge_s3,
        )
        return text, ours.ok and ours_local.ok and plain.ok
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    copy = sub.add_parser("plain-copy", help="(internal) the measured plain copy")
    copy.add_argument("source")
    copy.add_argument("target")
    copy.add_argument("--endpoint", required=True)
    copy.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cores", type=int, default=2, help="Snakemake --cores")
    parser.add_argument(
        "--validate",
        choices=("full", "sample"),
        default="full",
        help="the workflow's validate.mode (full, its default, re-reads input and output)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="requests in flight: the storage preset's, and the plain copy's",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds before one measured command is killed"
    )
    parser.add_argument("--work", type=Path, default=CACHE / "remote-work")
    parser.add_argument("--output", type=Path, default=HERE / "remote-results.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.command == "plain-copy":
        plain_copy(
            args.endpoint, args.source.rstrip("/"), args.target.rstrip("/"), args.concurrency
        )
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    for module in ("moto", "flask", "s3fs"):  # flask: moto's server mode
        if importlib.util.find_spec(module) is None:
            parser.error(f"{module} is not installed: pip install -e '.[test]' (moto[server])")
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    text, ok = benchmark(args)
    print(text)
    args.output.write_text(f"# Remote (S3) benchmark\n\nRun of {time.strftime('%Y-%m-%d')}. {text}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
