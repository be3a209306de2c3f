"""Command line: ``ngff-resave convert INPUT OUTPUT`` converts one dataset without a sheet;
the other subcommands are the workflow's steps, one per rule, so every rule is a short shell
line. This module only parses arguments; the work lives in :mod:`ngff_resave.cli.one_dataset`
and :mod:`ngff_resave.steps`."""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ngff_resave import __version__
from ngff_resave.model.patterns import NGFF_VERSIONS, VALIDATE_MODES
from ngff_resave.model.versions import READ_FORMATS_TEXT, READ_VERSIONS_TEXT, WRITE_VERSIONS_TEXT

LOG = logging.getLogger("ngff_resave")


def cmd_plan(args: argparse.Namespace) -> int:
    from ngff_resave.steps.plan import plan_step

    plan_step(
        json.loads(args.config),
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


def cmd_convert_one(args: argparse.Namespace) -> int:
    from ngff_resave.cli.one_dataset import (
        OneDataset,
        StorageFlags,
        convert_one_dataset,
        write_details_file,
    )

    request = OneDataset(
        input=args.input,
        output=args.output,
        dataset=args.dataset,
        license=args.license,
        organism=args.rocrate_organism,
        modality=args.rocrate_modality,
        name=args.rocrate_name,
        description=args.rocrate_description,
        notes=args.conversion_notes,
        skip_crate=args.rocrate_skip,
        chunks=args.output_chunks,
        shards=args.output_shards,
        read_details=args.output_read_details,
        codec=args.codec,
        ngff_version=args.ngff_version,
        reference=args.reference,
        fallback=args.fallback,
        overwrite=args.output_overwrite,
        input_storage=StorageFlags(
            args.input_bucket, args.input_endpoint, args.input_region, args.input_anon
        ),
        output_storage=StorageFlags(
            args.output_bucket, args.output_endpoint, args.output_region, args.output_anon
        ),
        threads=args.output_threads,
        validate=args.validate,
        sample_chunks=args.sample_chunks,
        results=Path(args.results),
        logs=Path(args.logs),
    )
    if args.output_write_details:
        return write_details_file(request, args.output, Path.cwd())
    progress = sys.stderr.isatty() and not args.no_progress
    return convert_one_dataset(request, Path.cwd(), progress)


def cmd_report_pages(args: argparse.Namespace) -> int:
    from ngff_resave.report.pages import write_report_pages

    write_report_pages(Path(args.results))
    return 0


def cmd_convert_job(args: argparse.Namespace) -> int:
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
    from ngff_resave.cli.examples import write_examples

    for dataset, path in write_examples(Path(args.folder)).items():
        LOG.info("example dataset %s: %s", dataset, path)
    return 0


def cmd_restore_in_place(args: argparse.Namespace) -> int:
    from ngff_resave.records.originals import restore_originals
    from ngff_resave.storage import open_location

    options = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}
    if not restore_originals(open_location(args.dataset, options)):
        LOG.error(
            "%s: no documents kept by an in-place conversion: nothing to restore", args.dataset
        )
        return 2
    return 0


def sample_chunks(text: str) -> int:
    """``--sample-chunks``: at least 1, as the config schema's ``validate.sample_chunks``; 0
    would compare no chunk of an array the convert jobs proved with its input on storage."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be at least 1, not {value}: the random input chunks per array re-read on "
            "both sides (as validate.sample_chunks)"
        )
    return value


def _validation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=VALIDATE_MODES, default="full")
    parser.add_argument(
        "--sample-chunks",
        type=sample_chunks,
        default=8,
        help="random input chunks per array re-read on both sides, at least 1 (default 8)",
    )


CONVERT_EXAMPLES = """
exit status: 0 the dataset is converted and valid; 1 it is not (conversion or validation
failed: see the log); 2 nothing was done (bad options, or an input refused at planning).

examples:
  ngff-resave convert in.ome.zarr out.ome.zarr --cc-by
  ngff-resave convert in.ome.zarr out.ome.zarr --cc0 --rocrate-organism NCBI:txid9606 \\
      --rocrate-modality obo:FBbi_00000369 --rocrate-name "my experiment"
  ngff-resave convert in.ome.zarr details.json --cc-by --output-write-details
  ngff-resave convert in.ome.zarr out.ome.zarr --cc-by --output-read-details details.json
  ngff-resave convert https://example.org/in.zarr s3://bucket/out.ome.zarr --cc-by \\
      --output-endpoint http://127.0.0.1:9000
