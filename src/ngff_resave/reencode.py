"""Re-encoding through zarr-python: decode the input region, encode the output shard.

Imported only by jobs that re-encode, so copy-only jobs never pay for importing zarr.
"""

from __future__ import annotations

from typing import Any

import zarr
from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import WrapperStore

from ngff_resave.storage import Location


class CountingStore(WrapperStore[Store]):
    """Counts the bytes that really cross the store boundary (compressed, as stored)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.bytes_read = 0
        self.bytes_written = 0

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        buffer = await super().get(key, prototype, byte_range)
        if buffer is not None:
            self.bytes_read += len(buffer)
        return buffer

    async def set(self, key: str, value: Buffer) -> None:
        self.bytes_written += len(value)
        await super().set(key, value)


class Reencoder:
    """Opens each array once and copies regions from the v2 input to the v3 output."""

    def __init__(self, source: Location, target: Location) -> None:
        self.source_store = CountingStore(source.zarr_store(read_only=True))
        self.target_store = CountingStore(target.zarr_store(read_only=False))
        self.arrays: dict[str, tuple[zarr.Array, zarr.Array]] = {}

    def open(self, path: str) -> None:
        self.arrays[path] = (
            zarr.open_array(self.source_store, path=path, mode="r", zarr_format=2),
            zarr.open_array(self.target_store, path=path, mode="r+", zarr_format=3),
        )

    def copy(self, path: str, region: tuple[slice, ...]) -> None:
        source, target = self.arrays[path]
        target[region] = source[region]

    def counts(self) -> dict[str, Any]:
        return {"bytes_read": self.source_store.bytes_read,
                "bytes_written": self.target_store.bytes_written}
