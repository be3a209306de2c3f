import atexit
import contextlib
import datetime
import functools
import gc
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

import pandas as pd

from snakemake.common import NOTHING_TO_BE_DONE_MSG
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake_interface_executor_plugins.settings import DeploymentMethod
from snakemake.utils import validate

# The workflow's logic lives in the package next to it; no install needed to run it.
PACKAGE_SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(PACKAGE_SRC))

# Only what parsing and laying out the jobs needs; the steps that run in this process (a small
# sheet's planning, the catalog) import theirs when they run, so a dry run or a cluster job's
# own Snakemake does not pay for them.
from ngff_resave.arrays import resources as job_resources  # noqa: E402
from ngff_resave.model import patterns  # noqa: E402
from ngff_resave.model.plan import digest, read_plan, read_sheet_plan  # noqa: E402
from ngff_resave.records import outcomes, ownership  # noqa: E402
from ngff_resave.sheet import packing  # noqa: E402
from ngff_resave.sheet import settings as sample_sheet  # noqa: E402
from ngff_resave.sheet.plan import sheet_attempt  # noqa: E402
from ngff_resave.storage import is_url, read_local_record  # noqa: E402

RUN_STARTED = time.time()
RESULTS = Path("results")
LATEST_SHEET_PLAN = "results/plan.json"


def stop_before_any_job(problem):
    """A config or sheet that cannot be read stops the run before any job: its problems alone
    on the terminal (no traceback), and a non-zero exit."""
    print(f"ngff-resave: {problem}", file=sys.stderr)
    sys.exit(1)


# The package's check first, for its messages (one line per problem); Snakemake's then fills in
# the schema's defaults. A row's input is not looked at here: a missing one fails that row
# alone, at planning.
try:
    sample_sheet.fill_config_defaults(config)
except sample_sheet.SheetError as err:
    stop_before_any_job(err)
validate(config, "../schemas/config.schema.yaml")
try:
    SAMPLES = sample_sheet.load_samples(config, Path.cwd())
except sample_sheet.SheetError as err:
    stop_before_any_job(err)
# The checked rows once more through Snakemake's own validator (absent cells are NaN).
validate(pd.DataFrame(list(SAMPLES.values())), "../schemas/samples.schema.yaml")

# Every job runs the package as a module (`python -m ngff_resave`): under --sdm conda with
# the env's python, else with the python Snakemake itself runs in (found first on PATH).
_job_path = ""
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    _job_path = f"export PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH; "
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(str(PACKAGE_SRC))}; {_job_path}"
)


wildcard_constraints:
    dataset=patterns.DATASET_ID,
    pack="[0-9a-f]{12}",
    attempt="[0-9a-f]{12}",
    level="[0-9]+",
    part="[0-9]+",


def details_files():
    return [row["details"] for row in SAMPLES.values() if row.get("details")]


def config_json():
    return json.dumps(config, sort_keys=True)


def sheet_inputs_digest():
    parts = [Path(config["samples"]).read_bytes(), config_json().encode()]
    parts += [Path(path).read_bytes() for path in details_files()]
    return digest(b"\0".join(parts))


# The sheet plan of this run is named by what it is made from; rows that could not be planned
# make the next run plan them again under a new name (see sheet.plan.sheet_attempt). A job's
# own Snakemake (on a cluster) uses the sheet plan the main process made for this run.
SHEET_INPUTS_DIGEST = sheet_inputs_digest()
_latest = read_sheet_plan(LATEST_SHEET_PLAN)
if workflow.is_main_process or _latest is None:
    SHEET_ATTEMPT = sheet_attempt(SHEET_INPUTS_DIGEST, _latest)
else:
    SHEET_ATTEMPT = _latest.attempt
SHEET_PLAN = f"results/plans/{SHEET_ATTEMPT}.json"


@functools.cache
def _work(mtime):
    sheet = read_sheet_plan(SHEET_PLAN)
    if sheet is None:
        raise WorkflowError(f"{SHEET_PLAN} is not a sheet plan of this version")
    mode = config["validate"]["mode"]
    states = {
        e.dataset: outcomes.dataset_state(RESULTS, e, mode) for e in sheet.entries
    }
    work = packing.layout_work(
        sheet.entries,
        states,
        config["packs"]["target_bytes"],
        config["packs"]["datasets"],
    )
    if workflow.is_main_process:
        # Convert records of work that is not done go, so that Snakemake redoes that work.
        for dataset in work.split:
            stale = outcomes.stale_convert_records(RESULTS, work.entries[dataset])
            for path in stale:
                path.unlink()
            if stale:
                logger.info(
                    f"dataset '{dataset}': {len(stale)} convert job(s) to redo "
                    f"({', '.join(p.stem for p in stale)}): their records no longer "
                    "match the output"
                )
    return work


