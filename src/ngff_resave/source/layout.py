"""Reading an OME-Zarr dataset's layout: which groups, images and arrays it has, in Zarr v2
(OME-Zarr 0.1 to 0.4, see also :mod:`.v01_v03`) or Zarr v3 (0.5, see :mod:`.v05`; 0.6 and its
pre-releases, see :mod:`.v06`).

Only metadata is read here (``.zgroup``, ``.zattrs``, ``.zarray``; or ``zarr.json``); the walk
is driven by the OME metadata (multiscales, labels, plate, well, bioformats2raw series), so it
works on stores that cannot list (HTTP). A store that can list is listed once, first (see
:func:`read_source`).
"""

from __future__ import annotations

import json
import logging
import math
import posixpath
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from ngff_resave.model.plan import ExtraArray, InventoryItem
from ngff_resave.records.originals import Kept, read_originals
from ngff_resave.records.ownership import (
    CLAIM_FILE,
    ORIGINALS,
    ORIGINALS_ARCHIVE,
    read_claim,
    written_by_workflow,
)
from ngff_resave.source import v05, v06
from ngff_resave.source.keys import v2_chunk_key
from ngff_resave.source.listing import (
    ArrayListing,
    DatasetListing,
    ListingError,
    group_by_array,
    list_v2_chunks,
    list_v3_files,
)
from ngff_resave.source.v01_v03 import OLD_VERSIONS, axis_names
from ngff_resave.storage import TEMPORARY_NAME, Location, StorageError

LOG = logging.getLogger(__name__)

OME_XML = "OME/METADATA.ome.xml"
SUPPORTED_VERSIONS = {*OLD_VERSIONS, "0.4"}


class SourceError(ValueError):
    """The input is not an OME-Zarr dataset this tool can convert."""

    def __init__(self, dataset: str, where: str, problem: str) -> None:
        super().__init__(f"dataset '{dataset}': {where}: {problem}")
        self.dataset = dataset
        self.where = where


@dataclass
class SourceArray:
    path: str
    image: str
    level: int
    shape: list[int]
    dtype: str
    chunks: list[int]
    compressor: dict[str, Any] | None
    filters: list[dict[str, Any]] | None
    order: Literal["C", "F"]
    fill_value: Any
    dimension_separator: Literal[".", "/"]
    dimension_names: list[str]
    # Attributes of the array itself (its .zattrs), kept in its zarr.json.
    attributes: dict[str, Any] = field(default_factory=dict)
    # A label level the input lacks, computed from this level of the label (a mend).
    downsampled_from: str | None = None
    # A Zarr v3 array: how it is stored (the v2 fields above then say what they can).
    stored: v05.V3Array | None = None
    # The chunk (or shard) files found below it, where the input could be listed.
    listing: ArrayListing | None = None
    # The .zarray's separator, when its chunk files use the other one (a mend).
    declared_separator: Literal[".", "/"] | None = None

    @property
    def itemsize(self) -> int:
        return int(np.dtype(self.dtype).itemsize)

    @property
    def nbytes(self) -> int:
        # math.prod, not numpy's: a plate's thousands of arrays pay no array per call (and a
        # product beyond 64 bits stays exact).
        return math.prod(self.shape) * self.itemsize

    def to_json(self) -> dict[str, Any]:
        described = asdict(self)
        described.pop("listing")
        return described


# Zarr v2 documents, replaced by the v3 zarr.json of their node.
V2_DOCUMENTS = (".zgroup", ".zattrs", ".zarray")
CONSOLIDATED = ".zmetadata"


def holds_zarr(location: Location) -> bool:
    """Whether a Zarr group or array is at the root, asked through its metadata keys (never by
    listing, which plain HTTP servers and object stores behind HTTPS do not offer)."""
    return any(location.exists(key) for key in (*V2_DOCUMENTS, "zarr.json"))


# Object codecs whose values have a Zarr v3 form (vlen-utf8 and vlen-bytes codecs).
STRING_CODECS = {"vlen-utf8", "vlen-bytes"}


@dataclass
class SourceImage:
    path: str
    name: str | None
    axes: list[str]
    is_label: bool
    # The OME-Zarr version its multiscales declares (None: not said).
    version: str | None = None


