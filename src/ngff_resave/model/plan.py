"""The plan as typed models: one dataset's plan (``results/{dataset}/plan.json``) and the sheet's
plan (``results/plan.json``), written and read only through these classes.

Every file carries a ``format`` number. A file of another format is not misread: reading it
returns None and the dataset is planned again.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Generic, Literal, TypeVar, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    PrivateAttr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_serializer,
    field_validator,
    model_validator,
)

from ngff_resave.storage import read_local_bytes

LOG = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")

PLAN_FORMAT: Final = 4
# Plan fields that change the metadata and crate written, never the pixels.
METADATA_ONLY = frozenset(
    {"crate", "notes", "origin", "ngff_version", "settings_digest", "pixel_settings_digest"}
)
SHEET_PLAN_FORMAT: Final = 1
# In plan.json, a Zarr v3 input array's ``document`` is ``{"$document": n}``: the n-th of the
# plan's ``documents``. A plate's thousands of arrays share a few documents, which written in
# full made most of its plan (tens of MB, read by every job).
DOCUMENT_REF: Final = "$document"
# Likewise an output array's ``codecs`` is ``[{"$codecs": n}]``: the n-th of ``output_codecs``.
CODECS_REF: Final = "$codecs"
_SHARED_DOCUMENTS: Final = "shared documents"


class _Numbering(Generic[T]):
    """Distinct JSON values, each numbered once. The arrays of a plan read from one file share
    their value objects: looked up by identity first (they stay alive while the plan is
    written), by content (key order too) else."""

    def __init__(self) -> None:
        self.values: list[T] = []
        self._by_id: dict[int, int] = {}
        self._by_content: dict[str, int] = {}

    def number(self, value: T) -> int:
        index = self._by_id.get(id(value))
        if index is None:
            index = self._by_content.setdefault(json.dumps(value), len(self.values))
            if index == len(self.values):
                self.values.append(value)
            self._by_id[id(value)] = index
        return index


class _DocumentTable:
    """The distinct documents and output codecs of a plan's arrays as it is written."""

    def __init__(self) -> None:
        self._documents = _Numbering[dict[str, Any]]()
        self._codecs = _Numbering[list[dict[str, Any]]]()

    @property
    def documents(self) -> list[dict[str, Any]]:
        return self._documents.values

    @property
    def codecs(self) -> list[list[dict[str, Any]]]:
        return self._codecs.values

    def ref(self, document: dict[str, Any]) -> dict[str, int]:
        return {DOCUMENT_REF: self._documents.number(document)}

    def codecs_ref(self, codecs: list[dict[str, Any]]) -> list[dict[str, int]]:
        return [{CODECS_REF: self._codecs.number(codecs)}]


class Mode(StrEnum):
    """What happens to an array's chunks: moved as they are, decoded and encoded again, or left
    where they are and read through a ``zarr.json`` that names them the v2 way."""

    COPY = "copy"
    REENCODE = "reencode"
    REFERENCE = "reference"


class Engine(StrEnum):
    """The code that writes an array's shards; each belongs to one mode."""

    SHARD_COPY = "shard copy"
    CHUNK_TRANSCODE = "chunk transcode"
    TENSORSTORE = "tensorstore"
    ZARR_PYTHON = "zarr-python"
    # A label level the input lacks, computed from another level (a mend).
    NEAREST = "nearest-neighbour downsampling"
    # The input's chunk files linked into the output (or left alone, in place).
    LINK = "link"
    # A Zarr v3 input's chunk or shard files copied whole, byte for byte.
    FILE_COPY = "file copy"

    @property
    def mode(self) -> Mode:
        if self is Engine.LINK:
            return Mode.REFERENCE
        return Mode.COPY if self in (Engine.SHARD_COPY, Engine.FILE_COPY) else Mode.REENCODE


class PlanError(ValueError):
    """The settings of a dataset cannot be planned; the message names dataset and array."""


class Failure(StrEnum):
    """Why a dataset failed: its input cannot be converted as it is, or converting it failed."""

    INPUT_DEFECT = "input defect"
    CONVERSION = "conversion failure"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)