def work():
    """The jobs of this run, once the sheet is planned."""
    if plan_here():
        plan_in_this_process()
    return _work(
        os.path.getmtime(checkpoints.plan.get(attempt=SHEET_ATTEMPT).output.plan)
    )


# A small sheet is planned in the Snakemake process itself when the run executes locally: a
# job would cost more (its process, its imports, one more round of scheduling and the
# checkpoint's update) than planning its rows one after the other. Small: up to 16 rows, a
# remote row (s3://, http(s)://, slower to read) counting as 4. Larger sheets, dry runs,
# cluster runs and runs with --sdm plan through the checkpoint job `plan` (rows in parallel,
# its threads, its environment).
PLAN_HERE_ROWS = 16
PLAN_HERE_REMOTE_ROW = 4
SMALL_SHEET = (
    sum(PLAN_HERE_REMOTE_ROW if is_url(row["input"]) else 1 for row in SAMPLES.values())
    <= PLAN_HERE_ROWS
)


def plan_here():
    """Whether this process plans the sheet now: a small sheet, not yet planned for this run,
    in a local run that executes jobs (not a dry run, --touch, --report or --lint: those run no
    executor, and must write nothing), in Snakemake's own environment (with --sdm conda or
    apptainer the plan job runs in its pinned one), nothing forced, and no other run in this
    working directory (the lock is taken after the jobs are laid out)."""
    if not SMALL_SHEET or not workflow.is_main_process:
        return False
    if workflow.deployment_settings.deployment_method:
        return False
    if workflow.executor_plugin is None or workflow.dryrun or workflow.touch:
        return False
    if not workflow.local_exec or os.path.exists(SHEET_PLAN):
        return False
    dag = workflow.dag_settings
    if dag.forceall or dag.forcerun or dag.forcetargets:
        return False
    locks = Path(".snakemake", "locks")
    if locks.is_dir() and any(locks.iterdir()):
        return False
    return ownership.Run.running(RESULTS) is None


@functools.cache
def plan_in_this_process():
    """The checkpoint's work, done here (once): the sheet plan and each row's plan.json
    written as the `plan` job writes them, its log and benchmark record where the job's go.
    Snakemake then finds the checkpoint's output there and up to date, as after any earlier
    run, and lays out the jobs from it. Should this fail, the plan job does it. The run's
    record is made first, as for the job, which plans within the run (and is counted in its
    conversion cost)."""
    from ngff_resave.steps.plan import plan_step

    start_of_run()
    log = f"logs/plans/{SHEET_ATTEMPT}.log"
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        with package_log(
            log, "ngff-resave: the sheet planned in the Snakemake process"
        ):
            plan_step(
                config,
                RESULTS,
                Path(SHEET_PLAN),
                SHEET_ATTEMPT,
                SHEET_INPUTS_DIGEST,
                threads=1,
            )
    except Exception as err:
        Path(SHEET_PLAN).unlink(missing_ok=True)
        logger.warning(
            f"planning the sheet in this process failed ({type(err).__name__}: {err}); "
            "the plan job plans it"
        )
        return
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    write_benchmark(f"benchmarks/plans/{SHEET_ATTEMPT}.tsv", wall, cpu)
    logger.info(
        f"sheet of {len(SAMPLES)} rows planned in this process in {wall:.1f} s (log: {log})"
    )


def write_benchmark(path, seconds, cpu_seconds):
    """A benchmark record as Snakemake writes one for a job: wall and CPU seconds (this
    process's, which did nothing else meanwhile); memory and I/O not measured."""
    from snakemake.benchmark import BenchmarkRecord

    header = BenchmarkRecord.get_header(False)
    figures = {
        "s": f"{seconds:.4f}",
        "h:m:s": str(datetime.timedelta(seconds=round(seconds))),
        "cpu_time": f"{cpu_seconds:.2f}",
    }
    lines = ["\t".join(header), "\t".join(figures.get(k, "NA") for k in header)]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(f"{line}\n" for line in lines))


