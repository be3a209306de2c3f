import json
import shlex
import sys
from pathlib import Path

import pandas as pd

from snakemake.exceptions import WorkflowError
from snakemake_interface_executor_plugins.settings import DeploymentMethod
from snakemake.utils import validate

# The workflow's logic lives in the package next to it; no install needed to run it.
PACKAGE_SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(PACKAGE_SRC))

from ngff_resave import failures, planning  # noqa: E402
from ngff_resave import sheet as sample_sheet  # noqa: E402

validate(config, "../schemas/config.schema.yaml")
try:
    SAMPLES = sample_sheet.load_samples(config, Path.cwd())
except sample_sheet.SheetError as err:
    raise WorkflowError(str(err)) from None
# The checked rows once more through Snakemake's own validator (absent cells are NaN).
validate(pd.DataFrame(list(SAMPLES.values())), "../schemas/samples.schema.yaml")
DATASETS = list(SAMPLES)

# Every job runs the package as a module (`python -m ngff_resave`): under --sdm conda with
# the env's python, else with the python Snakemake itself runs in (found first on PATH).
_job_path = ""
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    _job_path = f"export PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH; "
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(str(PACKAGE_SRC))}; {_job_path}"
)


wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9_.-]*",
    level="[0-9]+",
    part="[0-9]+",


def plan_settings(wildcards):
    row = SAMPLES[wildcards.dataset]
    settings = sample_sheet.plan_settings(row, config, Path.cwd())
    return sample_sheet.settings_json(settings, config["overwrite"])


def load_plan(dataset):
    return json.loads(
        Path(checkpoints.plan.get(dataset=dataset).output.plan).read_text()
    )


def convert_records(wildcards):
    plan = load_plan(wildcards.dataset)
    return [
        f"results/{wildcards.dataset}/convert/{job['id']}.json" for job in plan["jobs"]
    ]


def convert_job(wildcards):
    plan = json.loads(Path(f"results/{wildcards.dataset}/plan.json").read_text())
    return planning.job_by_id(plan, f"{wildcards.level}-{wildcards.part}")


def convert_mem_mb(wildcards, threads):
    return planning.job_memory_mb(convert_job(wildcards), threads)


def convert_runtime(wildcards):
    return planning.job_runtime_minutes(convert_job(wildcards))


def validate_mem_mb(wildcards, threads):
    plan = json.loads(Path(f"results/{wildcards.dataset}/plan.json").read_text())
    largest = max(a["shard_bytes"] for a in plan["arrays"])
    return planning.job_memory_mb({"shard_bytes": largest}, threads)


def validate_runtime(wildcards):
    plan = json.loads(Path(f"results/{wildcards.dataset}/plan.json").read_text())
    return planning.job_runtime_minutes({"bytes": 2 * plan["bytes"]})


def url_prefix_option():
    prefix = config["catalog"]["url_prefix"]
    return f"--url-prefix {shlex.quote(prefix)}" if prefix else ""


def record_failures(snakemake_log):
    failures.write_failed_tsv(snakemake_log, "results/failed.tsv")


def clear_failures():
    Path("results/failed.tsv").unlink(missing_ok=True)
