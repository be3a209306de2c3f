import functools
import json
import os
import shlex
import sys
import time
from pathlib import Path

import pandas as pd

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake_interface_executor_plugins.settings import DeploymentMethod
from snakemake.utils import validate

# The workflow's logic lives in the package next to it; no install needed to run it.
PACKAGE_SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(PACKAGE_SRC))

from ngff_resave.arrays import resources as job_resources  # noqa: E402
from ngff_resave.model import patterns  # noqa: E402
from ngff_resave.model.plan import digest, read_plan, read_sheet_plan  # noqa: E402
from ngff_resave.records import outcomes, ownership  # noqa: E402
from ngff_resave.report import catalog as run_catalog  # noqa: E402
from ngff_resave.report import failures  # noqa: E402
from ngff_resave.report import pages as report_pages  # noqa: E402
from ngff_resave.sheet import packing  # noqa: E402
from ngff_resave.sheet import settings as sample_sheet  # noqa: E402
from ngff_resave.sheet.plan import sheet_attempt  # noqa: E402
from ngff_resave.storage import is_url  # noqa: E402

RUN_STARTED = time.time()
RESULTS = Path("results")
LATEST_SHEET_PLAN = "results/plan.json"

validate(config, "../schemas/config.schema.yaml")
try:
    SAMPLES = sample_sheet.load_samples(config, Path.cwd())
except sample_sheet.SheetError as err:
    raise WorkflowError(str(err)) from None
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
    states = {e.dataset: outcomes.dataset_state(RESULTS, e) for e in sheet.entries}
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
    return _work(
        os.path.getmtime(checkpoints.plan.get(attempt=SHEET_ATTEMPT).output.plan)
    )


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


def pack_threads(wildcards):
    # Tiny packs run one thread each, so that several packs share the cores.
    return 1 if work().pack_bytes(wildcards.pack) < 64 * 2**20 else 2


# Resources grow with the attempt: a job killed for memory or time (or failed otherwise) is
# retried, when the profile allows retries, with as much again (see resources.job_memory_mb).
def pack_mem_mb(wildcards, threads, attempt):
    members = [work().entries[d] for d in work().packs.get(wildcards.pack, [])]
    remote = any(is_url(e.input) or is_url(e.output) for e in members)
    return job_resources.job_memory_mb(
        work().pack_shard_bytes(wildcards.pack), threads, remote, attempt
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
        convert_job(wildcards).shard_bytes, threads, remote, attempt
    )


def convert_runtime(wildcards, attempt):
    return job_resources.job_runtime_minutes(convert_job(wildcards).bytes, attempt)


def validate_mem_mb(wildcards, threads, attempt):
    entry = work().entries[wildcards.dataset]
    remote = is_url(entry.input) or is_url(entry.output)
    return job_resources.job_memory_mb(entry.shard_bytes, threads, remote, attempt)


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
    return lambda wildcards: report_pages.report_labels(
        RESULTS, wildcards.dataset, page
    )


def url_prefix_option():
    prefix = config["catalog"]["url_prefix"]
    return f"--url-prefix {shlex.quote(prefix)}" if prefix else ""


def start_of_run():
    """The run's record, which its jobs claim outputs with (see ownership.Run)."""
    ownership.Run.start(RESULTS, config["overwrite"])


def end_of_run(snakemake_log, crashed):
    """The catalog (also when jobs died) and the summary the run ends with; a run in which any
    dataset failed ends with an error."""
    ownership.Run.end(RESULTS)
    catalog = RESULTS / "catalog.csv"
    if crashed:
        if read_sheet_plan(SHEET_PLAN) is None:
            return
        try:
            members = work().packs
        except Exception:  # the sheet was never planned in this run
            members = {}
        dead = failures.crashed_jobs(snakemake_log, members)
        ok, text = run_catalog.write_run_catalog(
            RESULTS, config["catalog"]["url_prefix"], dead
        )
        # Written outside any job: dated before the sheet plan, so the next run makes it
        # again (and with it the work it is missing).
        older = os.path.getmtime(SHEET_PLAN) - 1
        os.utime(catalog, (older, older))
        # The report then shows this run too, the datasets whose jobs died included.
        try:
            report_pages.write_report_pages(RESULTS)
        except Exception as err:  # the summary below matters more than the pages
            logger.warning(f"the report's pages were not written: {err}")
    elif catalog.exists() and catalog.stat().st_mtime >= RUN_STARTED:
        ok, text = run_catalog.read_run_summary(RESULTS)
    else:
        return
    print(text, file=sys.stderr)
    if not ok and not crashed:
        raise WorkflowError(f"some datasets failed: see {RESULTS / 'failed.tsv'}")
