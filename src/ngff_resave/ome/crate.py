"""RO-Crate metadata for a converted dataset, built with the ``rocrate`` package.

The graph has the shape the 2024 challenge's tools read (root dataset with name, description and
license; ``biosample`` with ``organism_classification``; ``specimen``; ``image_acquisition`` with
``fbbi_id`` linked from the root's ``resultOf``), plus ``datePublished``, which RO-Crate requires.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from rocrate.model.contextentity import ContextEntity
from rocrate.rocrate import ROCrate

from ngff_resave.model.patterns import LICENSE_SHORTHANDS, LICENSE_URL, MODALITY_ID, ORGANISM_ID
from ngff_resave.records.ownership import CRATE_FILE

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
    for what, value, pattern in (
        ("organism", organism, ORGANISM_ID),
        ("modality", modality, MODALITY_ID),
    ):
        if value and not re.match(pattern, value):
            raise CrateError(f"{what} {value!r} does not match {pattern}")
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


def check_crate(document: dict[str, Any], expected: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """RO-Crate's REQUIRED rules and our own fields: (check, ok, detail) triples."""
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
        checks.append(("crate: license as asked", root.get("license") == wanted, wanted))
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
    return checks


def _types(item: dict[str, Any]) -> list[str]:
    value = item.get("@type", [])
    return [value] if isinstance(value, str) else list(value)
