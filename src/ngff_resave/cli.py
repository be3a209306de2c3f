"""Command line: one subcommand per workflow step, so every rule is a short shell line. This
module only parses arguments; each step lives in :mod:`ngff_resave.steps`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ngff_resave import __version__

LOG = logging.getLogger("ngff_resave")


def cmd_plan(args: argparse.Namespace) -> int:
    from ngff_resave.steps.plan import plan_step

    plan_step(
        args.config,
        Path(args.results),
        Path(args.output),
        args.attempt,
        args.inputs_digest,
        args.threads,
    )
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from ngff_resave.steps.pack import run_pack

    run_pack(
        args.datasets,
        Path(args.record),
        Path(args.results),
        Path(args.logs),
        args.threads,
        args.mode,
        args.sample_chunks,
    )
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from ngff_resave.steps.convert import convert_step

    convert_step(Path(args.plan), args.job, Path(args.record), args.threads)
    return 0


def cmd_metadata(args: argparse.Namespace) -> int:
    from ngff_resave.steps.metadata import metadata_step

    metadata_step(Path(args.plan), Path(args.record), Path(args.results), args.convert_records)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from ngff_resave.steps.validate import validate_step

    validate_step(
        Path(args.plan),
        Path(args.record),
        Path(args.results),
        Path(args.logs),
        Path(args.metadata_record),
        args.mode,
        args.sample_chunks,
        args.threads,
    )
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from ngff_resave.steps.catalog import catalog_step

    LOG.info("%s", catalog_step(Path(args.results), args.url_prefix))
    return 0


def cmd_details(args: argparse.Namespace) -> int:
    from ngff_resave.steps.details import details_step

    details_step(Path(args.plan), Path(args.output))
    return 0


def cmd_example(args: argparse.Namespace) -> int:
    from ngff_resave.examples import write_examples

    for dataset, path in write_examples(Path(args.folder)).items():
        LOG.info("example dataset %s: %s", dataset, path)
    return 0


def _validation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=["full", "sample"], default="full")
    parser.add_argument("--sample-chunks", type=int, default=8)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ngff-resave", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plan", help="plan every row of the sheet (the sheet plan)")
    p.add_argument("--config", required=True, help="JSON of the workflow's config")
    p.add_argument("--results", required=True, help="the results folder")
    p.add_argument("--output", required=True, help="the sheet plan to write")
    p.add_argument("--attempt", required=True, help="the name of this sheet plan")
    p.add_argument("--inputs-digest", required=True, help="digest of sheet, details, config")
    p.add_argument("--threads", type=int, default=1, help="rows planned at once")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("pack", help="convert, finish and validate a pack of small datasets")
    p.add_argument("--record", required=True, help="the pack's record to write, last")
    p.add_argument("--results", required=True)
    p.add_argument("--logs", required=True)
    p.add_argument("--threads", type=int, default=1)
    _validation_options(p)
    p.add_argument("datasets", nargs="+")
    p.set_defaults(func=cmd_pack)

    p = sub.add_parser("convert", help="write the shards of one convert job")
    p.add_argument("--plan", required=True)
    p.add_argument("--job", required=True, help="job id {level}-{part}")
    p.add_argument("--record", required=True, help="job record JSON to write")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("metadata", help="write group zarr.json files, RO-Crate, root last")
    p.add_argument("--plan", required=True)
    p.add_argument("--record", required=True, help="the job's record to write")
    p.add_argument("--results", required=True)
    p.add_argument("--convert-records", nargs="*", default=[])
    p.set_defaults(func=cmd_metadata)

    p = sub.add_parser("validate", help="validate a converted dataset; write its outcome")
    p.add_argument("--plan", required=True)
    p.add_argument("--record", required=True, help="the job's record to write, last")
    p.add_argument("--results", required=True)
    p.add_argument("--logs", required=True)
    p.add_argument("--metadata-record", required=True)
    p.add_argument("--threads", type=int, default=2)
    _validation_options(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("catalog", help="write the catalog CSV and failed.tsv")
    p.add_argument("--results", required=True, help="the results folder")
    p.add_argument("--url-prefix", default=None)
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
    from ngff_resave.redaction import RedactingFilter

    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    try:
        return int(args.func(args))
    except (ValueError, OSError, RuntimeError) as err:
        # The traceback for whoever debugs it, then one last line naming dataset and path,
        # which results/failed.tsv quotes.
        LOG.warning("traceback of the failure below", exc_info=err)
        LOG.error("%s: %s", type(err).__name__, err)
        return 2
