"""`make bench`, the version table: OME-Zarr written by other tools (and by this workflow),
converted to 0.5 and 0.6, and Zarr v3 inputs (0.5, 0.6 and 0.6's pre-releases) made 0.6 in
place, each validated as a run validates it (`validate.mode: full`). Prints a Markdown table and
writes bench/versions-results.md.

Inputs, each made here by the tool named (or found where the project keeps it):

* bioformats2raw: the shared fixtures ``../shared/fixtures/ome2024-ngff-challenge`` (0.4;
  left out when that folder is not there);
* the 2024 challenge's ``resave``: its output of those fixtures, ``tests/data/challenge-0.5``
  (0.5, each with its RO-Crate);
* ome-zarr-py 0.18: an image with labels and a plate (0.4);
* ngff-zarr 0.50: an image in 0.4, 0.5 and 0.6 (unsharded, its default, and sharded);
* this workflow: the project's example image with labels and plate, converted to 0.5 and to
  0.6; its 0.6 image with labels rewritten as each pre-release of 0.6 spells it (``0.6.dev3``:
  ``input``/``output`` strings; ``0.6.dev4``, ``0.6rc0``: the tag).

Each cell is what the run gave: ``valid`` with its seconds, or the one-line reason it failed or
was refused (paths shown relative to the work folder). Puts the table between docs/versions.md's
``<!-- bench-versions:start -->`` and ``<!-- bench-versions:end -->`` markers when both are there
(``--readme`` names another file).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:  # run as `python bench/versions.py` or imported by the tests
    sys.path.insert(0, str(HERE))

from scale import update_readme  # noqa: E402

README_START, README_END = "<!-- bench-versions:start -->", "<!-- bench-versions:end -->"
SHARED = REPO.parent / "shared" / "fixtures" / "ome2024-ngff-challenge"
CHALLENGE = REPO / "tests" / "data" / "challenge-0.5"
CRATE = {"license": "https://creativecommons.org/licenses/by/4.0/"}


@dataclass
class Input:
    writer: str
    name: str
    path: Path
    version: str


def _ome_zarr_py(folder: Path) -> list[Input]:
    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.format import FormatV04
        from ome_zarr.writer import (
            write_image,
            write_labels,
            write_plate_metadata,
            write_well_metadata,
        )

    rng = np.random.default_rng(1)
    image = folder / "ome-zarr-py-image.ome.zarr"
    group = zarr.open_group(str(image), mode="w", zarr_format=2)
    write_image(rng.integers(0, 4096, (2, 128, 128), dtype=np.uint16), group, axes="cyx",
                fmt=FormatV04(), scale_factors=(2,))
    labels = np.kron(rng.integers(0, 4, (8, 8), dtype=np.uint8), np.ones((16, 16), np.uint8))
    write_labels(labels, group, name="cells", axes="yx", fmt=FormatV04(), scaler=None,
                 scale_factors=(2,))
    plate = folder / "ome-zarr-py-plate.ome.zarr"
    root = zarr.open_group(str(plate), mode="w", zarr_format=2)
    wells = ["A/1", "A/2", "B/1"]
    write_plate_metadata(root, ["A", "B"], ["1", "2"], wells, fmt=FormatV04())
    for well in wells:
        well_group = root.require_group(well)
        write_well_metadata(well_group, ["0"], fmt=FormatV04())
        write_image(rng.integers(0, 255, (1, 64, 64), dtype=np.uint8),
                    well_group.require_group("0"), axes="cyx", fmt=FormatV04(),
                    scale_factors=(2,))
    return [
        Input("ome-zarr-py 0.18", "image with labels", image, "0.4"),
        Input("ome-zarr-py 0.18", "plate", plate, "0.4"),
    ]


def _ngff_zarr(folder: Path) -> list[Input]:
    import ngff_zarr

    rng = np.random.default_rng(2)
    values = rng.integers(0, 4096, (2, 128, 128), dtype=np.uint16)
    image = ngff_zarr.to_ngff_image(values, dims=["c", "y", "x"])
    multiscales = ngff_zarr.to_multiscales(image, scale_factors=[2])
    found = []
    for version in ("0.4", "0.5", "0.6"):
        path = folder / f"ngff-zarr-{version}.ome.zarr"
        ngff_zarr.to_ngff_zarr(str(path), multiscales, version=version)
        found.append(Input("ngff-zarr 0.50", "image", path, version))
    path = folder / "ngff-zarr-0.6-sharded.ome.zarr"
    ngff_zarr.to_ngff_zarr(str(path), multiscales, version="0.6", chunks_per_shard=2)
    found.append(Input("ngff-zarr 0.50", "image, sharded", path, "0.6"))
    return found


def _pre_release(source: Path, target: Path, tag: str) -> Path:
    """A copy of a released 0.6 dataset with its group documents as ``tag`` spells them."""
    import json

    shutil.copytree(source, target)
    for document_path in target.rglob("zarr.json"):
        document = json.loads(document_path.read_text())
        ome = document.get("attributes", {}).get("ome")
        if not isinstance(ome, dict):
            continue
        ome["version"] = tag
        for multiscale in ome.get("multiscales", []) if tag == "0.6.dev3" else []:
            for dataset in multiscale["datasets"]:
                for transform in dataset["coordinateTransformations"]:
                    transform["input"] = transform["input"]["path"]
                    transform["output"] = transform["output"]["name"]
        document_path.write_text(json.dumps(document))
    return target


def _challenge() -> list[Input]:
    return [
        Input("ome2024-ngff-challenge resave 1.0.3", name, CHALLENGE / f"{name}.zarr", "0.5")
        for name in ("2d", "bf2raw", "hcs")
    ]


def _bioformats2raw() -> list[Input]:
    if not SHARED.is_dir():
        return []
    return [
        Input("bioformats2raw", name, SHARED / f"{name}.zarr", "0.4")
        for name in ("2d", "bf2raw", "hcs")
    ]


def _ours(folder: Path) -> list[Input]:
    from ngff_resave.cli.examples import write_image_with_labels, write_plate

    found = []
    for name, write in (("image with labels", write_image_with_labels), ("plate", write_plate)):
        source = folder / f"example-{name.replace(' ', '-')}.zarr"
        write(source)
        for version in ("0.5", "0.6"):
            output = folder / f"ngff-resave-{name.replace(' ', '-')}-{version}.ome.zarr"
            # A run of its own, ended, as an archive's earlier conversion would be (a run still
            # going holds its outputs: the in-place upgrade below would be refused).
            subprocess.run(
                [sys.executable, "-m", "ngff_resave", "convert", str(source), str(output),
                 "--cc-by", "--ngff-version", version],
                cwd=folder,
                check=True,
                capture_output=True,
                timeout=600,
            )
            found.append(Input("ngff-resave (this workflow)", name, output, version))
    released = found[1].path
    for tag in ("0.6.dev3", "0.6.dev4", "0.6rc0"):
        copy = _pre_release(released, folder / f"ngff-resave-{tag}.ome.zarr", tag)
        found.append(Input("ngff-resave, rewritten as the pre-release", "image with labels",
                           copy, tag))
    return found


def _convert(
    source: Path, output: Path, results: Path, dataset: str = "d", **settings: object
) -> str:
    from ngff_resave.planning.dataset import PlanSettings
    from ngff_resave.steps.pack import convert_dataset

    plan_settings = PlanSettings(
        dataset=dataset, input=str(source), output=str(output), crate=dict(CRATE), **settings
    )
    shutil.rmtree(results, ignore_errors=True)
    try:
        run = convert_dataset(plan_settings, results, threads=2, progress_interval=0.0)
    except Exception as err:  # noqa: BLE001 - the table reports every outcome
        return "refused: " + " ".join(str(err).split())[:200]
    if run.report.valid:
        return "valid"
    return "invalid: " + "; ".join(run.report.failed)[:160]


def _cell(source: Path, output: Path, results: Path, dataset: str = "d", **settings: object) -> str:
    """One conversion, as the table shows it."""
    started = time.monotonic()
    outcome = _convert(source, output, results, dataset, **settings)
    if outcome == "valid":
        return f"valid ({time.monotonic() - started:.2f} s)"
    return outcome.replace("|", "/")


def version_table(work: Path) -> str:
    inputs_folder = work / "inputs"
    inputs_folder.mkdir(parents=True)
    inputs = [
        *_bioformats2raw(),
        *_challenge(),
        *_ome_zarr_py(inputs_folder),
        *_ngff_zarr(inputs_folder),
        *_ours(inputs_folder),
    ]
    lines = [
        "| written by | dataset | input | to 0.5 | to 0.6 | to 0.6 in place |",
        "|---|---|---|---|---|---|",
    ]
    for number, item in enumerate(inputs):
        cells = []
        for version in ("0.5", "0.6"):
            out = work / f"{number}-{version}.ome.zarr"
            cells.append(_cell(item.path, out, work / "r", ngff_version=version))
        if item.version != "0.4":
            copy = work / f"{number}-in-place.ome.zarr"
            shutil.copytree(item.path, copy)
            cells.append(
                _cell(copy, copy, work / "r", "upgraded", ngff_version="0.6", mode="reference",
                      in_place=True)
            )
        else:
            cells.append("(not Zarr v3)")
        row = f"| {item.writer} | {item.name} | {item.version} | " + " | ".join(cells) + " |"
        lines.append(row.replace(f"{work}/", ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=HERE / "cache" / "versions")
    parser.add_argument("--output", type=Path, default=HERE / "versions-results.md")
    parser.add_argument("--readme", type=Path, default=REPO / "docs" / "versions.md",
                        help="page to update between its markers")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    shutil.rmtree(args.work, ignore_errors=True)
    # The converter's relative paths (results, logs) land in the work folder.
    args.work.mkdir(parents=True)
    with contextlib.chdir(args.work):
        table = version_table(args.work)
    text = (
        f"Run of {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores; `validate.mode: full`.\n\n{table}\n"
    )
    args.output.write_text(text)
    update_readme(args.readme, text, README_START, README_END)
    print(text)


if __name__ == "__main__":
    main()
