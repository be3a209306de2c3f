"""A zarr-python store wrapper that counts the bytes crossing it."""

from __future__ import annotations

from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import WrapperStore


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