@contextlib.contextmanager
def package_log(path, first_line):
    """The package's log lines of a step run in this process, into that step's log file (as a
    job's, with the same format); not on Snakemake's terminal."""
    from ngff_resave.storage.redaction import RedactingFilter

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactingFilter())
    package = logging.getLogger("ngff_resave")
    saved = package.level, package.propagate
    package.setLevel(logging.INFO)
    package.propagate = False
    package.addHandler(handler)
    handler.stream.write(f"{first_line}\n")
    try:
        yield
    except Exception as err:
        # The last line names what went wrong, as a job's log does (results/failed.tsv).
        package.warning("traceback of the failure below", exc_info=err)
        package.error("%s: %s", type(err).__name__, err)
        raise
    finally:
        package.removeHandler(handler)
        handler.close()
        package.setLevel(saved[0])
        package.propagate = saved[1]


@functools.cache
def _plan(dataset, mtime):
    return read_plan(RESULTS / dataset / "plan.json")


def dataset_plan(dataset):
    return _plan(dataset, os.path.getmtime(RESULTS / dataset / "plan.json"))


# A pack of an earlier run whose datasets are done is named by the catalog (see
# catalog_inputs) but has nothing to do: the same inputs and params as when it ran, its
# members from its record, and its plans ancient, so that it is not run again.
def pack_plans(wildcards):
    members = work().packs.get(wildcards.pack)
    if members is None:
        return [ancient(plan) for plan in old_pack_plans(wildcards.pack)]
    return [f"results/{d}/plan.json" for d in members]


def old_pack_plans(pack):
    members = packing.recorded_members(RESULTS / "packs" / f"{pack}.json")
    return [f"results/{d}/plan.json" for d in members]


def pack_datasets(wildcards):
    members = work().packs.get(wildcards.pack)
    if members is None:
        members = packing.recorded_members(RESULTS / "packs" / f"{wildcards.pack}.json")
    return " ".join(members)


# The validation settings a job runs with: this run's, but for the job of a dataset done
# earlier (the old pack or validate record the catalog still names), those it ran with. So a
# weaker validate.mode asked later leaves it alone (Snakemake would rerun it for its changed
# params); a stronger one makes the dataset not done (records.outcomes.dataset_state), which
# gives it new jobs that validate it again.
def recorded_validation(record, key):
    recorded = (read_local_record(Path(record)) or {}).get("validate") or {}
    return recorded.get(key, config["validate"][key])


def validate_setting(key):
    def setting(wildcards):
        if work().split.get(wildcards.dataset) == wildcards.attempt:
            return config["validate"][key]
        return recorded_validation(
            RESULTS / wildcards.dataset / "validate" / f"{wildcards.attempt}.json", key
        )

    return setting


def pack_setting(key):
    def setting(wildcards):
        if wildcards.pack in work().packs:
            return config["validate"][key]
        return recorded_validation(RESULTS / "packs" / f"{wildcards.pack}.json", key)

    return setting


def pack_threads(wildcards):
    # Tiny packs run one thread each, so that several packs share the cores; the one job of a
    # run (a plate's thousands of tiny arrays, say) has them to itself.
    alone = len(work().packs) == 1 and not work().split
    return 2 if alone or work().pack_bytes(wildcards.pack) >= 64 * 2**20 else 1


# Resources grow with the attempt: a job killed for memory or time (or failed otherwise) is
# retried, when the profile allows retries, with as much again (see resources.job_memory_mb).
def plan_bytes(*datasets):
    """The size of these datasets' plan.json files (a loaded plan's memory grows with it)."""
    sizes = []
    for dataset in datasets:
        try:
            sizes.append(os.path.getsize(RESULTS / dataset / "plan.json"))
        except OSError:
            sizes.append(0)
    return sum(sizes)


def pack_mem_mb(wildcards, threads, attempt):
    datasets = work().packs.get(wildcards.pack, [])
    members = [work().entries[d] for d in datasets]
    remote = any(is_url(e.input) or is_url(e.output) for e in members)
    # One dataset is loaded at a time: its largest plan counts.
    largest = max((plan_bytes(d) for d in datasets), default=0)
    return job_resources.job_memory_mb(
        work().pack_shard_bytes(wildcards.pack), threads, remote, attempt, largest
    )


def pack_runtime(wildcards, attempt):
    return job_resources.job_runtime_minutes(
        2 * work().pack_bytes(wildcards.pack), attempt
    )


