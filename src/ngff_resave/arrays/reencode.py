"""Re-encoding: arrays whose codec or chunk shape changes, decoded and encoded again.

Three engines. When only the codec changes, :class:`ChunkTranscoder` encodes each input chunk,
as the read-back's zarr-python decoded it, into an output inner chunk, a shard's chunks on the
job's threads at once (the shard is then assembled like a copied one). When the chunk shape
changes, regions are decoded and encoded through :class:`Reencoder`: tensorstore (C++,
multi-threaded, the faster one) where it can reach both stores and read the input, zarr-python
for everything else (v2 filters, any zarr store). Both sides of both are built from the same
:class:`~ngff_resave.storage.Location`. Imported only by jobs that need it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numcodecs
import numpy as np
from numcodecs.abc import Codec

from ngff_resave.model.plan import Engine, PlannedArray
from ngff_resave.source.listing import ChunkFileMissing
from ngff_resave.storage import Location

SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def v3_compressor_to_numcodecs(codecs: list[dict[str, Any]]) -> Codec | None:
    """The numcodecs codec that writes what a v3 compressor codec (blosc/zstd/gzip) reads."""
    if not codecs:
        return None
    (codec,) = codecs
    config = codec.get("configuration", {})
    if codec["name"] == "blosc":
        return numcodecs.Blosc(
            cname=config["cname"],
            clevel=config["clevel"],
            shuffle=SHUFFLE[config["shuffle"]],
            blocksize=config.get("blocksize", 0),
        )
    if codec["name"] == "zstd":
        return numcodecs.Zstd(level=config["level"], checksum=config.get("checksum", False))
    if codec["name"] == "gzip":
        return numcodecs.GZip(level=config["level"])
    raise ValueError(f"no numcodecs form for v3 codec {codec['name']!r}")


@functools.cache
def codec_pool(threads: int) -> ThreadPoolExecutor:
    """The process's threads that transcode chunks, ``threads`` of them, shared by every array
    (a plate's job has thousands): numcodecs releases the GIL while it compresses."""
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="transcode")


class ChunkTranscoder:
    """Turns one encoded v2 chunk of an array into an encoded v3 inner chunk: decoded by its
    v2 compressor and filters into the raw chunk bytes (in the input's byte and memory order)
    and encoded by the output compressor, which costs little more than the compression.

    :meth:`encode` encodes a chunk already decoded (by zarr-python, for the read-back to
    compare with: :meth:`~ngff_resave.arrays.readback.Readback.input_chunks`), so the input is
    decoded once. :meth:`many` and :meth:`encode_many` do a shard's chunks on ``threads``
    threads at once (:func:`codec_pool`), so the codecs keep every core busy while the job's
    shard workers read, write and read back."""

    def __init__(self, array: PlannedArray, threads: int = 1) -> None:
        source = array.input
        self.dtype = np.dtype(array.dtype)
        self.decompressor = numcodecs.get_codec(source.compressor) if source.compressor else None
        self.filters = [numcodecs.get_codec(f) for f in source.filters or []]
        self.compressor = v3_compressor_to_numcodecs(array.output.codecs)
        self.threads = threads

    def __call__(self, encoded: bytes) -> bytes:
        data: Any = encoded
        if self.decompressor is not None:
            data = self.decompressor.decode(data)
        for codec in reversed(self.filters):
            data = codec.decode(data)
        # A typed view, so blosc shuffles by the item size, not by bytes.
        values = np.frombuffer(memoryview(data).cast("B"), dtype=self.dtype)
        if self.compressor is None:
            return values.tobytes()
        return bytes(self.compressor.encode(values))

    def encode(self, values: Any) -> bytes:
        """A whole chunk's values (as decoded from the input: its byte and memory order, its
        item size for blosc's shuffle) encoded by the output compressor."""
        flat = np.ravel(values, order="K")  # the decoded bytes as they are in memory
        if self.compressor is None:
            return flat.tobytes()
        return bytes(self.compressor.encode(flat))

    def many(self, chunks: list[bytes | None]) -> list[bytes | None]:
        """Each chunk transcoded (None, an absent chunk, stays None), in order."""
        return self._each(self, chunks)

    def encode_many(self, chunks: list[Any]) -> list[bytes | None]:
        """Each chunk's values encoded (None, an absent chunk, stays None), in order."""
        return self._each(self.encode, chunks)

    def _each(self, work: Callable[[Any], bytes], chunks: list[Any]) -> list[bytes | None]:
        present = [chunk for chunk in chunks if chunk is not None]
        if self.threads <= 1 or len(present) <= 1:
            done = iter([work(chunk) for chunk in present])
        else:
            done = codec_pool(self.threads).map(work, present)
        return [None if chunk is None else next(done) for chunk in chunks]


