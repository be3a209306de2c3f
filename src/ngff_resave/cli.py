"""Command line: one subcommand per workflow step, so every rule is a short shell line and every
step runs (and is tested) without Snakemake."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ngff_resave import __version__

LOG = logging.getLogger("ngff_resave")


def _load_json(path: str) -> Any:
    return json.loads(Path(path).read_text())


def cmd_plan(args: argparse.Namespace) -> int:
    from ngff_resave.ome_models import metadata_problems
    from ngff_resave.planning import PlanError, PlanSettings, make_plan, prepare_output
    from ngff_resave.source import SourceError, read_source
    from ngff_resave.storage import Location, write_local_json

    values = json.loads(args.settings)
    overwrite = bool(values.pop("overwrite", False))
    settings = PlanSettings(**values)
    source = Location.from_text(settings.input, settings.input_storage)
    if not source.exists():
        raise SourceError(settings.dataset, settings.input, "does not exist")
    layout = read_source(source, settings.dataset)
    problems = metadata_problems(layout.groups)
    if problems:
        raise PlanError(f"dataset '{settings.dataset}': {settings.input}: the converted metadata "
                        "would not be valid OME-Zarr 0.5: " + "; ".join(problems))
    plan = make_plan(layout, settings)
    prepare_output(settings, overwrite)
    write_local_json(args.plan, plan)
    LOG.info("%s: %s, %d arrays, %d images, %d convert jobs, %.1f MB of pixels", plan["dataset"],
             plan["kind"], len(plan["arrays"]), len(plan["images"]), len(plan["jobs"]),
             plan["bytes"] / 1e6)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from ngff_resave.convert import run_convert_job

    run_convert_job(_load_json(args.plan), args.job, args.record, threads=args.threads)
    return 0


def cmd_metadata(args: argparse.Namespace) -> int:
    from ngff_resave.metadata import write_metadata
    from ngff_resave.storage import write_local_json

    write_local_json(args.record, write_metadata(_load_json(args.plan)))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from ngff_resave.storage import Location, write_local_json
    from ngff_resave.validation import validate_dataset

    plan = _load_json(args.plan)
    report = validate_dataset(plan, args.mode, args.sample_chunks, args.seed, args.threads)
    result = report.to_json()
    write_local_json(args.report, result)
    if args.log_report:
        write_local_json(args.log_report, result)
    if not report.valid:
        # An invalid output stops looking complete, and the records of the steps that made the
        # failed parts go, so the next run redoes them: metadata only, or the arrays as well.
        Location.from_text(plan["output"], plan.get("output_storage")).delete("zarr.json")
        arrays_failed = any(c.startswith(("array ", "file ")) for c in result["failed"])
        stale = [args.metadata_record, *(args.convert_records if arrays_failed else [])]
        for record in filter(None, stale):
            Path(record).unlink(missing_ok=True)
        LOG.error("dataset '%s': %s is NOT valid (failed: %s); the next run redoes %s",
                  report.dataset, plan["output"], "; ".join(result["failed"]),
                  "its conversion" if arrays_failed else "its metadata")
        return 1
    LOG.info("dataset '%s' is valid (%d checks)", report.dataset, len(report.checks))
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from ngff_resave.catalog import build_catalog, write_catalog

    datasets = [Path(p).parent.name for p in args.reports]
    frame = build_catalog(Path(args.results), datasets, args.url_prefix)
    write_catalog(frame, args.output)
    LOG.info("catalog of %d datasets: %s", len(frame), args.output)
    return 0


def cmd_details(args: argparse.Namespace) -> int:
    from ngff_resave.planning import write_details

    Path(args.output).write_text(json.dumps(write_details(_load_json(args.plan)), indent=2))
    return 0


def cmd_example(args: argparse.Namespace) -> int:
    from ngff_resave.examples import write_examples

    for dataset, path in write_examples(Path(args.folder)).items():
        LOG.info("example dataset %s: %s", dataset, path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ngff-resave", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plan", help="read an input's layout and write its plan")
    p.add_argument("--settings", required=True, help="JSON of the row's settings")
    p.add_argument("--plan", required=True, help="plan.json to write")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("convert", help="write the shards of one convert job")
    p.add_argument("--plan", required=True)
    p.add_argument("--job", required=True, help="job id {level}-{part}")
    p.add_argument("--record", required=True, help="job record JSON to write")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("metadata", help="write group zarr.json files, RO-Crate, root last")
    p.add_argument("--plan", required=True)
    p.add_argument("--record", required=True)
    p.set_defaults(func=cmd_metadata)

    p = sub.add_parser("validate", help="validate a converted dataset")
    p.add_argument("--plan", required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--mode", choices=["full", "sample"], default="full")
    p.add_argument("--sample-chunks", type=int, default=8)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--log-report", default=None,
                   help="a copy of the report that outlives a failed job (a log file)")
    p.add_argument("--metadata-record", default=None,
                   help="removed when the dataset is not valid")
    p.add_argument("--convert-records", nargs="*", default=[],
                   help="removed when an array of the dataset is not valid")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("catalog", help="write the catalog CSV")
    p.add_argument("--results", required=True, help="the results folder")
    p.add_argument("--output", required=True)
    p.add_argument("--url-prefix", default=None)
    p.add_argument("reports", nargs="*", help="results/{dataset}/validation.json files")
    p.set_defaults(func=cmd_catalog)

    p = sub.add_parser("details", help="a plan's chunks/shards as a challenge details JSON")
    p.add_argument("--plan", required=True)
    p.add_argument("--output", required=True)
    p.set_defaults(func=cmd_details)

    p = sub.add_parser("example", help="write the example OME-Zarr 0.4 datasets")
    p.add_argument("folder")
    p.set_defaults(func=cmd_example)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except (ValueError, OSError, RuntimeError) as err:
        # The traceback for whoever debugs it, then one last line naming dataset and path,
        # which results/failed.tsv quotes.
        LOG.warning("traceback of the failure below", exc_info=err)
        LOG.error("%s: %s", type(err).__name__, err)
        return 2