def convert_records(wildcards):
    jobs = work().entries[wildcards.dataset].jobs
    return [f"results/{wildcards.dataset}/convert/{job}.json" for job in jobs]


def convert_job(wildcards):
    return dataset_plan(wildcards.dataset).job(f"{wildcards.level}-{wildcards.part}")


def convert_mem_mb(wildcards, threads, attempt):
    plan = dataset_plan(wildcards.dataset)
    remote = is_url(plan.input) or is_url(plan.output)
    return job_resources.job_memory_mb(
        convert_job(wildcards).shard_bytes,
        threads,
        remote,
        attempt,
        plan_bytes(wildcards.dataset),
    )


def convert_runtime(wildcards, attempt):
    return job_resources.job_runtime_minutes(convert_job(wildcards).bytes, attempt)


def validate_mem_mb(wildcards, threads, attempt):
    entry = work().entries[wildcards.dataset]
    remote = is_url(entry.input) or is_url(entry.output)
    return job_resources.job_memory_mb(
        entry.shard_bytes, threads, remote, attempt, plan_bytes(wildcards.dataset)
    )


def metadata_mem_mb(wildcards, attempt):
    return job_resources.job_memory_mb(
        0, 1, False, attempt, plan_bytes(wildcards.dataset), base_mb=1000
    )


def validate_runtime(wildcards, attempt):
    return job_resources.job_runtime_minutes(
        2 * work().entries[wildcards.dataset].bytes, attempt
    )


def fixed_mem_mb(mem_mb):
    """A step's memory that does not depend on the data, grown like the others on retries."""
    return lambda wildcards, attempt: mem_mb * attempt


def fixed_runtime(minutes):
    return lambda wildcards, attempt: minutes * attempt


def attempt_of(wildcards, attempt):
    return attempt


# The first line of a job's log: which attempt this is and what it asked for, so that a job
# retried after SLURM killed it (for memory or time) says so.
ATTEMPT_LINE = (
    'echo "ngff-resave job, attempt {resources.attempt}: mem_mb {resources.mem_mb},'
    " runtime {resources.runtime} min"
    '$( [ {resources.attempt} -gt 1 ] && echo "; an earlier attempt failed (killed for'
    ' memory or time, or an error): retried with more")" >&2; '
)


def catalog_inputs(wildcards):
    """For each dataset the record of the job that gives its outcome: the pack or validate job
    of this run, or the job that did it, while that record is there, else its outcome. The set
    of inputs stays the same from run to run until there is new work, and new work always has a
    new record (Snakemake does not redo a missing record whose consumer is up to date). Rows
    that could not be planned are in the sheet plan."""
    current = work()
    pack_of = current.pack_of
    inputs = [SHEET_PLAN]
    for dataset, entry in current.entries.items():
        record = current.done.get(dataset)
        if dataset in pack_of:
            inputs.append(f"results/packs/{pack_of[dataset]}.json")
        elif dataset in current.split:
            inputs.append(f"results/{dataset}/validate/{current.split[dataset]}.json")
        elif record and os.path.exists(record) and old_record_usable(record):
            inputs.append(record)
        elif entry.plan_digest is not None:
            inputs.append(f"results/{dataset}/validation.json")
    return list(dict.fromkeys(inputs))


def old_pack_usable(record):
    """An old pack's record can stand for its done datasets while all its plans are there."""
    pack = Path(record).stem
    return all(os.path.exists(p) for p in old_pack_plans(pack))


def old_record_usable(record):
    return not record.startswith("results/packs/") or old_pack_usable(record)


def report_labels(page):
    """The columns of a dataset's row in the report (read when the report is built)."""

    def labels(wildcards):
        from ngff_resave.report.pages import report_labels as row_labels

        return row_labels(RESULTS, wildcards.dataset, page)

    return labels


def catalog_job(log, url_prefix, resources):
    """The `catalog` rule's work, in this process: the catalog and failed.tsv."""
    from ngff_resave.steps.catalog import catalog_step

    with package_log(log, in_process_line(resources)):
        logging.getLogger("ngff_resave").info("%s", catalog_step(RESULTS, url_prefix))


def report_pages_job(log, resources):
    """The `report_pages` rule's work, in this process: results/report/."""
    from ngff_resave.report.pages import write_report_pages

    with package_log(log, in_process_line(resources)):
        write_report_pages(RESULTS)


