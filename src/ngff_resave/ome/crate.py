"""RO-Crate metadata for a converted dataset, built with the ``rocrate`` package.

The graph has the shape the 2024 challenge's tools read (root dataset with name, description and
license; ``biosample`` with ``organism_classification``; ``specimen``; ``image_acquisition`` with
``fbbi_id`` linked from the root's ``resultOf``), plus ``datePublished``, which RO-Crate requires.

An input with a crate of its own (every dataset the challenge's tool wrote) has it carried
forward (:func:`carry_crate`): its entities and properties kept, the sheet's values written over
theirs (each replaced value recorded as a ``ReplaceAction``), and the conversion added as a
``CreateAction`` (RO-Crate's provenance idiom) that the root ``mentions``.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from rocrate.model.contextentity import ContextEntity
from rocrate.model.entity import Entity
from rocrate.rocrate import ROCrate

from ngff_resave import __version__
from ngff_resave.model.patterns import LICENSE_SHORTHANDS, LICENSE_URL, MODALITY_ID, ORGANISM_ID
from ngff_resave.records.ownership import CRATE_FILE

LOG = logging.getLogger(__name__)

TOOL = "ngff-resave"
# What an OME-Zarr version's documents conform to (``conformsTo`` of the converted documents).
OME_ZARR_SPEC = "https://ngff.openmicroscopy.org/{version}/"
# The output's root document, the entity the conversion's result names with its version.
ROOT_DOCUMENT = "zarr.json"
# The RO-Crate context of any version, which the crate library writes for the crate's own.
RO_CRATE_CONTEXT = r"^https?://w3id\.org/ro/crate/[^/]+/context$"

# The same extra JSON-LD terms as the challenge's crates, so their readers resolve them.
EXTRA_TERMS = {
    "organism_classification": "https://schema.org/taxonomicRange",
    "BioChemEntity": "https://schema.org/BioChemEntity",
    "obo": "http://purl.obolibrary.org/obo/",
    "biosample": "http://purl.obolibrary.org/obo/OBI_0002648",
    "specimen": "http://purl.obolibrary.org/obo/HSO_0000308",
}


class CrateError(ValueError):
    pass


def resolve_license(value: str) -> str:
    """A license URL from a URL or one of the shorthands; anything else is an error."""
    if value in LICENSE_SHORTHANDS:
        return LICENSE_SHORTHANDS[value]
    if re.fullmatch(LICENSE_URL, value):
        return value
    raise CrateError(
        f"license {value!r} is neither a URL nor one of {', '.join(LICENSE_SHORTHANDS)}"
    )


def build_crate(
    *,
    name: str,
    description: str,
    license: str,
    organism: str | None = None,
    modality: str | None = None,
    date_published: str | None = None,
    corrections: list[str] | None = None,
) -> dict[str, Any]:
    """The ``ro-crate-metadata.json`` content of one dataset; ``corrections`` are the input
    defects the conversion mended (schema.org ``correction``)."""
    _check_terms(organism, modality)
    crate = ROCrate(gen_preview=False)
    crate.metadata.extra_terms = dict(EXTRA_TERMS)
    root = crate.root_dataset
    root["name"] = name
    root["description"] = description
    root["license"] = resolve_license(license)
    root["datePublished"] = date_published or dt.datetime.now(dt.UTC).date().isoformat()
    if corrections:
        root["correction"] = list(corrections)
    specimen = None
    if organism:
        # Fixed identifiers (not random ones), so the same settings give the same bytes.
        biosample = crate.add(
            ContextEntity(
                crate,
                "#biosample",
                properties={
                    "@type": "biosample",
                    "organism_classification": {"@id": organism},
                },
            )
        )
        specimen = crate.add(ContextEntity(crate, "#specimen", properties={"@type": "specimen"}))
        specimen["biosample"] = biosample
    if modality:
        acquisition = crate.add(
            ContextEntity(
                crate,
                "#image_acquisition",
                properties={
                    "@type": "image_acquisition",
                    "fbbi_id": {"@id": modality},
                },
            )
        )
        if specimen is not None:
            acquisition["specimen"] = specimen
        root["resultOf"] = acquisition
    return crate.metadata.generate()


def _check_terms(organism: str | None, modality: str | None) -> None:
    for what, value, pattern in (
        ("organism", organism, ORGANISM_ID),
        ("modality", modality, MODALITY_ID),
    ):
        if value and not re.match(pattern, value):
            raise CrateError(f"{what} {value!r} does not match {pattern}")


@dataclass(frozen=True)
class Conversion:
    """What a carried-forward crate records of the conversion: the input (a URL or a local
    path), the OME-Zarr versions read and written, and when it ran."""

    input: str
    input_version: str
    output_version: str
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Replacement:
    """A value of the input's crate that the sheet replaced: the entity and property, and the
    JSON-LD values before and after, as written in the crates."""

    field: str
    entity: str
    key: str
    old: Any
    new: Any

    def line(self) -> str:
        where = "the root" if self.entity == "./" else self.entity
        return f"{self.field} ({self.key} of {where}): {_plain(self.old)} -> {_plain(self.new)}"


@dataclass(frozen=True)
class CarriedCrate:
    document: dict[str, Any]
    replaced: list[Replacement]


def carry_crate(
    input_crate: dict[str, Any],
    *,
    conversion: Conversion,
    license: str,
    name: str | None = None,
    description: str | None = None,
    organism: str | None = None,
    modality: str | None = None,
    fallback_name: str,
    fallback_description: str,
    date_published: str | None = None,
    corrections: list[str] | None = None,
) -> CarriedCrate:
    """The input's crate with the sheet's values and the conversion added. Every entity and
    property of the input is kept; ``license``, ``organism``, ``modality``, ``name`` and
    ``description`` (None: not given) replace the input's values, each replacement recorded as
    a ``ReplaceAction`` and returned. The fallbacks fill a name or description that neither the
    sheet nor the input gives."""
    _check_terms(organism, modality)
    wanted_license = resolve_license(license)
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            # The reader takes entities apart (pops their @id): it gets a copy.
            crate = ROCrate(copy.deepcopy(input_crate), gen_preview=False)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise CrateError(f"the input's RO-Crate cannot be read: {err}") from err
    for warning in said:
        LOG.warning("the input's RO-Crate: %s", warning.message)
    # The reader drops the input's @context: its own terms (the challenge's biosample,
    # specimen, ...) are put back, or the kept entities would not resolve.
    crate.metadata.extra_contexts, crate.metadata.extra_terms = _contexts(
        input_crate.get("@context")
    )
    root = crate.root_dataset
    before = _graph(input_crate).get(root.id, {})
    if "hasPart" in before:
        # The reader rebuilds hasPart from the data entities it found: keep it as it was.
        root["hasPart"] = copy.deepcopy(before["hasPart"])
    if "datePublished" not in before:
        # The reader fills in its own time stamp; ours is the date, as in new crates.
        root["datePublished"] = date_published or dt.datetime.now(dt.UTC).date().isoformat()
    replaced: list[Replacement] = []

    def put(entity: Entity, key: str, value: Any, field: str) -> None:
        old = entity.properties().get(key)
        if old is not None and _plain(old) == _plain(value):
            return
        if old is not None:
            replaced.append(Replacement(field, entity.id, key, copy.deepcopy(old), value))
        entity[key] = value

    old_license = before.get("license")
    # The input's form is kept: a reference to a license entity stays a reference.
    put(
        root,
        "license",
        {"@id": wanted_license} if isinstance(old_license, dict) else wanted_license,
        "license",
    )
    for key, value, fallback in (
        ("name", name, fallback_name),
        ("description", description, fallback_description),
    ):
        if value:
            put(root, key, value, key)
        elif not before.get(key):
            root[key] = fallback

    def set_on_every(type_name: str, key: str, value: str, field: str) -> Entity | None:
        """The sheet's value on every entity of the type; one new entity when there is none
        (returned)."""
        entities = _typed(crate, type_name)
        for entity in entities:
            put(entity, key, {"@id": value}, field)
        if entities:
            return None
        properties = {"@type": type_name, key: {"@id": value}}
        return crate.add(ContextEntity(crate, _free_id(crate, f"#{type_name}"), properties))

    # A specimen of the sheet's organism, when the input's crate had no biosample.
    added: Entity | None = None
    if organism:
        biosample = set_on_every("biosample", "organism_classification", organism, "organism")
        if biosample is not None:
            specimen = crate.add(
                ContextEntity(crate, _free_id(crate, "#specimen"), properties={"@type": "specimen"})
            )
            specimen["biosample"] = biosample
            added = specimen
    if modality:
        acquisition = set_on_every("image_acquisition", "fbbi_id", modality, "modality")
        if acquisition is not None:
            if "resultOf" not in root:
                root["resultOf"] = acquisition
            specimen = added or next(iter(_typed(crate, "specimen")), None)
            if specimen is not None:
                acquisition["specimen"] = specimen
    if added is not None:
        # The specimen the sheet's organism added belongs to the image acquisition, as in the
        # challenge's crates (a link the input has already is left as it is).
        for acquisition in _typed(crate, "image_acquisition"):
            if "specimen" not in acquisition:
                acquisition["specimen"] = added
    new_corrections = [c for c in corrections or [] if c not in _as_list(before.get("correction"))]
    if new_corrections:
        root.append_to("correction", new_corrections)
    actions = _provenance(crate, conversion, replaced)
    root.append_to("mentions", actions)
    return CarriedCrate(crate.metadata.generate(), replaced)


def _provenance(
    crate: ROCrate, conversion: Conversion, replaced: list[Replacement]
) -> list[Entity]:
    """The conversion as a ``CreateAction`` (instrument: this tool and its version; object: the
    input, conforming to its OME-Zarr version; result: the root and its ``zarr.json``,
    conforming to the version written) and one ``ReplaceAction`` per replaced value."""
    software = next(
        (
            entity
            for entity in _typed(crate, "SoftwareApplication")
            if entity.get("name") == TOOL and entity.get("version") == __version__
        ),
        None,
    )
    if software is None:
        software = crate.add(
            ContextEntity(
                crate,
                _free_id(crate, f"#{TOOL}-{__version__}"),
                properties={"@type": "SoftwareApplication", "name": TOOL, "version": __version__},
            )
        )
    source_id = _input_id(conversion.input)
    source = crate.get(source_id)
    if source is None:
        source = crate.add(
            ContextEntity(
                crate,
                source_id,
                properties={
                    "@type": "CreativeWork",
                    "name": f"the input, OME-Zarr {conversion.input_version}",
                    "conformsTo": {"@id": OME_ZARR_SPEC.format(version=conversion.input_version)},
                },
            )
        )
    output_spec = {"@id": OME_ZARR_SPEC.format(version=conversion.output_version)}
    document = crate.get(ROOT_DOCUMENT)
    if document is None:
        document = crate.add_file(
            dest_path=ROOT_DOCUMENT,
            properties={
                "name": f"OME-Zarr {conversion.output_version} root metadata",
                "encodingFormat": "application/json",
                "conformsTo": output_spec,
            },
        )
    elif _plain(document.properties().get("conformsTo")) != output_spec["@id"]:
        # The input's crate described the document this conversion replaced.
        old = document.properties().get("conformsTo")
        if old is not None:
            replaced.append(
                Replacement("ngff_version", ROOT_DOCUMENT, "conformsTo", old, output_spec)
            )
        document["conformsTo"] = output_spec
    how = (
        f"{TOOL} {__version__} converted the OME-Zarr {conversion.input_version} dataset "
        f"{conversion.input} to OME-Zarr {conversion.output_version}, carrying its RO-Crate "
        "forward."
    )
    if replaced:
        how += " The sample sheet replaced " + "; ".join(r.line() for r in replaced) + "."
    action = crate.add_action(
        software,
        identifier=_free_id(crate, f"#{TOOL}-conversion"),
        object=source,
        result=[crate.root_dataset, document],
        properties={
            "@type": "CreateAction",
            "name": (
                f"Conversion of OME-Zarr {conversion.input_version} to "
                f"OME-Zarr {conversion.output_version}"
            ),
            "description": how,
            "startTime": conversion.start.isoformat(timespec="seconds"),
            "endTime": conversion.end.isoformat(timespec="seconds"),
            "actionStatus": {"@id": "http://schema.org/CompletedActionStatus"},
        },
    )
    actions: list[Entity] = [action]
    for item in replaced:
        replace = crate.add(
            ContextEntity(
                crate,
                _free_id(crate, f"#{TOOL}-replaced-{item.field}"),
                properties={
                    "@type": "ReplaceAction",
                    "name": f"{item.field} from the sample sheet",
                    "description": item.line(),
                    "instrument": {"@id": software.id},
                    "targetCollection": {"@id": item.entity},
                },
            )
        )
        # Set as properties (not in the constructor), so references become {"@id": ...}.
        replace["replacee"] = copy.deepcopy(item.old)
        replace["replacer"] = copy.deepcopy(item.new)
        actions.append(replace)
    return actions


def _input_id(location: str) -> str:
    """The input as an absolute URI: its URL, or a local path as a ``file:`` URI."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", location):
        return location
    return PurePosixPath(location).as_uri() if location.startswith("/") else location


