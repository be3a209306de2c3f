from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ngff_resave.cli.examples import write_examples
from ngff_resave.planning.dataset import PlanSettings
from ngff_resave.steps.pack import DatasetRun
from ngff_resave.storage import LocalLocation

REPO = Path(__file__).resolve().parents[1]
CHALLENGE_FIXTURES = REPO.parent / "shared" / "fixtures" / "ome2024-ngff-challenge"
FIXTURE_KINDS = {"2d": "image", "bf2raw": "bioformats2raw", "hcs": "bioformats2raw-plate"}
LICENSE = "https://creativecommons.org/licenses/by/4.0/"


@pytest.fixture(scope="session")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The project's own example datasets, made once per session (never modified by tests)."""
    return write_examples(tmp_path_factory.mktemp("examples"))


@pytest.fixture(scope="session")
def challenge_fixtures() -> Path:
    if not CHALLENGE_FIXTURES.is_dir():
        pytest.skip(f"{CHALLENGE_FIXTURES} not present (only in the project's CI checkout)")
    return CHALLENGE_FIXTURES


@pytest.fixture
def flip_written_byte(monkeypatch: pytest.MonkeyPatch):
    """Damage on the way to the disk: ``flip(suffix, offset)`` makes every local write of a
    file whose key ends with ``suffix`` store byte ``offset`` inverted, as a bad disk or
    transfer would, while the writer believes it wrote what it meant to."""
    write_parts = LocalLocation.write_parts

    def flip(suffix: str, offset: int) -> None:
        def flipping(self: LocalLocation, path: str, parts: Any) -> None:
            data = bytearray(b"".join(parts))
            if path.endswith(suffix):
                data[offset] ^= 0xFF
            write_parts(self, path, [bytes(data)])

        monkeypatch.setattr(LocalLocation, "write_parts", flipping)

    return flip


@pytest.fixture
def example_copy(examples: dict[str, Path], tmp_path: Path):
    """A private copy of one example, for tests that damage their input."""

    def copy(dataset: str) -> Path:
        target = tmp_path / "inputs" / examples[dataset].name
        shutil.copytree(examples[dataset], target)
        return target

    return copy


def settings_for(
    dataset: str, source: Path | str, output: Path | str, **extra: Any
) -> PlanSettings:
    crate = {"license": LICENSE, "organism": "NCBI:txid9606", "modality": "obo:FBbi_00000369"}
    return PlanSettings(
        dataset=dataset,
        input=str(source),
        output=str(output),
        crate=extra.pop("crate", crate),
        **extra,
    )


def snakemake_command(workdir: Path) -> list[str]:
    """The command line of a user's run in ``workdir`` (its config.yaml, two cores)."""
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
        "2",
    ]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the workflow like a user: the Snakefile of this checkout, another working directory."""
    command = [*snakemake_command(workdir), *args]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}"
            f"\n{result.stderr[-6000:]}"
        )
    return result


# What differs between two conversions of the same input: when they ran (the challenge's
# statistics in each array's zarr.json, the crate's publication date), and the claim file,
# which names the run. Packed and split runs also use other thread counts.
STATS_TIMES = ("start", "stop", "elapsed")
STATS_RUN = (*STATS_TIMES, "threads")


def without_times(path: Path, blanked: tuple[str, ...] = STATS_TIMES) -> bytes:
    """A file's bytes, its conversion time stamps (or the other ``blanked`` statistics)
    blanked."""
    data = path.read_bytes()
    if path.name == "zarr.json":
        document = json.loads(data)
        stats = document.get("attributes", {}).get("_ome2024_ngff_challenge_stats")
        if not stats:
            return data
        stats.update(dict.fromkeys(blanked, 0))
        return json.dumps(document).encode()
    if path.name == "ro-crate-metadata.json":
        crate = json.loads(data)
        for entity in crate["@graph"]:
            entity.pop("datePublished", None)
        return json.dumps(crate).encode()
    return data


def tree_bytes(root: Path, blanked: tuple[str, ...] = STATS_TIMES) -> dict[str, bytes]:
    """Every file of an output but its claim, time stamps blanked."""
    return {
        str(p.relative_to(root)): without_times(p, blanked)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".ngff-resave.json"
    }


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def run_pipeline(
    settings: PlanSettings, results: Path, threads: int = 2, mode: str = "full"
) -> DatasetRun:
    """One dataset through every step, as the package runs them (planning checks included)."""
    from ngff_resave.steps.pack import convert_dataset

    return convert_dataset(
        settings, results, threads=threads, mode=mode, seed=1, progress_interval=0.0
    )


def convert_row(
    tmp_path: Path, source: Path | str, output: Path, **settings: Any
) -> dict[str, str]:
    """Plan one row (dataset ``d``), convert it as a pack does, write the catalog: its row."""
    import pandas as pd

    from ngff_resave.report.catalog import write_run_catalog
    from ngff_resave.sheet.plan import plan_sheet
    from ngff_resave.steps.pack import run_dataset

    results = tmp_path / "results"
    results.mkdir(parents=True, exist_ok=True)
    sheet = plan_sheet([settings_for("d", source, output, **settings)], results)
    (results / "plan.json").write_bytes(sheet.to_bytes())
    if sheet.entries[0].plan_digest is not None:
        run_dataset("d", results, tmp_path / "logs", 1, "full", 8).write(results)
    write_run_catalog(results, None)
    catalog = pd.read_csv(results / "catalog.csv", dtype=str, keep_default_na=False)
    return dict(catalog.to_dict(orient="records")[0])


PYTHON_312 = Path.home() / ".pyenv" / "versions" / "3.12.1" / "bin" / "python"


@pytest.fixture(scope="session")
def venv_312(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This package installed under Python 3.12, where pyproject pins ome-zarr-models 1.8."""
    if not PYTHON_312.exists():
        pytest.skip(f"no Python 3.12 here ({PYTHON_312}); ome-zarr-models 1.8 needs it")
    venv = tmp_path_factory.mktemp("venv312")
    subprocess.run([PYTHON_312, "-m", "venv", venv], check=True, timeout=300)
    subprocess.run(
        [venv / "bin" / "pip", "install", "--quiet", "--editable", REPO],
        check=True,
        timeout=900,
        capture_output=True,
    )
    return venv / "bin" / "python"


VALIDATE_312 = """
import json, sys
from pathlib import Path
import ome_zarr_models
from ngff_resave.checks.validation import validate_dataset
from ngff_resave.steps import load_plan
plan, _ = load_plan(Path(sys.argv[1]))
report = validate_dataset(plan.model_copy(update={"output": sys.argv[2]}))
print(json.dumps({"version": ome_zarr_models.__version__, "checks": report.checks}))
"""


def checks_on_python_3_12(python: Path, plan: Path, output: Path) -> list[dict[str, Any]]:
    """The validation checks of a converted dataset, run under Python 3.12 with
    ome-zarr-models 1.8 (whose v06 classes then check a 0.6 output)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [python, "-c", VALIDATE_312, plan, output],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=plan.parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["version"].startswith("1.8")
    return list(found["checks"])