def in_process_line(resources):
    """The first line of the log of a job run in this process, like ATTEMPT_LINE's."""
    return (
        f"ngff-resave job, attempt {resources.attempt}: in the Snakemake process"
        f" (pid {os.getpid()})"
    )


@functools.cache
def start_of_run():
    """The run's record, which its jobs claim outputs with (see ownership.Run): made once, by
    whichever comes first, the sheet's planning in this process or the run's start."""
    ownership.Run.start(RESULTS, config["overwrite"])


def end_of_run(snakemake_log, crashed):
    """The catalog (also when jobs died) and the summary the run ends with. A run in which any
    dataset failed exits non-zero, the summary its last words (no traceback: each failure's
    reason is in it, and in results/failed.tsv)."""
    cancel_scheduler_timers()
    # The process's last garbage collections would walk every object Snakemake and the
    # package made (half a second); frozen at exit, they are left to the operating system.
    atexit.register(gc.freeze)
    ownership.Run.end(RESULTS)
    catalog = RESULTS / "catalog.csv"
    if crashed:
        if read_sheet_plan(SHEET_PLAN) is None:
            return
        from ngff_resave.report.catalog import write_run_catalog
        from ngff_resave.report.failures import crashed_jobs
        from ngff_resave.report.pages import write_report_pages

        try:
            members = work().packs
        except Exception:  # the sheet was never planned in this run
            members = {}
        dead = crashed_jobs(snakemake_log, members)
        # A job killed outright cannot put back what it replaced in place: done here.
        from ngff_resave.records.originals import put_back_after_crash

        for dataset in put_back_after_crash(RESULTS, dead):
            logger.warning(
                f"{dataset}: its job died; the input's documents are put back"
            )
        ok, text = write_run_catalog(RESULTS, config["catalog"]["url_prefix"], dead)
        # Written outside any job: dated before the sheet plan, so the next run makes it
        # again (and with it the work it is missing).
        older = os.path.getmtime(SHEET_PLAN) - 1
        os.utime(catalog, (older, older))
        # The report then shows this run too, the datasets whose jobs died included.
        try:
            write_report_pages(RESULTS)
        except Exception as err:  # the summary below matters more than the pages
            logger.warning(f"the report's pages were not written: {err}")
        logs = snakemake_log if isinstance(snakemake_log, list) else [snakemake_log]
        logs = [str(path) for path in logs if path]
        if logs:
            text += f"\n  Snakemake's log of this run: {', '.join(logs)}"
    elif catalog.exists() and catalog.stat().st_mtime >= RUN_STARTED:
        from ngff_resave.report.catalog import read_run_summary

        ok, text = read_run_summary(RESULTS)
    else:
        return
    print(text, file=sys.stderr)
    if crashed or not ok:
        # Ends the run here, non-zero: a raised error would add Snakemake's traceback.
        sys.exit(1)


class NothingToDo(logging.Filter):
    """Snakemake says there is nothing to be done and returns, without onstart or
    onsuccess: the run then ends with the catalog's summary, when the process exits."""

    def filter(self, record):
        if record.getMessage() == NOTHING_TO_BE_DONE_MSG and not workflow.dryrun:
            # Snakemake goes back to where it was started (--directory) before the exit.
            atexit.register(summary_of_the_catalog, os.getcwd())
        return True


def summary_of_the_catalog(workdir):
    """The end of a run that had nothing to do: the catalog's summary, as the last run left it."""
    os.chdir(workdir)
    if not (RESULTS / "catalog.csv").exists():
        return
    from ngff_resave.report.catalog import read_run_summary

    try:
        text = read_run_summary(RESULTS, ran=False)[1]
    except Exception as err:  # no reason to fail a run that had nothing to do
        text = f"ngff-resave: nothing to do; {RESULTS / 'catalog.csv'} could not be read: {err}"
    print(text, file=sys.stderr)


if workflow.is_main_process:
    logger.addFilter(NothingToDo())


def cancel_scheduler_timers():
    """Snakemake's scheduler starts a timer after each round of job selection, to look again
    when its job rate limit (--max-jobs-per-timespan, 100/1s by default) allows more: a
    thread that the process waits for at its exit. Once the jobs are over those timers have
    nothing left to do but hold the finished run for up to a second, so they go."""
    import threading

    for thread in threading.enumerate():
        function = getattr(thread, "function", None)
        if isinstance(thread, threading.Timer) and "_schedule_reevalutation" in getattr(
            function, "__qualname__", ""
        ):
            thread.cancel()