def _contexts(context: Any) -> tuple[list[str], dict[str, Any]]:
    """The input's @context as the crate library writes one: extra context URLs (the
    RO-Crate context aside, which the library writes for the crate's version) and terms (the
    input's, then ours where the input lacks them)."""
    items = context if isinstance(context, list) else [context]
    urls = [
        item for item in items if isinstance(item, str) and not re.match(RO_CRATE_CONTEXT, item)
    ]
    terms: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict):
            terms.update(item)
    for key, value in EXTRA_TERMS.items():
        terms.setdefault(key, value)
    return urls, terms


def _typed(crate: ROCrate, type_name: str) -> list[Entity]:
    return [e for e in crate.get_entities() if type_name in _types(e.properties())]


def _free_id(crate: ROCrate, wanted: str) -> str:
    """``wanted``, or ``wanted-2``, ``-3``... when the input's crate has it already."""
    found, number = wanted, 1
    while crate.get(found) is not None:
        number += 1
        found = f"{wanted}-{number}"
    return found


def _graph(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        item["@id"]: item
        for item in document.get("@graph", [])
        if isinstance(item, dict) and "@id" in item
    }


def _plain(value: Any) -> Any:
    """A property's value with references reduced to their @id, for comparing and telling."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict) and "@id" in value:
        return value["@id"]
    return value


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def check_crate(
    document: dict[str, Any],
    expected: dict[str, Any],
    carried: dict[str, Any] | None = None,
    versions: tuple[str, str] | None = None,
) -> list[tuple[str, bool, str]]:
    """RO-Crate's REQUIRED rules and our own fields: (check, ok, detail) triples. With the
    input's own crate (``carried``), also that it was carried forward: its entities and
    properties kept (but those the sheet replaced, each recorded), and the conversion from
    ``versions`` (input, output) recorded."""
    graph = {item.get("@id"): item for item in document.get("@graph", [])}
    descriptor = graph.get(CRATE_FILE, {})
    root_id = descriptor.get("about", {}).get("@id")
    root = graph.get(root_id, {})
    checks = [
        (
            "crate: metadata descriptor conformsTo RO-Crate",
            "w3id.org/ro/crate/" in str(descriptor.get("conformsTo", {}).get("@id", "")),
            str(descriptor.get("conformsTo")),
        ),
        ("crate: root is a Dataset", root_id == "./" and "Dataset" in _types(root), str(root_id)),
    ]
    for key in ("name", "description", "license", "datePublished"):
        checks.append((f"crate: root has {key}", bool(root.get(key)), str(root.get(key, ""))))
    try:
        dt.date.fromisoformat(str(root.get("datePublished", ""))[:10])
        checks.append(("crate: datePublished is ISO 8601", True, str(root["datePublished"])))
    except ValueError:
        checks.append(("crate: datePublished is ISO 8601", False, str(root.get("datePublished"))))
    if expected.get("license"):
        wanted = resolve_license(expected["license"])
        got = _plain(root.get("license"))
        checks.append(("crate: license as asked", got == wanted, f"{got} (asked {wanted})"))
    by_type = {t: item for item in graph.values() for t in _types(item)}
    if expected.get("organism"):
        got = by_type.get("biosample", {}).get("organism_classification", {}).get("@id")
        checks.append(("crate: biosample organism", got == expected["organism"], str(got)))
    if expected.get("modality"):
        acquisition = by_type.get("image_acquisition", {})
        got = acquisition.get("fbbi_id", {}).get("@id")
        linked = root.get("resultOf", {}).get("@id") == acquisition.get("@id")
        checks.append(("crate: image_acquisition fbbi_id", got == expected["modality"], str(got)))
        checks.append(("crate: root resultOf image_acquisition", linked, ""))
    if carried is not None:
        checks += _carried_checks(graph, carried, versions)
    return checks


def _carried_checks(
    graph: dict[str, dict[str, Any]],
    carried: dict[str, Any],
    versions: tuple[str, str] | None,
) -> list[tuple[str, bool, str]]:
    before = _graph(carried)
    missing = [key for key in before if key not in graph]
    checks = [
        (
            "crate: every entity of the input's crate kept",
            not missing,
            f"missing {', '.join(missing)}" if missing else f"{len(before)} entities",
        )
    ]
    # What the sheet replaced: (entity, value before, value after) of each ReplaceAction.
    replacements = [
        (
            _plain(item.get("targetCollection")),
            _plain(item.get("replacee")),
            _plain(item.get("replacer")),
        )
        for item in graph.values()
        if "ReplaceAction" in _types(item)
    ]
    changed = []
    for key, entity in before.items():
        now = graph.get(key)
        if now is None:
            continue
        for name, value in entity.items():
            found = now.get(name)
            if found == value:
                continue
            # A list the conversion added to (hasPart, mentions, correction) keeps the input's.
            if name not in ("@id", "@type") and all(v in _as_list(found) for v in _as_list(value)):
                continue
            if (key, _plain(value), _plain(found)) in replacements:
                continue
            changed.append(f"{key} {name}")
    checks.append(
        (
            "crate: the input's properties kept (but those the sheet replaced)",
            not changed,
            f"changed and not recorded: {', '.join(changed)}" if changed else "",
        )
    )
    for item in graph.values():
        if "ReplaceAction" in _types(item):
            checks.append(
                (
                    f"crate: {item.get('name') or 'a value from the sample sheet'} replaced the "
                    "input's, recorded",
                    True,
                    str(item.get("description") or ""),
                )
            )
    root = graph.get("./", {})
    actions = [
        graph.get(ref, {})
        for ref in _plain(_as_list(root.get("mentions")))
        if "CreateAction" in _types(graph.get(ref, {}))
    ]
    checks.append(
        (
            "crate: the conversion is a CreateAction the root mentions",
            bool(actions),
            ", ".join(str(a.get("@id")) for a in actions),
        )
    )
    if versions is None or not actions:
        return checks
    source_spec = OME_ZARR_SPEC.format(version=versions[0])
    output_spec = OME_ZARR_SPEC.format(version=versions[1])
    problems: dict[str, list[str]] = {}
    for action in actions:
        wrong = problems.setdefault(str(action.get("@id")), [])
        tool = graph.get(_plain(action.get("instrument")), {})
        if tool.get("name") != TOOL or not tool.get("version"):
            wrong.append(f"instrument {tool.get('name')} {tool.get('version')}")
        source = graph.get(_plain(action.get("object")), {})
        if _plain(source.get("conformsTo")) != source_spec:
            wrong.append(f"object conformsTo {_plain(source.get('conformsTo'))}")
        results = _plain(_as_list(action.get("result")))
        document = graph.get(ROOT_DOCUMENT, {})
        if "./" not in results or ROOT_DOCUMENT not in results:
            wrong.append(f"result {results}")
        elif _plain(document.get("conformsTo")) != output_spec:
            wrong.append(f"{ROOT_DOCUMENT} conformsTo {_plain(document.get('conformsTo'))}")
        try:
            start = dt.datetime.fromisoformat(str(action.get("startTime")))
            end = dt.datetime.fromisoformat(str(action.get("endTime")))
            if end < start:
                wrong.append("endTime before startTime")
        except ValueError:
            wrong.append(f"times {action.get('startTime')!r}, {action.get('endTime')!r}")
    recorded = [key for key, wrong in problems.items() if not wrong]
    checks.append(
        (
            f"crate: the conversion from OME-Zarr {versions[0]} to {versions[1]} recorded "
            f"(tool, version, input, output, times)",
            bool(recorded),
            ", ".join(recorded)
            or "; ".join(f"{key}: {', '.join(wrong)}" for key, wrong in problems.items()),
        )
    )
    return checks


def _types(item: dict[str, Any]) -> list[str]:
    value = item.get("@type", [])
    return [value] if isinstance(value, str) else list(value)
