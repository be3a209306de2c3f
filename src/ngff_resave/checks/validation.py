"""Validation of a converted dataset: OME-Zarr 0.5 metadata through the ``ome-zarr-models`` v05
classes (:mod:`ngff_resave.checks.hierarchy`), every array against its plan and its input
(:mod:`ngff_resave.checks.pixels`), what is neither (groups outside the OME metadata, migrated
arrays, copied files), and the RO-Crate. The :class:`~ngff_resave.checks.results.Report` names the
arrays and groups that failed."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from typing import Any

from ngff_resave.arrays.resources import collector_paused
from ngff_resave.checks.hierarchy import Nodes, validate_models
from ngff_resave.checks.pixels import ArrayComparison
from ngff_resave.checks.results import Report, spell_error
from ngff_resave.model.plan import Plan
from ngff_resave.ome.attributes import OME_KEYS
from ngff_resave.ome.crate import check_crate
from ngff_resave.ome.metadata import carries_input_crate, copied_files, read_input_crate
from ngff_resave.records.ownership import CRATE_FILE
from ngff_resave.storage import Location, open_location

LOG = logging.getLogger(__name__)


def _check_extras(
    plan: Plan, nodes: Nodes, source: Location, target: Location, report: Report
) -> None:
    """Groups outside the OME metadata keep their attributes; arrays that are not image
    levels read back equal to the input."""
    from ngff_resave.arrays.extras import differences

    ome_keys = frozenset(OME_KEYS)
    for path, attrs in plan.groups.items():
        if not attrs or not ome_keys.isdisjoint(attrs):
            continue
        doc = nodes.doc(path) or {}
        report.add(
            f"group {path}: attributes equal the input's",
            doc.get("attributes") == attrs,
            "" if doc.get("attributes") == attrs else nodes.where(path),
            group=path,
        )
    for extra in plan.extras:
        if extra.action != "migrate":
            continue
        try:
            problem = differences(source, target, extra)
        except Exception as err:  # noqa: BLE001 - an unreadable array is a failed check
            problem = spell_error(err)
        report.add(
            f"array {extra.path}: migrated values equal the input",
            not problem,
            problem,
            array=extra.path,
        )


def validate_dataset(
    plan: Plan,
    mode: str = "full",
    sample: int = 8,
    seed: int | None = None,
    threads: int = 2,
    records: Iterable[dict[str, Any]] = (),
) -> Report:
    """Check the converted dataset of a plan against its input and the ``records`` of its
    convert jobs (see :class:`~ngff_resave.checks.pixels.ArrayComparison` for what each mode
    reads); never raises for an invalid dataset."""
    # The cycle collector would walk the documents read and the checks made again and again as
    # they grow (0.4 s of a plate's pixel comparison alone); once off, it walks what is left
    # when it is on again, and the documents are gone by then.
    with collector_paused():
        return _validated(plan, mode, sample, seed, threads, records)


def _validated(
    plan: Plan,
    mode: str,
    sample: int,
    seed: int | None,
    threads: int,
    records: Iterable[dict[str, Any]],
) -> Report:
    report = Report(plan.dataset)
    source = open_location(plan.input, plan.input_storage)
    target = open_location(plan.output, plan.output_storage)
    nodes = Nodes(target, [""], threads)
    root_json = nodes.doc("")
    version = ((root_json or {}).get("attributes", {}).get("ome", {}) or {}).get("version")
    if not report.add(
        f"root zarr.json has ome.version {plan.ngff_version}",
        version == plan.ngff_version,
        nodes.errors.get("") or f"{target.child('zarr.json')}: version {version!r}",
        group="",
    ):
        return report
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    # Begun first: a local dataset's shards are checked by worker processes meanwhile.
    arrays = ArrayComparison(plan, nodes, source, target, mode, sample, seed, threads, records)
    nodes.load(plan.groups)
    validate_models(plan, nodes, report, arrays.documents)
    for path in copied_files(plan):
        report.add(f"file {path} copied", source.read_bytes(path) == target.read_bytes(path))
    _check_extras(plan, nodes, source, target, report)
    crate = _crate_checks(plan, source, target)
    arrays.finish(report)
    if mode != "reread":
        report.checks.append({"check": "sample seed", "ok": True, "detail": str(seed)})
    for check, ok, detail in crate:
        report.add(check, ok, detail)
    return report


def _crate_checks(plan: Plan, source: Location, target: Location) -> list[tuple[str, bool, str]]:
    """The output's RO-Crate against the plan and the input's crate; or, with no crate of
    ours, the input's copied as it is."""
    if plan.crate:
        document = target.read_json(CRATE_FILE)
        found = [("crate: ro-crate-metadata.json present", document is not None, "")]
        if document is None:
            return found
        # The input's own crate is not compared as a copied file: the output's must keep its
        # entities and properties (but those the sheet replaced) and add the conversion.
        carried = read_input_crate(plan, source)
        versions = (plan.input_version, plan.ngff_version)
        return found + list(check_crate(document, plan.crate, carried, versions))
    if carries_input_crate(plan) and CRATE_FILE not in plan.files and not plan.in_place:
        copied = source.read_bytes(CRATE_FILE) == target.read_bytes(CRATE_FILE)
        return [(f"file {CRATE_FILE} copied", copied, "")]
    return []