@dataclass
class SourceLayout:
    kind: str
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: list[SourceImage] = field(default_factory=list)
    arrays: list[SourceArray] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    wells: int | None = None
    extras: list[ExtraArray] = field(default_factory=list)
    # Items not written as they are, on purpose (a mend, v2-only metadata), with the reason.
    left_out: list[InventoryItem] = field(default_factory=list)
    # Whether the input was listed; a store that cannot list (HTTP) shows only what the OME
    # metadata names.
    listed: bool = False
    # The OME-Zarr version of the input: the first one its metadata declares.
    version: str | None = None
    zarr_format: Literal[2, 3] = 2
    # Zarr v3 groups holding OME-Zarr 0.4 metadata outside an ``ome`` block.
    loose_ome: list[str] = field(default_factory=list)
    # The version each Zarr v3 group's ``ome`` block states (0.6's pre-releases are mended).
    stated: dict[str, str] = field(default_factory=dict)

    def inventory(self) -> list[InventoryItem]:
        """Every group, array and file found, with what happens to it."""
        items = [InventoryItem(path=p, kind="group", action="convert") for p in self.groups]
        items += [
            InventoryItem(path=a.path, kind="array", action="convert")
            for a in self.arrays
            if a.downsampled_from is None
        ]
        items += self.left_out
        items += [
            InventoryItem(path=e.path, kind="array", action=e.action, reason=e.reason)
            for e in self.extras
        ]
        items += [InventoryItem(path=p, kind="file", action="copy") for p in self.files]
        return sorted(items, key=lambda i: i.path)

    @property
    def name(self) -> str | None:
        """The first image's multiscales name, or the plate's name."""
        plate = self.groups.get("", {}).get("plate")
        if plate and plate.get("name"):
            return str(plate["name"])
        return next((image.name for image in self.images if image.name), None)


