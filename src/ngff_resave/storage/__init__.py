"""One storage layer for every read and write: local paths, and fsspec URLs (s3://, https://).

Planning, conversion and metadata only ever talk to a :class:`Location`; each backend is its own
module, so a remote store plugs in here without touching them. ``open_location`` picks the
backend. Importing this package imports neither fsspec nor zarr, so short jobs start fast.

Inside, the interface (``base``) never imports its backends (``local``, ``fsspec_store``);
``backends`` chooses one and ``records`` writes the workflow's local records; ``documents``
(JSON to and from bytes), ``retries`` and ``redaction`` (secrets kept out of error lines and
logs) sit below them all.

May import: nothing else in the package.
"""

from ngff_resave.storage.backends import open_location
from ngff_resave.storage.base import (
    LAYER_OPTIONS,
    READ_BACK,
    SERVER_CHECKSUM,
    Capabilities,
    Location,
    StorageError,
    StoredChecksum,
    StoredOtherwise,
    is_url,
)
from ngff_resave.storage.documents import copy_json, decode_json, encode_json, encode_line
from ngff_resave.storage.fsspec_store import FsspecLocation
from ngff_resave.storage.local import TEMPORARY_NAME, LocalLocation, temporary_name
from ngff_resave.storage.records import (
    delete_local,
    read_local_bytes,
    read_local_record,
    write_local_bytes,
    write_local_json,
)

__all__ = [
    "LAYER_OPTIONS",
    "READ_BACK",
    "SERVER_CHECKSUM",
    "TEMPORARY_NAME",
    "Capabilities",
    "FsspecLocation",
    "LocalLocation",
    "Location",
    "StorageError",
    "StoredChecksum",
    "StoredOtherwise",
    "copy_json",
    "decode_json",
    "delete_local",
    "encode_json",
    "encode_line",
    "is_url",
    "open_location",
    "read_local_bytes",
    "read_local_record",
    "temporary_name",
    "write_local_bytes",
    "write_local_json",
]