def stored_keys(metadata: Any, array: PlannedArray) -> Any:
    """zarr-python's metadata of an input array, reading its chunk files under the keys they
    are stored at (a mended ``dimension_separator``) rather than the ones .zarray says."""
    if array.input.declared_separator is None:
        return metadata
    return dataclasses.replace(metadata, dimension_separator=array.input.dimension_separator)


def open_source(store: Any, array: PlannedArray) -> Any:
    """The input side of a planned array, indexable by region: the v2 array, or for a level
    computed by a mend, the nearest-neighbour view of the level it comes from."""
    import zarr

    derived = array.downsampled_from
    # A computed level reads the level it comes from, which says its own Zarr format (the
    # computed one has none: it is not in the input).
    source = zarr.open_array(
        store,
        path=derived or array.path,
        mode="r",
        zarr_format=None if derived else array.input.zarr_format,
    )
    if not derived and array.input.declared_separator is not None:
        source = zarr.Array(
            zarr.AsyncArray(
                metadata=stored_keys(source.metadata, array),
                store_path=source.store_path,
            )
        )
    if derived:
        from ngff_resave.source.mends import NearestDownsample

        return NearestDownsample(source, array.shape)
    return source


class ZarrPythonEngine:
    """zarr-python for both sides; counts the bytes crossing the store boundary."""

    name = Engine.ZARR_PYTHON

    def __init__(self, source: Location, target: Location) -> None:
        import zarr

        from ngff_resave.arrays.zarr_counting import CountingStore

        self._zarr = zarr
        self.source_store = CountingStore(source.zarr_store(read_only=True))
        self.target_store = CountingStore(target.zarr_store(read_only=False))
        self.arrays: dict[str, tuple[Any, Any]] = {}

    def open(self, array: PlannedArray) -> None:
        from ngff_resave.arrays.zarr_counting import ListedStore
        from ngff_resave.source.listing import ListedFiles

        source_store: Any = self.source_store
        if array.input.files_found is not None and not array.downsampled_from:
            source_store = ListedStore(source_store, array.path, ListedFiles(array.input))
        self.arrays[array.path] = (
            open_source(source_store, array),
            self._zarr.open_array(self.target_store, path=array.path, mode="r+", zarr_format=3),
        )

    def copy(self, path: str, region: tuple[slice, ...]) -> Any:
        source, target = self.arrays[path]
        values = source[region]
        target[region] = values
        return values

    def counts(self) -> dict[str, int]:
        return {
            "bytes_read": self.source_store.bytes_read,
            "bytes_written": self.target_store.bytes_written,
        }