class _Reader:
    def __init__(
        self,
        location: Location,
        dataset: str,
        written_here: Callable[[str], bool] | None = None,
        listing: DatasetListing | None = None,
    ) -> None:
        self.location = location
        self.dataset = dataset
        # Files a conversion in place wrote into the input: not the input's content.
        self.written_here = written_here
        # Every file of the input, where it can be listed.
        self.listing = listing
        self.layout = SourceLayout(kind="")
        # Documents and chunk keys fetched ahead, many at once, where requests are remote.
        self.fetched: dict[str, bytes | None] = {}
        self.found: dict[str, bool] = {}
        # The .zarray separator of each array that is not an image level (see list_arrays).
        self.extra_separators: dict[str, str] = {}
        # The input's own Zarr v3 documents an in-place conversion kept before replacing them
        # (None: the input had none), read from its archive.
        self.originals: Kept = {}
        # Array documents by their bytes, read: a plate's thousands of arrays have a few.
        self.array_documents: dict[bytes, tuple[dict[str, Any], v05.V3Array | None]] = {}
        # Arrays' files classified, by what decides it: a plate's arrays hold alike keys.
        self.array_listings: dict[tuple[tuple[str, ...], tuple[int, ...], str], ArrayListing] = {}

    @property
    def v3(self) -> bool:
        return self.layout.zarr_format == 3

    def group_documents(self, path: str) -> list[str]:
        names = ["zarr.json"] if self.v3 else [".zgroup", ".zattrs"]
        return [posixpath.join(path, name) for name in names]

    def fail(self, path: str, problem: str) -> SourceError:
        return SourceError(self.dataset, self.location.child(path), problem)

    def json(self, path: str) -> dict[str, Any] | None:
        return self.parse(path, self.document(path))

    def document(self, path: str) -> bytes | None:
        """The bytes of a metadata document (None: there is none): as an in-place run kept
        it, fetched ahead, or read now unless the listing shows it missing."""
        if path in self.originals:
            return self.originals[path]
        if path in self.fetched:
            return self.fetched.pop(path)
        if self.listing is not None and path not in self.listing:
            return None
        try:
            return self.location.read_bytes(path)
        except StorageError as err:
            raise SourceError(self.dataset, self.location.child(path), str(err)) from err

    def parse(self, path: str, data: bytes | None) -> dict[str, Any] | None:
        where = posixpath.join(ORIGINALS_ARCHIVE, path) if path in self.originals else path
        try:
            return self.location.parse_json(where, data)
        except StorageError as err:
            raise SourceError(self.dataset, self.location.child(path), str(err)) from err

    def array_document(self, array: str) -> tuple[dict[str, Any], v05.V3Array | None]:
        """An image array's .zarray, or zarr.json with how it is stored, read and made sense
        of once for all arrays whose document has the same bytes, and shared: nothing changes
        an array's document once read. A missing one raises."""
        name = "zarr.json" if self.v3 else ".zarray"
        path = posixpath.join(array, name)
        data = self.document(path)
        read = None if data is None else self.array_documents.get(data)
        if read is not None:
            return read
        meta = self.parse(path, data)
        if meta is None:
            self.check_unlisted(path)
            raise self.fail(
                array, f"listed in multiscales but has no {name} (not found: 404 or missing)"
            )
        stored = None
        if self.v3:
            if meta.get("zarr_format") != 3:
                raise self.fail(array, f"zarr.json has zarr_format {meta.get('zarr_format')!r}")
            try:
                stored = v05.read_array(meta)
            except (ValueError, KeyError, TypeError) as err:
                raise self.fail(array, f"Zarr v3 array not read: {err}") from err
        assert data is not None
        read = self.array_documents[data] = (meta, stored)
        return read

    def check_unlisted(self, path: str) -> None:
        """Where the listing lacks a document the metadata names, raise when it is there all
        the same: below a link to a folder, which the listing does not follow, so its files
        would go unlisted (an array's chunk files not read)."""
        if self.listing is not None and path not in self.originals and self.location.exists(path):
            raise self.fail(
                path,
                "there, but not in the listing of the dataset: it lies below a link to a "
                "folder, which the listing does not follow; copy the linked folder in",
            )

    def exists(self, path: str) -> bool:
        if path in self.found:
            return self.found.pop(path)
        if self.listing is not None:
            return path in self.listing
        return self.location.exists(path)

    def prefetch(self, paths: list[str]) -> None:
        """Read these documents now, ``io_concurrency`` at a time (a plate's thousands of
        small documents would otherwise cost a round trip each, one after another)."""
        # An in-place run's replaced documents are read from the kept originals instead; the
        # listing says which others are there.
        paths = [
            path
            for path in paths
            if path not in self.originals and (self.listing is None or path in self.listing)
        ]
        if self.location.io_concurrency > 1 and paths:
            try:
                self.fetched.update(zip(paths, self.location.read_many(paths), strict=True))
            except StorageError as err:
                raise SourceError(self.dataset, self.location.url, str(err)) from err

    def prefetch_levels(self, images: list[str]) -> None:
        """The level arrays' documents of these images, then whether their first chunks are
        where their .zarray says (see check_separator)."""
        levels = []
        for image in images:
            try:
                if self.v3:
                    document = self.location.parse_json("", self.fetched.get(f"{image}/zarr.json"))
                    attrs = v05.group_attributes(document or {})[0]
                else:
                    attrs = self.location.parse_json("", self.fetched.get(f"{image}/.zattrs")) or {}
                levels += [
                    posixpath.join(image, d["path"])
                    for m in attrs["multiscales"]
                    for d in m["datasets"]
                ]
            except (KeyError, TypeError, ValueError, StorageError):
                continue  # read_image reports what is wrong
        if self.v3:
            self.prefetch([f"{p}/zarr.json" for p in levels])
            return
        self.prefetch([f"{p}/{name}" for p in levels for name in (".zarray", ".zattrs")])
        firsts = []
        for level in levels:
            try:
                meta = self.location.parse_json("", self.fetched.get(f"{level}/.zarray")) or {}
                first = (0,) * len(meta["shape"])
                separator = meta.get("dimension_separator", ".")
            except (KeyError, TypeError, StorageError):
                continue
            if len(first) >= 2:
                firsts.append(f"{level}/{v2_chunk_key(first, separator)}")
        if not self.location.can_list and self.location.io_concurrency > 1 and firsts:
            self.found.update(zip(firsts, self.location.exists_many(firsts), strict=True))

    def group_attrs(self, path: str, required: bool = True) -> dict[str, Any] | None:
        if self.v3:
            return self.v3_group_attrs(path, required)
        if self.json(posixpath.join(path, ".zgroup")) is None:
            if not required:
                return None
            document = self.json(posixpath.join(path, "zarr.json"))
            if document is not None and not path:
                self.layout.zarr_format = 3
                return self.v3_group_attrs(path, required, document)
            if document is not None:
                raise self.fail(path, "a Zarr v3 node (zarr.json) inside a Zarr v2 dataset")
            self.check_unlisted(posixpath.join(path, ".zgroup"))
            raise self.fail(path, "no Zarr v2 group here (.zgroup not found: 404 or missing)")
        attrs = self.json(posixpath.join(path, ".zattrs")) or {}
        self.layout.groups[path] = attrs
        return attrs

    def v3_group_attrs(
        self, path: str, required: bool, document: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """A Zarr v3 group's attributes in the model's form; its ``ome.version`` checked."""
        document = document or self.json(posixpath.join(path, "zarr.json"))
        if document is None:
            if not required:
                return None
            self.check_unlisted(posixpath.join(path, "zarr.json"))
            raise self.fail(path, "no Zarr v3 group here (zarr.json not found: 404 or missing)")
        if document.get("zarr_format") != 3 or document.get("node_type") != "group":
            raise self.fail(
                path,
                f"zarr.json says zarr_format {document.get('zarr_format')!r}, node_type "
                f"{document.get('node_type')!r}; expected a Zarr v3 group",
            )
        try:
            attrs, version, loose = v05.group_attributes(document)
        except ValueError as err:
            raise self.fail(path, str(err)) from err
        if version is not None:
            problem = v05.v3_version_problem(version)
            if problem:
                raise self.fail(path, problem)
            self.layout.version = self.layout.version or version
            self.layout.stated[path] = version
        if loose:
            self.layout.loose_ome.append(path)
        self.layout.groups[path] = attrs
        return attrs

    def plain_attrs(self, path: str) -> dict[str, Any]:
        """The attributes of a node that is not OME metadata (a folder above one)."""
        if not self.v3:
            return self.json(posixpath.join(path, ".zattrs")) or {}
        document = self.json(posixpath.join(path, "zarr.json")) or {}
        return v05.group_attributes(document)[0] if document.get("node_type") == "group" else {}

    def read(self) -> SourceLayout:
        root = self.group_attrs("")
        assert root is not None
        if self.v3 and not (self.layout.version or self.layout.loose_ome):
            raise self.fail(
                "", "Zarr v3 (zarr.json) without OME-Zarr metadata (no attributes.ome.version)"
            )
        if "plate" in root:
            self.layout.kind = "plate"
            self.read_plate(root["plate"])
        elif "multiscales" in root:
            self.layout.kind = "image"
            self.read_image("", root, is_label=False)
        elif "bioformats2raw.layout" in root:
            self.layout.kind = "bioformats2raw"
            self.read_series()
        elif "scene" in root:
            raise self.fail(
                "",
                "an OME-Zarr 0.6 scene (transforms between images) is not read; convert each "
                "of its images as a dataset of its own",
            )
        else:
            raise self.fail(
                "", "not OME-Zarr: .zattrs has none of multiscales, plate, bioformats2raw.layout"
            )
        if "bioformats2raw.layout" in root:
            if root["bioformats2raw.layout"] != 3:
                raise self.fail("", f"bioformats2raw.layout {root['bioformats2raw.layout']}")
            if self.layout.kind == "plate":
                self.layout.kind = "bioformats2raw-plate"
            self.read_ome_folder()
        if self.listing is not None:
            self.walk(self.listing)
            self.list_arrays(self.listing)
        self.add_parent_groups()
        if not self.layout.arrays:
            raise self.fail("", "no arrays found")
        return self.layout

    def check_version(self, path: str, version: Any) -> None:
        if version is None:
            return
        if self.v3 and str(version) != "0.4":
            problem = v05.v3_version_problem(str(version))
            if problem:
                raise self.fail(path, problem)
        elif str(version) not in SUPPORTED_VERSIONS:
            raise self.fail(
                path,
                f"OME-Zarr version {version} in Zarr v2; versions 0.1 to 0.4 (Zarr v2), 0.5 and "
                "0.6 (Zarr v3) can be converted",
            )
        self.layout.version = self.layout.version or str(version)

    def read_image(self, path: str, attrs: dict[str, Any], is_label: bool) -> None:
        multiscales = attrs.get("multiscales")
        if not isinstance(multiscales, list) or not multiscales:
            raise self.fail(path, "no multiscales in its attributes")
        for multiscale in multiscales:
            version = multiscale.get("version")
            self.check_version(path, version)
            stated = self.layout.stated.get(path)
            if stated is not None and (stated in v06.VERSIONS) != v06.is_06(multiscale):
                raise self.fail(
                    path,
                    f"multiscales in OME-Zarr {'0.5' if stated in v06.VERSIONS else '0.6'}'s form "
                    f"({'axes' if stated in v06.VERSIONS else 'coordinateSystems'}) under "
                    f"version {stated}",
                )
            axes: list[str] | None
            if v06.is_06(multiscale):
                axes = self.v06_axes(path, multiscale)
            else:
                axes = axis_names(multiscale)
            if axes is None:
                raise self.fail(path, f"multiscales without axes (OME-Zarr {version} needs them)")
            said = None if version is None else str(version)
            if said is None and "axes" not in multiscale and not v06.is_06(multiscale):
                self.layout.version = self.layout.version or "0.1"
            image = SourceImage(path, multiscale.get("name"), axes, is_label, said)
            self.layout.images.append(image)
            for level, dataset in enumerate(multiscale["datasets"]):
                self.read_array(image, posixpath.join(path, dataset["path"]), level)
        labels = self.group_attrs(posixpath.join(path, "labels"), required=False)
        if labels is not None:
            for label in labels.get("labels", []):
                label_path = posixpath.join(path, "labels", label)
                label_attrs = self.group_attrs(label_path)
                assert label_attrs is not None
                self.check_version(label_path, label_attrs.get("image-label", {}).get("version"))
                self.read_image(label_path, label_attrs, is_label=True)

    def v06_axes(self, path: str, multiscale: dict[str, Any]) -> list[str]:
        """The axes of a 0.6 multiscale; its transforms' parameter arrays are copied as
        arrays that are not image levels, so the input must be listed to find their files."""
        if not self.v3:
            raise self.fail(path, "OME-Zarr 0.6 coordinate systems in a Zarr v2 dataset")
        axes = v06.axis_names(multiscale)
        if axes is None:
            raise self.fail(
                path,
                "multiscales: the levels' transforms name none of its coordinateSystems "
                "(OME-Zarr 0.6 maps every level into one of them)",
            )
        arrays = v06.parameter_arrays(multiscale)
        if arrays and not self.location.can_list:
            where, array = arrays[0]
            raise self.fail(
                path,
                f"multiscales {where}: its parameters are kept in the array {array!r}, whose "
                "files are found only where the input can be listed (not over HTTP)",
            )
        return axes

    def read_array(self, image: SourceImage, path: str, level: int) -> None:
        meta, stored = self.array_document(path)
        if stored is not None:
            self.read_v3_array(image, path, level, meta, stored)
            return
        zarr_format = meta.get("zarr_format")
        if type(zarr_format) is not int or zarr_format != 2:
            raise self.fail(
                path,
                f".zarray has zarr_format {json.dumps(zarr_format)}; a Zarr "
                "v2 array must say the integer 2",
            )
        dtype = meta["dtype"]
        if not isinstance(dtype, str) or np.dtype(dtype).kind not in "biuf":
            raise self.fail(path, f"dtype {dtype!r} is not a plain numeric type")
        for key, least in (("shape", 0), ("chunks", 1)):
            try:
                v05.integer_sizes(meta.get(key), f".zarray {key}", least)
            except ValueError as err:
                raise self.fail(path, str(err)) from err
        if 0 in meta["shape"]:
            raise self.fail(
                path,
                f"array of shape {meta['shape']} holds no pixels (a dimension "
                "of size 0); an OME-Zarr image level needs at least one pixel",
            )
        if len(meta["shape"]) != len(image.axes):
            if (
                image.version in (None, "0.1", "0.2")
                and "axes" not in (self.layout.groups[image.path]["multiscales"][0])
            ):
                raise self.fail(
                    path,
                    f"{len(meta['shape'])} dimensions, but OME-Zarr {image.version or '0.1'} "
                    "names no axes: its arrays are 5D (t, c, z, y, x), so the axes of this one "
                    "are unknown; add 0.4 axes to its multiscales",
                )
            raise self.fail(
                path, f"{len(meta['shape'])} dimensions but {len(image.axes)} axes in multiscales"
            )
        self.check_separator(path, meta)
        attributes = self.json(posixpath.join(path, ".zattrs")) or {}
        self.layout.arrays.append(
            SourceArray(
                path=path,
                image=image.path,
                level=level,
                shape=list(meta["shape"]),
                dtype=dtype,
                chunks=list(meta["chunks"]),
                compressor=meta.get("compressor"),
                filters=meta.get("filters") or None,
                order=meta.get("order", "C"),
                fill_value=meta.get("fill_value"),
                dimension_separator=meta.get("dimension_separator", "."),
                dimension_names=image.axes,
                attributes=attributes,
            )
        )

    def read_v3_array(
        self,
        image: SourceImage,
        path: str,
        level: int,
        meta: dict[str, Any],
        stored: v05.V3Array,
    ) -> None:
        shape = list(meta["shape"])
        if 0 in shape:
            raise self.fail(path, f"array of shape {shape} holds no pixels")
        if len(shape) != len(image.axes):
            raise self.fail(path, f"{len(shape)} dimensions but {len(image.axes)} axes")
        self.layout.arrays.append(
            SourceArray(
                path=path,
                image=image.path,
                level=level,
                shape=shape,
                dtype=stored.dtype,
                chunks=stored.chunks,
                compressor=None,
                filters=None,
                order=stored.order,
                fill_value=meta.get("fill_value"),
                dimension_separator=stored.separator,
                dimension_names=image.axes,
                attributes=dict(meta.get("attributes") or {}),
                stored=stored,
            )
        )

    def check_separator(self, path: str, meta: dict[str, Any]) -> None:
        """Where the input cannot be listed (HTTP): chunks stored under the other key separator
        than .zarray says (old nested stores wrote '/' keys without saying so) would read as an
        empty array: refuse them when chunk 0 shows it. A listed input is checked from its
        listing instead, whichever chunks exist (:meth:`list_arrays`)."""
        if self.location.can_list:
            return
        declared = meta.get("dimension_separator", ".")
        other = "/" if declared == "." else "."
        first = (0,) * len(meta["shape"])
        if len(first) < 2 or self.exists(f"{path}/{v2_chunk_key(first, declared)}"):
            return
        if self.exists(f"{path}/{v2_chunk_key(first, other)}"):
            said = "declares" if "dimension_separator" in meta else "implies (no key: default)"
            raise self.fail(
                path,
                f"chunks are stored under '{other}' keys but .zarray {said} "
                f"dimension_separator '{declared}'; every reader would see fill values",
            )

    def list_arrays(self, listing: DatasetListing) -> None:
        """The listing of the dataset, shared out to its image arrays: which chunk files each
        holds, under which key form; files that are no chunk of it are named as skipped."""
        keys = [
            key
            for key in listing.keys
            if not TEMPORARY_NAME.match(key.rsplit("/", 1)[-1])
            and not (self.written_here and self.written_here(key))
        ]
        arrays = [a for a in self.layout.arrays if a.downsampled_from is None]
        extras = [e for e in self.layout.extras if e.action == "migrate"]
        grouped = group_by_array(keys, [*(a.path for a in arrays), *(e.path for e in extras)])
        for extra in extras:
            self._check_extra(extra, grouped[extra.path])
        for array in arrays:
            try:
                array.listing = self._listing(array, grouped[array.path])
            except ListingError as err:
                raise self.fail(array.path, str(err)) from err
            self.layout.left_out += [
                InventoryItem(path=f"{array.path}/{key}", kind="file", action="skip", reason=why)
                for key, why in array.listing.strays
            ]

    def _check_extra(self, extra: ExtraArray, keys: list[str]) -> None:
        """An array that is not an image level is migrated by zarr-python, which reads the keys
        its .zarray gives: chunk files stored under others would migrate as fill values."""
        declared = self.extra_separators.get(extra.path, ".")
        grid = [-(-n // c) for n, c in zip(extra.shape, extra.chunks, strict=True)]
        try:
            listing = list_v2_chunks(extra.path, keys, grid, declared)
        except ListingError as err:
            raise self.fail(extra.path, str(err)) from err
        if listing.separator not in (None, declared):
            raise self.fail(
                extra.path,
                f"its chunk files are stored under '{listing.separator}' keys but its .zarray "
                f"gives '{declared}' keys; set its dimension_separator to '{listing.separator}'",
            )
        self.layout.left_out += [
            InventoryItem(path=f"{extra.path}/{key}", kind="file", action="skip", reason=why)
            for key, why in listing.strays
        ]

    def _listing(self, array: SourceArray, keys: list[str]) -> ArrayListing:
        """The array's files classified; shared by the arrays whose keys (below them), file
        grid and key form are the same (nothing changes a listing once made)."""
        stored = array.stored
        files = array.chunks if stored is None else stored.shards or stored.chunks
        grid = [-(-n // c) for n, c in zip(array.shape, files, strict=True)]
        encoding = None if stored is None else stored.document.get("chunk_key_encoding")
        form = array.dimension_separator if stored is None else repr(encoding)
        known = (tuple(keys), tuple(grid), form)
        listing = self.array_listings.get(known)
        if listing is None:
            if stored is None:
                listing = list_v2_chunks(array.path, keys, grid, array.dimension_separator)
            else:
                listing = list_v3_files(array.path, keys, grid, encoding or {"name": "default"})
            self.array_listings[known] = listing
        return listing

    def read_plate(self, plate: dict[str, Any]) -> None:
        self.check_version("", plate.get("version"))
        wells = plate.get("wells") or []
        if not wells:
            raise self.fail("", "plate lists no wells")
        self.layout.wells = len(wells)
        # Documents are fetched ahead only where a request costs a round trip.
        ahead = self.location.io_concurrency > 1
        if ahead:
            self.prefetch([doc for w in wells for doc in self.group_documents(w["path"])])
        fields = []
        for well in wells:
            well_attrs = self.group_attrs(well["path"])
            assert well_attrs is not None
            if "well" not in well_attrs:
                raise self.fail(well["path"], "well group without well metadata")
            self.check_version(well["path"], well_attrs["well"].get("version"))
            fields += [
                posixpath.join(well["path"], field_image["path"])
                for field_image in well_attrs["well"].get("images", [])
            ]
        if ahead:
            self.prefetch(
                [
                    doc
                    for image in fields
                    for doc in [
                        *self.group_documents(image),
                        *self.group_documents(f"{image}/labels"),
                    ]
                ]
            )
            self.prefetch_levels(fields)
        for image_path in fields:
            image_attrs = self.group_attrs(image_path)
            assert image_attrs is not None
            self.read_image(image_path, image_attrs, is_label=False)

    def read_series(self) -> None:
        if self.v3:
            ome = self.group_attrs("OME", required=False) or {}
        else:
            ome = self.json("OME/.zattrs") or {}
        series = ome.get("series")
        if series is None:
            # Without OME/.zattrs the layout numbers its series 0, 1, 2, ...
            series = []
            while self.json(self.group_documents(str(len(series)))[0]) is not None:
                series.append(str(len(series)))
        if not series:
            raise self.fail("", "bioformats2raw.layout without any series")
        for path in series:
            attrs = self.group_attrs(path)
            assert attrs is not None
            self.read_image(path, attrs, is_label=False)

    def read_ome_folder(self) -> None:
        self.group_attrs("OME", required=False)
        if self.exists(OME_XML):
            self.layout.files.append(OME_XML)

    def walk(self, listing: DatasetListing) -> None:
        """Everything below the root that the OME metadata does not name: groups (kept with
        their attributes), arrays (migrated when they have a Zarr v3 form) and files (copied),
        found in the listing. Image levels are not walked: their folders hold only chunks."""
        self.layout.listed = True
        levels = {a.path for a in self.layout.arrays}
        folders = [""]
        while folders:
            folder = folders.pop()
            for name, is_folder in listing.entries(folder):
                path = f"{folder}/{name}" if folder else name
                # Another output's claim and an in-place run's copies are not the dataset's.
                if path in (ORIGINALS, ORIGINALS_ARCHIVE, CLAIM_FILE):
                    continue
                if not is_folder:
                    if (
                        name in V2_DOCUMENTS
                        or (self.v3 and name == "zarr.json")
                        or (self.written_here and self.written_here(path))
                    ):
                        continue
                    if name == CONSOLIDATED:
                        self.layout.left_out.append(
                            InventoryItem(
                                path=path,
                                kind="file",
                                action="replace",
                                reason="consolidated Zarr v2 metadata: the v3 zarr.json documents "
                                "replace it",
                            )
                        )
                    elif path not in self.layout.files:
                        self.layout.files.append(path)
                    continue
                if path in levels:
                    continue
                if path in self.layout.groups:
                    folders.append(path)
                elif self.v3:
                    self.walk_v3_node(path, folders, listing)
                elif (meta := self.json(posixpath.join(path, ".zarray"))) is not None:
                    self.layout.extras.append(self.extra_array(path, meta))
                    self.extra_separators[path] = meta.get("dimension_separator", ".")
                else:
                    # A group (.zgroup), or a plain folder whose files are kept.
                    if self.json(posixpath.join(path, ".zgroup")) is not None:
                        self.layout.groups[path] = self.json(posixpath.join(path, ".zattrs")) or {}
                    folders.append(path)

    def walk_v3_node(self, path: str, folders: list[str], listing: DatasetListing) -> None:
        """A Zarr v3 folder the OME metadata does not name: a group (kept with its
        attributes), an array (already Zarr v3: its files copied as they are) or a folder."""
        document = self.json(posixpath.join(path, "zarr.json")) or {}
        if document.get("node_type") == "array":
            files = [posixpath.join(path, key) for key in listing.below(path)]
            self.layout.files += files
            self.layout.left_out.append(
                InventoryItem(
                    path=path,
                    kind="array",
                    action="copy",
                    reason="not an image level, Zarr v3 already: its files copied as they are",
                )
            )
            return
        if document.get("node_type") == "group":
            self.layout.groups[path] = self.plain_attrs(path)
        folders.append(path)

    def extra_array(self, path: str, meta: dict[str, Any]) -> ExtraArray:
        filters = meta.get("filters") or None
        codecs = {f.get("id") for f in filters or []}
        problem = None
        try:
            kind = np.dtype(meta["dtype"]).kind
        except TypeError:
            kind = ""
        if meta.get("zarr_format") != 2:
            problem = f"zarr_format {meta.get('zarr_format')!r} is not 2"
        elif kind == "O":
            if not (codecs & STRING_CODECS):
                problem = (
                    f"object array with filters {sorted(map(str, codecs))}: only "
                    "vlen-utf8 and vlen-bytes strings have a Zarr v3 form"
                )
            elif "vlen-bytes" in codecs and not isinstance(
                meta.get("fill_value"), str | type(None)
            ):
                # zarr-python 3 cannot open such an array to read its values.
                problem = (
                    f"vlen-bytes array with fill_value {meta.get('fill_value')!r}: "
                    "zarr-python reads only a string or null fill_value"
                )
        elif kind not in "biufc":
            problem = f"dtype {meta['dtype']!r} has no Zarr v3 core data type"
        return ExtraArray(
            path=path,
            shape=list(meta["shape"]),
            dtype=meta["dtype"],
            chunks=list(meta["chunks"]),
            compressor=meta.get("compressor"),
            filters=filters,
            fill_value=meta.get("fill_value"),
            attributes=self.json(posixpath.join(path, ".zattrs")) or {},
            action="skip" if problem else "migrate",
            reason=problem or "",
        )

    def add_parent_groups(self) -> None:
        """Zarr v3 has no implicit groups: every folder above a node needs its zarr.json."""
        for node in [*self.layout.groups, *(a.path for a in self.layout.arrays)]:
            parent = posixpath.dirname(node)
            while parent and parent not in self.layout.groups:
                self.layout.groups[parent] = self.plain_attrs(parent)
                parent = posixpath.dirname(parent)


def read_source(location: Location, dataset: str) -> SourceLayout:
    """Walk an OME-Zarr dataset's metadata; raise :class:`SourceError` naming the path."""
    LOG.info("reading the layout of %s", location.url)
    written_here = None
    originals: Kept = {}
    listing = None
    if location.can_list:
        # Listed once, first: the listing says which documents are there (none is asked for
        # that is not), each folder's entries and each array's files.
        listing = DatasetListing(location.list_files(""))
        claim = read_claim(location) if CLAIM_FILE in listing else None
        if claim is not None and claim.get("in_place"):
            LOG.info("%s holds metadata written in place: read past it", location.url)
            written_here = written_by_workflow(claim)
            # The input's documents that run replaced: from its archive, in one read.
            try:
                originals = read_originals(location) or {}
            except StorageError as err:
                raise SourceError(dataset, location.child(ORIGINALS_ARCHIVE), str(err)) from err
    reader = _Reader(location, dataset, written_here, listing)
    reader.originals = originals
    try:
        return reader.read()
    except (KeyError, TypeError, IndexError, AttributeError) as err:
        raise SourceError(dataset, location.url, f"malformed OME-Zarr metadata ({err!r})") from err