"""


def _convert_parser(sub: Any) -> None:
    p = sub.add_parser(
        "convert",
        help=f"convert one {READ_VERSIONS_TEXT} dataset to {WRITE_VERSIONS_TEXT} (no sheet; the "
        "workflow's steps)",
        description=f"Convert one dataset of {READ_FORMATS_TEXT} to {WRITE_VERSIONS_TEXT} (Zarr "
        "v3, sharded): plan, convert, metadata and RO-Crate, validate, in this process. Records go "
        "to --results and --logs, as for a workflow row. Options follow the 2024 challenge's "
        "resave.",
        epilog=CONVERT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="OME-Zarr root: path, s3://bucket/key or http(s)://...")
    p.add_argument("output", help="where the new dataset goes: path or s3://bucket/key")
    licenses = p.add_mutually_exclusive_group()
    licenses.add_argument(
        "--cc-by", dest="license", action="store_const", const="CC-BY-4.0", help="CC-BY 4.0"
    )
    licenses.add_argument(
        "--cc0", dest="license", action="store_const", const="CC0-1.0", help="CC0 1.0"
    )
    licenses.add_argument("--rocrate-license", dest="license", help="a license URL")
    p.add_argument("--rocrate-organism", help="NCBI taxon, e.g. NCBI:txid9606")
    p.add_argument("--rocrate-modality", help="FBbi term, e.g. obo:FBbi_00000369")
    p.add_argument("--rocrate-name", help="the dataset's name (default: the multiscales name)")
    p.add_argument("--rocrate-description", help="the dataset's description")
    p.add_argument("--rocrate-skip", action="store_true", help="write no RO-Crate")
    p.add_argument("--conversion-notes", help="free text, stored in _creator.notes")
    details = p.add_mutually_exclusive_group()
    details.add_argument(
        "--output-write-details",
        action="store_true",
        help="only plan: write every array's chunks and shards to OUTPUT (a JSON file)",
    )
    details.add_argument(
        "--output-read-details", help="chunks and shards per array from this JSON file"
    )
    details.add_argument("--output-chunks", help="comma-separated chunk shape for every level")
    p.add_argument("--output-shards", help="comma-separated shard shape for every level")
    p.add_argument("--output-overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--output-threads", type=int, default=2, help="threads (default 2)")
    p.add_argument("--codec", help="keep (default) or a named re-encode, e.g. blosc-zstd-5")
    p.add_argument(
        "--ngff-version",
        choices=NGFF_VERSIONS,
        default=NGFF_VERSIONS[0],
        help=f"the OME-Zarr version written (default {NGFF_VERSIONS[0]})",
    )
    p.add_argument(
        "--reference",
        action="store_true",
        help="write OME-Zarr metadata over links to the input's chunk files, nothing copied",
    )
    p.add_argument(
        "--fallback",
        action="store_true",
        help="with --reference: convert arrays that cannot be referenced (zlib, filters) into "
        "shards instead of failing",
    )
    p.add_argument("--dataset", help="the dataset id (default: from OUTPUT's name)")
    p.add_argument("--validate", choices=VALIDATE_MODES, default="full", help="pixels checked")
    p.add_argument(
        "--sample-chunks",
        type=sample_chunks,
        default=8,
        help="random input chunks per array re-read on both sides, at least 1 (default 8)",
    )
    for side in ("input", "output"):
        p.add_argument(f"--{side}-bucket", help=f"S3 bucket the {side} path is in")
        p.add_argument(f"--{side}-endpoint", help=f"S3 endpoint URL of the {side}")
        p.add_argument(f"--{side}-region", help=f"S3 region of the {side}")
        p.add_argument(f"--{side}-anon", action="store_true", help=f"{side}: no credentials")
    p.add_argument("--results", default="results", help="records folder (default results)")
    p.add_argument("--logs", default="logs", help="log folder (default logs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--log",
        choices=["error", "warn", "info", "debug", "trace"],
        default="info",
        help="how much to log on the terminal (default info; trace is debug); the log file "
        "under --logs has every info line",
    )
    p.set_defaults(func=cmd_convert_one)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ngff-resave", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    _convert_parser(sub)

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

    p = sub.add_parser("convert-job", help="write the shards of one convert job")
    p.add_argument("--plan", required=True)
    p.add_argument("--job", required=True, help="job id {level}-{part}")
    p.add_argument("--record", required=True, help="job record JSON to write")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_convert_job)

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

    p = sub.add_parser("report-pages", help="the report's thumbnails, pages and catalog table")
    p.add_argument("--results", required=True, help="the results folder")
    p.set_defaults(func=cmd_report_pages)

    p = sub.add_parser("details", help="a plan's chunks/shards as a challenge details JSON")
    p.add_argument("--plan", required=True)
    p.add_argument("--output", required=True)
    p.set_defaults(func=cmd_details)

    p = sub.add_parser(
        "restore-in-place",
        help="undo in-place conversions of a Zarr v3 (OME-Zarr 0.5) dataset: its own zarr.json "
        "documents (and crate, claim) put back from .ngff-resave-original.tar.gz, which is "
        "removed",
    )
    p.add_argument("dataset", help="the dataset's path or s3:// URL")
    p.add_argument("--endpoint-url", default=None, help="the S3 endpoint, for s3:// URLs")
    p.set_defaults(func=cmd_restore_in_place)

    p = sub.add_parser("example", help="write the example OME-Zarr 0.4 datasets")
    p.add_argument("folder")
    p.set_defaults(func=cmd_example)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # At the process's exit the interpreter's last garbage collections walk every object of
    # the libraries a step imported (zarr, pandas, pydantic models...): a few tenths of a
    # second of every job, for memory about to be freed anyway. Frozen first, they are left
    # alone. Only at exit: a process that calls main() and goes on is not affected.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    chosen = getattr(args, "log", "info")
    level = getattr(logging, {"warn": "WARNING", "trace": "DEBUG"}.get(chosen, chosen.upper()))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from ngff_resave.storage.redaction import RedactingFilter

    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
        # Also for records of loggers set lower (a dataset's log file wants every info line).
        handler.setLevel(level)
    try:
        return int(args.func(args))
    except (ValueError, OSError, RuntimeError) as err:
        # The traceback for whoever debugs it, then one last line naming dataset and path,
        # which results/failed.tsv quotes.
        LOG.warning("traceback of the failure below", exc_info=err)
        LOG.error("%s: %s", type(err).__name__, err)
        return 2
