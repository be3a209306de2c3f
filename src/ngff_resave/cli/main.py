"""The ``ngff-resave`` command line: the user's commands (``convert``, ``example``,
``details``, ``restore-in-place``) and the workflow's step commands, one per rule, so that every
rule is a short shell line. Arguments are parsed here; the work is in ``cli.one_dataset`` and
``steps``. The text users read (descriptions, help) is written for them, not taken from these
docstrings."""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import logging
import sys
import textwrap
import traceback
from pathlib import Path
from typing import Any

from ngff_resave import __version__
from ngff_resave.model.patterns import NGFF_VERSIONS, VALIDATE_MODES
from ngff_resave.model.versions import READ_VERSIONS_TEXT, WRITE_VERSIONS_TEXT

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
        print(
            f"ngff-resave restore-in-place: error: {args.dataset} holds no documents kept by an "
            "in-place conversion (no .ngff-resave-original.tar.gz): nothing to restore",
            file=sys.stderr,
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


# Where descriptions are wrapped (those with examples below keep their own lines).
WIDTH = 79


def paragraph(text: str) -> str:
    """A description wrapped for the terminal, names with hyphens kept whole."""
    return textwrap.fill(text, WIDTH, break_on_hyphens=False)


MODE_HELP = (
    "how the output's pixels are checked against the input: full (every shard proven as it is "
    "written, plus a sample re-read), sample (a sample only) or reread (every chunk re-read "
    "on both sides); default full"
)
SAMPLE_CHUNKS_HELP = "random input chunks per array re-read on both sides, at least 1 (default 8)"


def _validation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=VALIDATE_MODES, default="full", help=MODE_HELP)
    parser.add_argument(
        "--sample-chunks", type=sample_chunks, default=8, metavar="N", help=SAMPLE_CHUNKS_HELP
    )


def _log_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log",
        choices=["error", "warn", "info", "debug", "trace"],
        default="info",
        help="how much to log on the terminal (default info; trace is debug); debug also shows "
        "the traceback of an error",
    )


DESCRIPTION = f"""\
Convert {READ_VERSIONS_TEXT} datasets to {WRITE_VERSIONS_TEXT} (Zarr v3,
sharded), each with an RO-Crate and validated, and a catalog of them all.

Many datasets: run the Snakemake workflow with a sample sheet (see the README):
  snakemake --cores all --configfile my/config.yaml
One dataset, no sheet: ngff-resave convert INPUT OUTPUT --cc-by
"""

