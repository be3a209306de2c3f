"""zarr-python store wrappers: one counts the bytes crossing it, one refuses to read a listed
chunk file as absent."""

from __future__ import annotations

from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import WrapperStore

from ngff_resave.source.listing import ListedFiles


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


class ListedStore(WrapperStore[Store]):
    """An input array's store for zarr-python: a chunk file its listing found that reads as
    absent raises, where zarr-python would give the fill value."""

    def __init__(self, store: Store, path: str, listed: ListedFiles) -> None:
        super().__init__(store)
        self.prefix = f"{path}/"
        self.listed = listed

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        buffer = await super().get(key, prototype, byte_range)
        name = key.removeprefix(self.prefix)
        if buffer is None and key.startswith(self.prefix) and self.listed.holds_chunk_file(name):
            self.listed.check_found(key, None)
        return buffer