class TensorstoreEngine:
    """Tensorstore's zarr (v2) and zarr3 drivers on the kvstores the storage layer gives,
    ``threads`` copies at once."""

    name = Engine.TENSORSTORE
    # The v2 compressors tensorstore's zarr driver reads.
    COMPRESSORS = {None, "blosc", "zlib", "gzip", "zstd", "bz2"}

    def __init__(self, source: Location, target: Location, threads: int) -> None:
        import tensorstore as ts

        self._ts = ts
        self.source = source
        self.target = target
        self.context = ts.Context(
            {
                "data_copy_concurrency": {"limit": threads},
                "file_io_concurrency": {"limit": max(threads, 2)},
                "cache_pool": {"total_bytes_limit": 0},
            }
        )
        self.arrays: dict[str, tuple[Any, Any]] = {}
        self._start = self._metrics()

    @classmethod
    def usable(cls, source: Location, target: Location, array: PlannedArray) -> bool:
        compressor = (array.input.compressor or {}).get("id")
        return (
            not array.input.filters
            # Tensorstore reads keys as the .zarray says; a mended separator is not its.
            and array.input.declared_separator is None
            and compressor in cls.COMPRESSORS
            and cls._reads_strictly(array)
            and source.tensorstore_kvstore(array.path) is not None
            and target.tensorstore_kvstore(array.path) is not None
        )

    @staticmethod
    def _reads_strictly(array: PlannedArray) -> bool:
        """Whether tensorstore can refuse to read a listed chunk as absent: only when every
        chunk file is there (it then reads none as the fill value). A sparse or sharded
        listed input goes to zarr-python, whose reads are checked against the listing."""
        source = array.input
        if source.files_found is None:
            return True
        return source.present is None and not (source.zarr_format == 3 and source.shards)

    def open(self, array: PlannedArray) -> None:
        driver = "zarr3" if array.input.zarr_format == 3 else "zarr"
        spec: dict[str, Any] = {
            "driver": driver,
            "kvstore": self.source.tensorstore_kvstore(array.path),
        }
        if array.input.files_found is not None:
            spec["fill_missing_data_reads"] = False
        source = self._ts.open(spec, context=self.context, read=True).result()
        target = self._ts.open(
            {"driver": "zarr3", "kvstore": self.target.tensorstore_kvstore(array.path)},
            context=self.context,
            write=True,
        ).result()
        self.arrays[array.path] = (source, target)

    def copy(self, path: str, region: tuple[slice, ...]) -> Any:
        source, target = self.arrays[path]
        try:
            values = source[region].read().result()
        except ValueError as err:
            if "NOT_FOUND" not in str(err):
                raise
            raise ChunkFileMissing(
                f"{err}: it was listed when the dataset was planned but reads as absent now; "
                "its region is not written as the fill value (rerun to retry)"
            ) from err
        target[region].write(values).result()
        return values

    def _metrics(self) -> dict[str, int]:
        """Bytes read and written by every kvstore driver so far, in this process."""
        values = {"bytes_read": 0, "bytes_written": 0}
        for metric in self._ts.experimental_collect_matching_metrics("/tensorstore/kvstore/"):
            name = metric["name"].rsplit("/", 1)[1]
            if name in values:
                values[name] += int(metric["values"][0]["value"])
        return values

    def counts(self) -> dict[str, int]:
        now = self._metrics()
        return {key: now[key] - self._start[key] for key in now}


class Reencoder:
    """Opens each array with the engine chosen for it and copies regions through it."""

    def __init__(self, source: Location, target: Location, threads: int) -> None:
        self.source = source
        self.target = target
        self.threads = threads
        self.engines: dict[Engine, TensorstoreEngine | ZarrPythonEngine] = {}
        self.by_path: dict[str, TensorstoreEngine | ZarrPythonEngine] = {}

    def open(self, array: PlannedArray, engine: Engine) -> None:
        if engine not in self.engines:
            self.engines[engine] = (
                TensorstoreEngine(self.source, self.target, self.threads)
                if engine == Engine.TENSORSTORE
                else ZarrPythonEngine(self.source, self.target)
            )
        opened = self.engines[engine]
        opened.open(array)
        self.by_path[array.path] = opened

    def copy(self, path: str, region: tuple[slice, ...]) -> Any:
        """Copy a region; its values, as read from the input and written."""
        return self.by_path[path].copy(path, region)

    def counts(self) -> dict[str, int]:
        totals = {"bytes_read": 0, "bytes_written": 0}
        for engine in self.engines.values():
            for key, value in engine.counts().items():
                totals[key] += value
        return totals