def _later(default: Any) -> Any:
    """A field added after plans were first written: left out of the JSON while at its
    default, so plans made before it keep their bytes and digests. (Per field, not a wrap
    serializer of the model, which took 0.2 s of writing a plate's plan.)"""
    return Field(default=default, exclude_if=lambda value: value == default)


class InputArray(_Model):
    """How the input stores an array. A Zarr v2 array: its chunk files and compressor. A Zarr
    v3 one: ``chunks`` are its inner chunks (its chunks when it is not sharded), ``shards`` its
    shard shape, and ``document`` its ``zarr.json`` without attributes."""

    chunks: list[int]
    compressor: dict[str, Any] | None
    filters: list[dict[str, Any]] | None
    order: Literal["C", "F"]
    fill_value: Any
    dimension_separator: Literal[".", "/"]
    zarr_format: Literal[2, 3] = _later(2)
    shards: list[int] | None = _later(None)
    document: dict[str, Any] | None = _later(None)
    # A v2 array whose chunk files use the other separator than its .zarray says (a mend):
    # the .zarray's; ``dimension_separator`` is then the one the files use.
    declared_separator: Literal[".", "/"] | None = _later(None)
    # From the listing of the input (None: it could not be listed, as over HTTP): how many
    # chunk files (shard files, for a sharded Zarr v3 array) it holds, and which, by file grid
    # coordinate (``1.0.3``) when some positions hold none (None: every one holds a file).
    files_found: int | None = _later(None)
    present: list[str] | None = _later(None)

    @field_serializer("document")
    def _shared_document(
        self, document: dict[str, Any] | None, info: FieldSerializationInfo
    ) -> dict[str, Any] | None:
        table = (info.context or {}).get(_SHARED_DOCUMENTS)
        if table is None or document is None:
            return document
        return cast(dict[str, Any], table.ref(document))


