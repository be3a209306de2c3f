"""Re-encoding by region, for arrays whose chunk shape changes: decode the input region,
encode the output shard.

Two engines behind one interface. Tensorstore (C++, multi-threaded) is the faster one and is
used where it can read the input: local stores, v2 arrays without filters. zarr-python handles
everything else (v2 filters, any fsspec store). Imported only by jobs that need it.
"""

from __future__ import annotations

from typing import Any

from ngff_resave.models import Engine
from ngff_resave.storage import Location


def open_source(store: Any, array: dict[str, Any]) -> Any:
    """The input side of a planned array, indexable by region: the v2 array, or for a level
    computed by a mend, the nearest-neighbour view of the level it comes from."""
    import zarr

    derived = array.get("downsampled_from")
    source = zarr.open_array(store, path=derived or array["path"], mode="r", zarr_format=2)
    if derived:
        from ngff_resave.mends import NearestDownsample

        return NearestDownsample(source, array["shape"])
    return source


class ZarrPythonEngine:
    """zarr-python for both sides; counts the bytes crossing the store boundary."""

    name = Engine.ZARR_PYTHON

    def __init__(self, source: Location, target: Location) -> None:
        import zarr

        from ngff_resave.zarr_counting import CountingStore

        self._zarr = zarr
        self.source_store = CountingStore(source.zarr_store(read_only=True))
        self.target_store = CountingStore(target.zarr_store(read_only=False))
        self.arrays: dict[str, tuple[Any, Any]] = {}

    def open(self, array: dict[str, Any]) -> None:
        path = array["path"]
        self.arrays[path] = (
            open_source(self.source_store, array),
            self._zarr.open_array(self.target_store, path=path, mode="r+", zarr_format=3),
        )

    def copy(self, path: str, region: tuple[slice, ...]) -> None:
        source, target = self.arrays[path]
        target[region] = source[region]

    def counts(self) -> dict[str, int]:
        return {
            "bytes_read": self.source_store.bytes_read,
            "bytes_written": self.target_store.bytes_written,
        }


class TensorstoreEngine:
    """Tensorstore's zarr (v2) and zarr3 drivers on local files, ``threads`` copies at once."""

    name = Engine.TENSORSTORE

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

    # The v2 compressors tensorstore's zarr driver reads.
    COMPRESSORS = {None, "blosc", "zlib", "gzip", "zstd", "bz2"}

    @classmethod
    def usable(cls, source: Location, target: Location, array: dict[str, Any]) -> bool:
        compressor = (array["input"]["compressor"] or {}).get("id")
        return (
            source.is_local
            and target.is_local
            and not array["input"]["filters"]
            and compressor in cls.COMPRESSORS
        )

    def open(self, array: dict[str, Any]) -> None:
        path = array["path"]
        source = self._ts.open(
            {
                "driver": "zarr",
                "kvstore": {"driver": "file", "path": self.source.child(path) + "/"},
            },
            context=self.context,
            read=True,
        ).result()
        target = self._ts.open(
            {
                "driver": "zarr3",
                "kvstore": {"driver": "file", "path": self.target.child(path) + "/"},
            },
            context=self.context,
            write=True,
        ).result()
        self.arrays[path] = (source, target)

    def copy(self, path: str, region: tuple[slice, ...]) -> None:
        source, target = self.arrays[path]
        target[region].write(source[region]).result()

    def _metrics(self) -> dict[str, int]:
        values = {}
        for metric in self._ts.experimental_collect_matching_metrics("/tensorstore/kvstore/file/"):
            if metric["name"].endswith(("/bytes_read", "/bytes_written")):
                values[metric["name"].rsplit("/", 1)[1]] = int(metric["values"][0]["value"])
        return values

    def counts(self) -> dict[str, int]:
        now = self._metrics()
        return {
            key: now.get(key, 0) - self._start.get(key, 0)
            for key in ("bytes_read", "bytes_written")
        }


class Reencoder:
    """Opens each array with the engine chosen for it and copies regions through it."""

    def __init__(self, source: Location, target: Location, threads: int) -> None:
        self.source = source
        self.target = target
        self.threads = threads
        self.engines: dict[str, TensorstoreEngine | ZarrPythonEngine] = {}
        self.by_path: dict[str, TensorstoreEngine | ZarrPythonEngine] = {}

    def open(self, array: dict[str, Any], engine_name: str) -> None:
        if engine_name not in self.engines:
            self.engines[engine_name] = (
                TensorstoreEngine(self.source, self.target, self.threads)
                if engine_name == TensorstoreEngine.name
                else ZarrPythonEngine(self.source, self.target)
            )
        engine = self.engines[engine_name]
        engine.open(array)
        self.by_path[array["path"]] = engine

    def copy(self, path: str, region: tuple[slice, ...]) -> None:
        self.by_path[path].copy(path, region)

    def counts(self) -> dict[str, int]:
        totals = {"bytes_read": 0, "bytes_written": 0}
        for engine in self.engines.values():
            for key, value in engine.counts().items():
                totals[key] += value
        return totals