# The workflow's rules run these; a user has no need to.
STEP_COMMANDS = {
    "plan": "plan every row of the sheet",
    "pack": "convert, finish and validate a pack of small datasets",
    "convert-job": "write the shards of one convert job",
    "metadata": "write a dataset's zarr.json documents and RO-Crate, its root last",
    "validate": "validate a converted dataset and record its outcome",
    "catalog": "write results/catalog.csv and results/failed.tsv",
    "report-pages": "write the report's thumbnails, pages and catalog table",
}
EPILOG = (
    "workflow steps (the workflow's rules run these; each has --help):\n"
    + "".join(f"  {name:<14}{text}\n" for name, text in STEP_COMMANDS.items())
    + "\nngff-resave COMMAND --help shows a command's options."
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
        help=f"convert one {READ_VERSIONS_TEXT} dataset to {WRITE_VERSIONS_TEXT}, without a sheet",
        description=paragraph(
            f"Convert one {READ_VERSIONS_TEXT} dataset to {WRITE_VERSIONS_TEXT} (Zarr v3, "
            "sharded) without a sample sheet: planned, converted, given its metadata and "
            "RO-Crate and validated in this process by the workflow's own steps, with the same "
            "records (under --results and --logs). Options follow the 2024 OME-NGFF "
            "challenge's resave command."
        ),
        epilog=CONVERT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "input",
        metavar="INPUT",
        help=f"the root of an {READ_VERSIONS_TEXT} dataset: a path, s3://bucket/key or "
        "http(s)://...",
    )
    p.add_argument(
        "output",
        metavar="OUTPUT",
        help="where the converted dataset goes: a path or s3://bucket/key (with "
        "--output-write-details: the details JSON file to write)",
    )
    licenses = p.add_mutually_exclusive_group()
    licenses.add_argument(
        "--cc-by",
        dest="license",
        action="store_const",
        const="CC-BY-4.0",
        help="license the dataset under CC-BY 4.0",
    )
    licenses.add_argument(
        "--cc0",
        dest="license",
        action="store_const",
        const="CC0-1.0",
        help="license the dataset under CC0 1.0",
    )
    licenses.add_argument(
        "--rocrate-license",
        dest="license",
        metavar="URL",
        help="license the dataset under the license at this URL",
    )
    p.add_argument("--rocrate-organism", metavar="TAXON", help="NCBI taxon, e.g. NCBI:txid9606")
    p.add_argument("--rocrate-modality", metavar="TERM", help="FBbi term, e.g. obo:FBbi_00000369")
    p.add_argument(
        "--rocrate-name", metavar="NAME", help="the dataset's name (default: the multiscales name)"
    )
    p.add_argument("--rocrate-description", metavar="TEXT", help="the dataset's description")
    p.add_argument(
        "--rocrate-skip", action="store_true", help="write no RO-Crate (then no license needed)"
    )
    p.add_argument("--conversion-notes", metavar="TEXT", help="free text, stored in _creator.notes")
    details = p.add_mutually_exclusive_group()
    details.add_argument(
        "--output-write-details",
        action="store_true",
        help="only plan: write every array's chunks and shards to OUTPUT (a JSON file)",
    )
    details.add_argument(
        "--output-read-details",
        metavar="JSON",
        help="chunks and shards per array from this JSON file (as --output-write-details "
        "writes it)",
    )
    details.add_argument(
        "--output-chunks",
        metavar="SIZES",
        help="comma-separated chunk shape for every level, e.g. 1,1,1,256,256",
    )
    p.add_argument(
        "--output-shards",
        metavar="SIZES",
        help="comma-separated shard shape for every level, each a multiple of the chunk's",
    )
    p.add_argument(
        "--output-overwrite",
        action="store_true",
        help="replace an output this tool wrote before (other files there are refused)",
    )
    p.add_argument("--output-threads", type=int, default=2, metavar="N", help="threads (default 2)")
    p.add_argument(
        "--codec",
        metavar="CODEC",
        help="keep (default: copy the compressed chunks where possible) or a named re-encode, "
        "e.g. blosc-zstd-5",
    )
    p.add_argument(
        "--ngff-version",
        choices=NGFF_VERSIONS,
        default=NGFF_VERSIONS[0],
        help=f"the OME-Zarr version written: {' or '.join(NGFF_VERSIONS)} "
        f"(default {NGFF_VERSIONS[0]})",
    )
    p.add_argument(
        "--reference",
        action="store_true",
        help="write OME-Zarr metadata over links to the input's chunk files, nothing copied "
        "(local input and output)",
    )
    p.add_argument(
        "--fallback",
        action="store_true",
        help="with --reference: convert arrays that cannot be referenced (zlib, filters) into "
        "shards instead of failing",
    )
    p.add_argument(
        "--dataset",
        metavar="ID",
        help="the dataset id in records and logs (default: OUTPUT's name)",
    )
    p.add_argument("--validate", choices=VALIDATE_MODES, default="full", help=MODE_HELP)
    p.add_argument(
        "--sample-chunks", type=sample_chunks, default=8, metavar="N", help=SAMPLE_CHUNKS_HELP
    )
    for side in ("input", "output"):
        p.add_argument(
            f"--{side}-bucket",
            metavar="BUCKET",
            help=f"S3 bucket the {side} is in ({side.upper()} is then a key in it)",
        )
        p.add_argument(f"--{side}-endpoint", metavar="URL", help=f"S3 endpoint URL of the {side}")
        p.add_argument(f"--{side}-region", metavar="REGION", help=f"S3 region of the {side}")
        p.add_argument(
            f"--{side}-anon", action="store_true", help=f"read the {side} without credentials"
        )
    p.add_argument(
        "--results",
        default="results",
        metavar="FOLDER",
        help="folder of the records (default results)",
    )
    p.add_argument(
        "--logs", default="logs", metavar="FOLDER", help="folder of the log (default logs)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on a terminal")
    _log_option(p)
    p.set_defaults(func=cmd_convert_one)