class OutputArray(_Model):
    """``as_input``: the output array is the Zarr v3 input's as it is (its ``zarr.json`` but
    the attributes, its chunk or shard files); ``shards`` is then its shard shape, or for an
    unsharded one the blocks of chunks a job copies or links at once."""

    chunks: list[int]
    # A referenced array is not sharded: its "shards" are the blocks of chunks that a convert
    # job links and validation reads at once.
    shards: list[int]
    codecs: list[dict[str, Any]]
    order: Literal["C", "F"]
    as_input: bool = _later(False)

    @field_validator("codecs", mode="wrap")
    @classmethod
    def _given_codecs(cls, codecs: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # The list given, not a copy of it, when it is valid as it is: the arrays planned from
        # one input document then share one list, which a plan written numbers by identity,
        # not by a JSON dump of each array's (a plate's 12,288: 0.1 s per plan written).
        valid = handler(codecs)
        if type(codecs) is list and all(type(c) is dict for c in codecs) and valid == codecs:
            return codecs
        return valid

    @field_serializer("codecs")
    def _shared_codecs(
        self, codecs: list[dict[str, Any]], info: FieldSerializationInfo
    ) -> list[dict[str, Any]]:
        table = (info.context or {}).get(_SHARED_DOCUMENTS)
        return codecs if table is None else cast(list[dict[str, Any]], table.codecs_ref(codecs))


class PlannedArray(_Model):
    path: str
    image: str
    level: int
    shape: list[int]
    dtype: str
    dimension_names: list[str]
    input: InputArray
    output: OutputArray
    mode: Mode
    reason: str
    bytes: int
    shards: int
    shard_bytes: int
    attributes: dict[str, Any] = {}
    downsampled_from: str | None = None

    @property
    def sharded(self) -> bool:
        """Whether the output array is sharded (else its files are chunk files, the input's)."""
        return _sharded(self.output.as_input, self.input.shards, self.mode)


def _sharded(as_input: bool, input_shards: list[int] | None, mode: Mode) -> bool:
    if as_input:
        return input_shards is not None
    return mode != Mode.REFERENCE


class ExtraArray(_Model):
    """An array that is not an image level, migrated to Zarr v3 by the metadata step (values
    read and written by zarr-python), or skipped with the reason."""

    path: str
    shape: list[int]
    dtype: Any
    chunks: list[int]
    compressor: dict[str, Any] | None
    filters: list[dict[str, Any]] | None
    fill_value: Any
    attributes: dict[str, Any]
    action: Literal["migrate", "skip"]
    reason: str = ""


class InventoryItem(_Model):
    """One group, array or file of the input and what happens to it."""

    path: str
    kind: Literal["group", "array", "file"]
    # "carry forward": the input's RO-Crate, merged into the output's crate (not copied).
    action: Literal["convert", "migrate", "copy", "replace", "drop", "skip", "carry forward"]
    reason: str = ""


class Mend(_Model):
    """An input defect OME-Zarr 0.5 forbids, and what the conversion did about it."""

    rule: str
    path: str
    mend: str

    def line(self) -> str:
        return f"{self.rule} at {self.path or '(root)'}: {self.mend}"


class JobPart(_Model):
    """A shard range ``[start, stop)`` of one array."""

    path: str
    shards: tuple[int, int]


class ConvertJob(_Model):
    id: str
    level: int
    part: int
    arrays: list[JobPart]
    bytes: int
    shard_bytes: int


class Planner(_Model):
    name: str
    version: str


class Plan(_Model):
    format: Literal[4] = PLAN_FORMAT
    planner: Planner
    dataset: str
    input: str
    output: str
    input_storage: dict[str, Any]
    output_storage: dict[str, Any]
    kind: str
    name: str | None
    wells: int | None
    images: list[str]
    labels: list[str]
    groups: dict[str, dict[str, Any]]
    files: list[str]
    arrays: list[PlannedArray]
    extras: list[ExtraArray] = []
    # Every group, array and file of the input (all that the metadata names, when the input
    # cannot be listed) and what happens to each.
    inventory: list[InventoryItem] = []
    listed: bool = False
    mends: list[Mend] = []
    jobs: list[ConvertJob]
    bytes: int
    # The output is the input: only metadata is written, beside the v2 documents.
    in_place: bool = False
    crate: dict[str, Any] | None
    notes: str | None
    origin: str | None
    # The OME-Zarr version of the input, and the one written (metadata only).
    input_version: str = "0.4"
    ngff_version: str = "0.5"
    # Zarr v3 (0.5) inputs: in place, their own zarr.json documents are replaced (copies kept).
    input_zarr_format: Literal[2, 3] = 2
    # What the plan was made from (sheet row, config, planner version): an unchanged row reuses
    # its plan without reading the input again; a row whose pixel settings are unchanged (only
    # crate fields, notes or origin differ) gets its plan with those fields replaced.
    settings_digest: str = ""
    pixel_settings_digest: str = ""
    # Only in the file (see DOCUMENT_REF; last, so that it is written after the arrays that
    # number its documents): read, each array has its document again, shared.
    documents: list[dict[str, Any]] = []
    # Likewise the output arrays' codecs (see CODECS_REF): a plate's thousands share a few.
    output_codecs: list[list[dict[str, Any]]] = []
    # pixels_digest() once computed: a plate's plan takes a while to digest, and one process
    # asks several times (each convert job's record, the proofs of validation). Dropped when a
    # field is set or the plan copied; the plan's parts are not changed in place once planned.
    _pixels: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve_documents(self) -> Plan:
        for array in self.arrays:
            document = array.input.document
            if document is not None and DOCUMENT_REF in document:
                index = document[DOCUMENT_REF]
                if (
                    len(document) != 1
                    or not isinstance(index, int)
                    or not 0 <= index < len(self.documents)
                ):
                    raise ValueError(f"array {array.path}: no document {document}")
                array.input.document = self.documents[index]
            codecs = array.output.codecs
            if len(codecs) == 1 and CODECS_REF in codecs[0]:
                index = codecs[0][CODECS_REF]
                if (
                    len(codecs[0]) != 1
                    or not isinstance(index, int)
                    or not 0 <= index < len(self.output_codecs)
                ):
                    raise ValueError(f"array {array.path}: no codecs {codecs}")
                array.output.codecs = self.output_codecs[index]
        self.documents = []
        self.output_codecs = []
        return self

    @field_serializer("documents")
    def _written_documents(
        self, documents: list[dict[str, Any]], info: FieldSerializationInfo
    ) -> list[dict[str, Any]]:
        table = (info.context or {}).get(_SHARED_DOCUMENTS)
        return documents if table is None else table.documents

    @field_serializer("output_codecs")
    def _written_codecs(
        self, codecs: list[list[dict[str, Any]]], info: FieldSerializationInfo
    ) -> list[list[dict[str, Any]]]:
        table = (info.context or {}).get(_SHARED_DOCUMENTS)
        return codecs if table is None else table.codecs

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "_pixels":
            self._pixels = None
        super().__setattr__(name, value)

    def model_copy(self, *, update: Any = None, deep: bool = False) -> Plan:
        copy = super().model_copy(update=update, deep=deep)
        copy._pixels = None
        return copy

    @property
    def replaces_input_documents(self) -> bool:
        """In place over a Zarr v3 input: its own zarr.json documents are replaced."""
        return self.in_place and self.input_zarr_format == 3

    def job(self, job_id: str) -> ConvertJob:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise PlanError(f"dataset '{self.dataset}': the plan has no convert job {job_id}")

    def pixels_digest(self) -> str:
        """The digest of what decides the pixels written: the plan without its crate fields,
        notes, origin and settings digests. Convert records made under it stay good."""
        if self._pixels is None:
            self._pixels = self._pixels_digest()
        return self._pixels

    def _pixels_digest(self) -> str:
        # A field at its default is left out, so plans made before it existed keep their digest.
        left_out = set(METADATA_ONLY) | {
            name
            for name, default in (
                ("in_place", False),
                ("input_version", "0.4"),
                ("input_zarr_format", 2),
            )
            if getattr(self, name) == default
        }
        # The listing's counts decide which shards are read, not their values: records made
        # before inputs were listed stay good (a mended separator changes the plan itself).
        exclude: dict[str, Any] = dict.fromkeys(left_out, True)
        exclude["arrays"] = {"__all__": {"input": {"files_found": True, "present": True}}}
        # As the file has them: each distinct document and codecs once (the tables are
        # digested with the arrays that number them), not a plate's thousands of copies.
        context = {_SHARED_DOCUMENTS: _DocumentTable()}
        return digest(self.model_dump_json(exclude=exclude, context=context).encode())

    @property
    def skipped(self) -> list[InventoryItem]:
        return [item for item in self.inventory if item.action == "skip"]

    @property
    def referenced(self) -> list[PlannedArray]:
        return [a for a in self.arrays if a.mode == Mode.REFERENCE]

    @property
    def shard_bytes(self) -> int:
        """The largest shard of the dataset (uncompressed), which sizes a job's memory."""
        return max(a.shard_bytes for a in self.arrays)

    def to_bytes(self) -> builtins.bytes:
        # Not indented: a plate's plan is parsed by several jobs, and a third of its bytes
        # were indentation.
        context = {_SHARED_DOCUMENTS: _DocumentTable()}
        return self.model_dump_json(context=context).encode() + b"\n"


class _Summary(BaseModel):
    # Only what a summary names is made into objects; the rest of the file is skipped.
    model_config = ConfigDict(extra="ignore", use_enum_values=True)


class _InputSummary(_Summary):
    shards: list[int] | None = None


class _OutputSummary(_Summary):
    chunks: list[int]
    shards: list[int]
    as_input: bool = False


class ArraySummary(_Summary):
    """A planned array without its input's documents, codecs and attributes."""

    path: str
    image: str
    level: int
    shape: list[int]
    dtype: str
    dimension_names: list[str]
    input: _InputSummary
    output: _OutputSummary
    mode: Mode

    @property
    def sharded(self) -> bool:
        return _sharded(self.output.as_input, self.input.shards, self.mode)


class _PlanFields(_Summary):
    format: Literal[4]
    dataset: str
    input: str
    output: str
    output_storage: dict[str, Any]
    kind: str
    name: str | None
    wells: int | None
    images: list[str]
    inventory: list[InventoryItem] = []
    mends: list[Mend] = []
    origin: str | None
    input_version: str = "0.4"
    ngff_version: str = "0.5"

    @property
    def skipped(self) -> list[InventoryItem]:
        return [item for item in self.inventory if item.action == "skip"]


class _PlanFile(_PlanFields):
    """A plan as the summary reads it: every array, without its documents and codecs."""

    arrays: list[ArraySummary]


class PlanSummary(_PlanFields):
    """What the catalog reads of a dataset's plan: its fields (of the inventory, the skipped
    items) but the arrays, of which only the first image's level 0, how many there are, their
    levels and modes. A plate's plan holds every array's documents (tens of MB); its job
    records this summary with its outcome."""

    first_level: ArraySummary
    array_count: int
    levels: int
    modes: list[str]

    @classmethod
    def of(cls, plan: Plan | _PlanFile) -> PlanSummary:
        fields = {name: getattr(plan, name) for name in _PlanFields.model_fields}
        # Of the inventory only what the catalog names (a plate's 20,000 converted nodes made
        # its record 1.5 MB that the catalog and the report pages parsed for nothing).
        fields["inventory"] = plan.skipped
        first_image = plan.images[0] if plan.images else ""
        first = next(a for a in plan.arrays if a.image == first_image and a.level == 0)
        return cls(
            **fields,
            first_level=ArraySummary.model_validate(first.model_dump()),
            array_count=len(plan.arrays),
            levels=1 + max(a.level for a in plan.arrays),
            modes=sorted({str(a.mode) for a in plan.arrays}),
        )


class SheetEntry(_Model):
    """One row of the sheet as planned: where its plan is, or why it has none."""

    dataset: str
    input: str
    output: str
    settings_digest: str
    plan_digest: str | None = None
    kind: str | None = None
    bytes: int = 0
    shard_bytes: int = 0
    jobs: list[str] = []
    pixels_digest: str | None = None
    error: str | None = None
    failure: Failure | None = None


class SheetPlan(_Model):
    """The sheet as planned. ``inputs_digest`` is what it was made from (sheet, details files,
    config); ``attempt`` names it: a new attempt follows a change of those inputs, or a sheet
    plan with rows that could not be planned, so that those are always tried again."""

    format: Literal[1] = SHEET_PLAN_FORMAT
    planner: Planner
    attempt: str = ""
    inputs_digest: str = ""
    entries: list[SheetEntry]

    @property
    def complete(self) -> bool:
        return all(e.plan_digest is not None for e in self.entries)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(indent=1).encode() + b"\n"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_plan(path: str | Path) -> Plan | None:
    """A dataset's plan, or None when it is missing or of another format (plan it again)."""
    return _read_model(Plan, path, PLAN_FORMAT)


def read_plan_summary(path: str | Path) -> PlanSummary | None:
    """:class:`PlanSummary` of a dataset's plan, or None as :func:`read_plan` gives."""
    plan = _read_model(_PlanFile, path, PLAN_FORMAT)
    return None if plan is None else PlanSummary.of(plan)


def read_sheet_plan(path: str | Path) -> SheetPlan | None:
    return _read_model(SheetPlan, path, SHEET_PLAN_FORMAT)


def _read_model(cls: type[ModelT], path: str | Path, version: int) -> ModelT | None:
    data = read_local_bytes(path)
    if data is None:
        return None
    try:
        return cls.model_validate_json(data)
    except ValidationError as err:
        LOG.warning(
            "%s is not a %s of format %d (%s): planning again",
            path,
            cls.__name__.lstrip("_"),
            version,
            err.errors()[0]["msg"],
        )
        return None