def _user_parsers(sub: Any) -> None:
    _convert_parser(sub)

    p = sub.add_parser(
        "example",
        help="write the example datasets to try the workflow or convert on",
        description=paragraph(
            "Write the project's example OME-Zarr 0.4 datasets (Zarr v2) into FOLDER: an image "
            "with labels, an HCS plate and a bioformats2raw layout, as those tools write them "
            "(several compressors, chunk key separators, byte orders and missing chunks)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("folder", metavar="FOLDER", help="where the datasets go (made if missing)")
    _log_option(p)
    p.set_defaults(func=cmd_example)

    p = sub.add_parser(
        "details",
        help="write a planned dataset's chunks and shards as a details JSON, to edit",
        description=paragraph(
            "Write the chunks and shards a plan chose for every array as a details JSON (the "
            "2024 challenge's --output-write-details format). Edit it and give it back in the "
            "sheet's details column, or to convert --output-read-details."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--plan", required=True, help="a dataset's plan, e.g. results/DATASET/plan.json")
    p.add_argument("--output", required=True, help="the details JSON file to write")
    _log_option(p)
    p.set_defaults(func=cmd_details)

    p = sub.add_parser(
        "restore-in-place",
        help="undo an in-place conversion, giving the input back byte for byte",
        description=paragraph(
            "Undo the in-place conversion of an OME-Zarr 0.5 dataset (Zarr v3; a sheet row with "
            "mode reference and in_place true): its own zarr.json documents, crate and claim "
            "are put back from .ngff-resave-original.tar.gz, which is then removed. The input "
            "is then what it was, byte for byte, with nothing of the conversion left."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", metavar="DATASET", help="the dataset's path or s3:// URL")
    p.add_argument(
        "--endpoint-url", default=None, metavar="URL", help="the S3 endpoint, for an s3:// DATASET"
    )
    _log_option(p)
    p.set_defaults(func=cmd_restore_in_place)


def _step_parsers(sub: Any) -> None:
    """The workflow's step commands: not listed among the user's (no ``help``), named in the
    epilog instead."""

    def step(name: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(
            name,
            description=f"Workflow step: {STEP_COMMANDS[name]}. The workflow's rules run this "
            "command; a user has no need to.",
        )
        return parser

    p = step("plan")
    p.add_argument("--config", required=True, help="the workflow's config, as JSON")
    p.add_argument("--results", required=True, help="the results folder")
    p.add_argument("--output", required=True, help="the sheet plan to write")
    p.add_argument("--attempt", required=True, help="the name of this sheet plan")
    p.add_argument(
        "--inputs-digest", required=True, help="digest of the sheet, details files and config"
    )
    p.add_argument("--threads", type=int, default=1, help="rows planned at once (default 1)")
    p.set_defaults(func=cmd_plan)

    p = step("pack")
    p.add_argument("--record", required=True, help="the pack's record to write, last")
    p.add_argument("--results", required=True, help="the results folder")
    p.add_argument("--logs", required=True, help="the logs folder")
    p.add_argument("--threads", type=int, default=1, help="threads (default 1)")
    _validation_options(p)
    p.add_argument("datasets", nargs="+", metavar="DATASET", help="the datasets of the pack")
    p.set_defaults(func=cmd_pack)

    p = step("convert-job")
    p.add_argument("--plan", required=True, help="the dataset's plan.json")
    p.add_argument("--job", required=True, help="the job's id, {level}-{part}")
    p.add_argument("--record", required=True, help="the job's record to write")
    p.add_argument("--threads", type=int, default=1, help="threads (default 1)")
    p.set_defaults(func=cmd_convert_job)

    p = step("metadata")
    p.add_argument("--plan", required=True, help="the dataset's plan.json")
    p.add_argument("--record", required=True, help="the job's record to write")
    p.add_argument("--results", required=True, help="the results folder")
    p.add_argument(
        "--convert-records",
        nargs="*",
        default=[],
        help="the records of the dataset's convert jobs",
    )
    p.set_defaults(func=cmd_metadata)

    p = step("validate")
    p.add_argument("--plan", required=True, help="the dataset's plan.json")
    p.add_argument("--record", required=True, help="the job's record to write, last")
    p.add_argument("--results", required=True, help="the results folder")
    p.add_argument("--logs", required=True, help="the logs folder")
    p.add_argument("--metadata-record", required=True, help="the metadata job's record")
    p.add_argument("--threads", type=int, default=2, help="threads (default 2)")
    _validation_options(p)
    p.set_defaults(func=cmd_validate)

    p = step("catalog")
    p.add_argument("--results", required=True, help="the results folder")
    p.add_argument("--url-prefix", default=None, help="public URL base of the catalog's url column")
    p.set_defaults(func=cmd_catalog)

    p = step("report-pages")
    p.add_argument("--results", required=True, help="the results folder")
    p.set_defaults(func=cmd_report_pages)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ngff-resave",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    _user_parsers(sub)
    _step_parsers(sub)
    return parser


# The user's commands: their expected failures are one line on the terminal.
USER_COMMANDS = ("convert", "example", "details", "restore-in-place")


def expected_errors() -> tuple[type[BaseException], ...]:
    """What a user's command fails with for a reason the user can act on (a bad option, an
    input refused, an output in the way, storage out of reach): anything else is a bug."""
    from ngff_resave.arrays.codecs import CodecError
    from ngff_resave.model.plan import PlanError
    from ngff_resave.ome.crate import CrateError
    from ngff_resave.ome.v06 import TransformError
    from ngff_resave.records.ownership import OutputConflict
    from ngff_resave.sheet.settings import SheetError
    from ngff_resave.source.layout import SourceError
    from ngff_resave.source.listing import ListingError
    from ngff_resave.storage import StorageError

    return (
        SheetError,
        SourceError,
        ListingError,
        PlanError,
        CodecError,
        CrateError,
        TransformError,
        OutputConflict,
        StorageError,
        OSError,
    )


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
    if args.command in USER_COMMANDS:
        return run_user_command(args)
    try:
        return int(args.func(args))
    except (ValueError, OSError, RuntimeError) as err:
        # A step's log keeps the traceback for whoever debugs it, then one last line naming
        # dataset and path, which results/failed.tsv quotes.
        LOG.warning("traceback of the failure below", exc_info=err)
        LOG.error("%s: %s", type(err).__name__, err)
        return 2


def run_user_command(args: argparse.Namespace) -> int:
    """A user's command: an expected failure is one line saying what is wrong and what to do
    (its traceback under --log debug); anything else is a bug, shown with its traceback."""
    try:
        return int(args.func(args))
    except expected_errors() as err:
        LOG.debug("traceback of the failure below", exc_info=err)
        print(f"ngff-resave {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - a bug: said so, with what to report
        traceback.print_exception(err, file=sys.stderr)
        print(
            f"ngff-resave {args.command}: unexpected error {type(err).__name__}: {err}; this is "
            "a bug: please report it with the traceback above",
            file=sys.stderr,
        )
        return 2
