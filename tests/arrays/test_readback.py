"""The read-back of written shards: what a convert job records of each file (size and CRC32C)
is of the bytes zarr-python decoded, each file read once, edge shards included."""

from __future__ import annotations

from collections import Counter
from typing import Any

import google_crc32c
import pytest
from conftest import settings_for
from zarr.abc.store import ByteRequest
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import WrapperStore

from ngff_resave.arrays import readback
from ngff_resave.cli.examples import ArrayStyle, fluorescence, write_image
from ngff_resave.records.ownership import Run
from ngff_resave.steps.pack import convert_jobs, plan_and_record
from ngff_resave.storage import LocalLocation

# 150x150 in shards of 128: the shards of the last row and column reach 22 pixels into their
# grid, so zarr-python reads them in ranges (the index, then each chunk the region needs).
SHAPE = (1, 1, 1, 150, 150)


class CountingStore(WrapperStore[Any]):
    """The output's store, every read of a file counted (whole or a range) with what it gave."""

    def __init__(self, store: Any, reads: list[tuple[str, bool, bytes | None]]) -> None:
        super().__init__(store)
        self.reads = reads

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        buffer = await super().get(key, prototype, byte_range)
        self.reads.append((key, byte_range is None, None if buffer is None else buffer.to_bytes()))
        return buffer


@pytest.mark.parametrize(
    "settings",
    [{"codec": "blosc-zstd-5"}, {"chunks": [1, 1, 1, 32, 32]}],
    ids=["chunk transcode", "re-encode"],
)
def test_edge_shards_record_the_crc32c_of_the_one_read_decoded(tmp_path, monkeypatch, settings):
    source = tmp_path / "in.ome.zarr"
    write_image(
        source, fluorescence(SHAPE, "<u2", seed=2), 1, ArrayStyle(chunks=(1, 1, 1, 64, 64)), "i"
    )
    output = tmp_path / "o.ome.zarr"
    reads: list[tuple[str, bool, bytes | None]] = []
    second: list[str] = []
    zarr_store, read_bytes = LocalLocation.zarr_store, LocalLocation.read_bytes

    def counted_store(self: LocalLocation, path: str = "", read_only: bool = True) -> Any:
        store = zarr_store(self, path, read_only)
        return CountingStore(store, reads) if self.url == str(output) else store

    def counted_bytes(self: LocalLocation, path: str) -> bytes | None:
        if self.url == str(output) and "/c/" in path:
            second.append(path)
        return read_bytes(self, path)

    monkeypatch.setattr(LocalLocation, "zarr_store", counted_store)
    monkeypatch.setattr(LocalLocation, "read_bytes", counted_bytes)
    row = settings_for("d", source, output, shards=[1, 1, 1, 128, 128], **settings)
    results = tmp_path / "r"
    run = Run.current(results)
    plan, _ = plan_and_record(row, results, run)
    records = convert_jobs(plan, results, run, 2, 0.0)

    (entry,) = [a for r in records for a in r["arrays"] if a["path"] == "0"]
    proof = entry["proof"]
    assert proof["problem"] is None and proof["shards_compared"] == 4
    shards = [key for key, whole, _ in reads if key.startswith("0/c/")]
    # Every shard of level 0 read exactly once, whole; no range, no second read of any file.
    assert Counter(shards) == {f"0/{key}": 1 for key in proof["files"]}, reads
    assert all(whole for key, whole, _ in reads if key.startswith("0/c/"))
    assert not second
    got = {key.removeprefix("0/"): data for key, _, data in reads if key.startswith("0/c/")}
    for key, (size, crc) in proof["files"].items():
        data = got[key]
        assert data is not None and (size, crc) == (len(data), google_crc32c.value(data)), key
        assert data == (output / "0" / key).read_bytes()


def test_ranges_are_cut_from_the_one_whole_read(tmp_path):
    import zarr

    location = LocalLocation.from_path(tmp_path)
    location.write_bytes("a/f", b"0123456789")
    reads: list[tuple[str, bool, bytes | None]] = []
    recording = readback.RecordingStore(CountingStore(location.zarr_store(), reads))
    prototype = zarr.core.buffer.default_buffer_prototype()
    from zarr.abc.store import RangeByteRequest, SuffixByteRequest

    async def ask() -> list[bytes | None]:
        asked = [
            await recording.get("a/f", prototype, SuffixByteRequest(4)),
            await recording.get("a/f", prototype, RangeByteRequest(2, 5)),
            await recording.get("a/f", prototype, SuffixByteRequest(40)),
            await recording.get("a/missing", prototype, RangeByteRequest(0, 1)),
        ]
        return [None if b is None else b.to_bytes() for b in asked]

    from zarr.core.sync import sync

    assert sync(ask()) == [b"6789", b"234", b"0123456789", None]
    assert [(key, whole) for key, whole, _ in reads] == [("a/f", True), ("a/missing", True)]
    assert recording.whole == {"a/f": b"0123456789"}


@pytest.mark.parametrize(
    ("dtype", "order", "codec", "fill"),
    [
        ("|u1", "C", "blosc-zstd-5", 0),
        (">u2", "F", "zstd-3", 7),
        ("<f4", "C", "gzip-1", float("nan")),
        ("<i4", "F", "none", -1),
    ],
)
def test_the_shard_decoder_reads_every_shard_as_zarr_python_does(
    tmp_path, dtype, order, codec, fill
):
    """Chunk by chunk, as zarr-python's array reads them: edge shards (the array is 150x150 in
    shards of 64), inner chunks the shard has none of (the fill value), Fortran order through
    the transpose codec, big-endian bytes, NaN."""
    import json

    import numpy as np
    import zarr
    from zarr.core.metadata import ArrayV3Metadata

    from ngff_resave.arrays.codecs import array_metadata, named_codec
    from ngff_resave.arrays.shards import shard_slices

    shape, shards = [1, 150, 150], [1, 64, 64]
    document = array_metadata(
        shape=shape,
        dtype=dtype,
        chunks=[1, 16, 32],
        shards=shards,
        compressor_codecs=named_codec(codec, int(dtype[2:])),
        fill_value=fill,
        dimension_names=["z", "y", "x"],
        order=order,
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "zarr.json").write_text(json.dumps(document))
    written = zarr.open_array(str(tmp_path / "a"), mode="r+")
    values = (np.arange(150 * 150) % 1000).astype(dtype).reshape(shape)
    values[:, 16:32, :] = np.nan if np.isnan(fill) else fill  # inner chunks left unwritten
    written[...] = values
    decoder = readback.ShardDecoder(ArrayV3Metadata.from_dict(document))
    store = LocalLocation.from_path(tmp_path).zarr_store()
    read = zarr.open_array(str(tmp_path / "a"), mode="r")
    for index in range(9):
        region = shard_slices(shape, shards, index)
        data, reader = decoder.fetch(store, f"a/{decoder.key(region)}")
        assert data == (tmp_path / "a" / decoder.key(region)).read_bytes()
        got = np.full([s.stop - s.start for s in region], 5, dtype=dtype)
        for place, part in decoder.chunks(reader, region):
            got[place] = part
        np.testing.assert_array_equal(got, read[region])
    # A shard with no file reads as the fill value.
    assert decoder.fetch(store, "a/c/9/9/9") == (None, None)
    filled = np.concatenate([part.ravel() for _, part in decoder.chunks(None, region)])
    np.testing.assert_array_equal(filled, np.full(filled.shape, fill, dtype=dtype))


def test_inner_chunks_written_in_each_others_places_differ_where_they_are(tmp_path, monkeypatch):
    """A transcoded shard whose first two inner chunks trade places reads back other than the
    input, and the proof names the inner chunk's region."""
    from ngff_resave.arrays import convert

    assemble = convert.assemble_shard

    def swapped(chunks):
        chunks = list(chunks)
        chunks[0], chunks[1] = chunks[1], chunks[0]
        return assemble(chunks)

    monkeypatch.setattr(convert, "assemble_shard", swapped)
    proof = _transcoded_proof(tmp_path)
    assert proof["shards_differing"] == 4
    assert proof["problem"].endswith(
        "[0:1,0:1,0:1,0:128,0:128] read back differs from the input in [0:1,0:1,0:1,0:64,0:64]"
    )


def _transcoded_proof(tmp_path):
    source = tmp_path / "in.ome.zarr"
    write_image(
        source, fluorescence(SHAPE, "<u2", seed=2), 1, ArrayStyle(chunks=(1, 1, 1, 64, 64)), "i"
    )
    row = settings_for(
        "d", source, tmp_path / "o.ome.zarr", shards=[1, 1, 1, 128, 128], codec="blosc-zstd-5"
    )
    results = tmp_path / "r"
    run = Run.current(results)
    plan, _ = plan_and_record(row, results, run)
    records = convert_jobs(plan, results, run, 2, 0.0)
    (entry,) = [a for r in records for a in r["arrays"] if a["path"] == "0"]
    assert entry["engine"] == "chunk transcode"
    return entry["proof"]


def test_a_transcoded_shard_at_another_key_or_corrupted_fails(
    tmp_path, monkeypatch, flip_written_byte
):
    from ngff_resave.arrays import convert

    key = convert.v3_shard_key
    monkeypatch.setattr(convert, "v3_shard_key", lambda shape, shards, i: key(shape, shards, 3 - i))
    proof = _transcoded_proof(tmp_path / "moved")
    assert proof["shards_differing"] == 4 and "read back differs" in proof["problem"]

    monkeypatch.setattr(convert, "v3_shard_key", key)
    flip_written_byte("c/0/0/0/0/0", 100)
    proof = _transcoded_proof(tmp_path / "flipped")
    assert proof["shards_differing"] == 1
    assert "[0:1,0:1,0:1,0:128,0:128]" in proof["problem"], proof


def test_values_are_compared_as_values_whatever_their_layout():
    import numpy as np

    rng = np.random.default_rng(5)
    big = rng.integers(0, 2**16, (3, 40, 48), dtype=np.uint16)
    view = big[:, 8:24, 16:40]  # rows of 48 bytes: compared as words
    assert readback.same_values(view, view.copy(), False)
    changed = view.copy()
    changed[2, 15, 23] ^= 1
    assert not readback.same_values(view, changed, False)
    # Other byte orders, odd rows, Fortran order, floats with NaN: compared item by item.
    assert readback.same_values(view, view.astype(">u2"), False)
    assert readback.same_values(big[:, :, :5], np.asfortranarray(big[:, :, :5]), False)
    floats = rng.random((600, 700)).astype("<f4")
    floats[3, 4] = np.nan
    assert readback.same_values(floats, floats.copy(), True)
    assert not readback.same_values(floats, floats.copy(), False)
    other = floats.copy()
    other[599, 699] += 1
    assert not readback.same_values(floats, other, True)
    assert not readback.same_values(floats, floats[:, :-1], True)


def test_a_row_of_words_is_compared_with_a_strided_row_as_values():
    import numpy as np

    rows = np.arange(4 * 20, dtype=">u2").reshape(4, 20)
    # The same values, the last axis strided: only one side could be viewed as words.
    assert readback.same_values(rows, np.asfortranarray(rows), False)
    assert readback.same_values(np.asfortranarray(rows), rows, False)


def test_a_transcoded_input_is_decoded_once_as_zarr_python_reads_it(tmp_path, monkeypatch):
    """Chunk transcode: each input chunk is decoded once, by zarr-python from the files the
    job read, and that is what is encoded and what the shard read back is compared with. A
    chunk the job read at another key (a wrong key of its own) is not taken: zarr-python reads
    the chunk at its own key, and the output holds the input's pixels."""
    import numcodecs
    import numpy as np
    import zarr

    from ngff_resave.source.v05 import EncodedChunks

    decoded: Counter[str] = Counter()
    decode = numcodecs.Blosc.decode

    def counted(self, buf, out=None):
        decoded[self.cname] += 1
        return decode(self, buf, out)

    monkeypatch.setattr(numcodecs.Blosc, "decode", counted)
    key = EncodedChunks.key

    def wrong(self, coord):
        # The job's own key for chunk (0,0,0,0,1) is the one of chunk (0,0,0,1,1).
        return key(self, (0, 0, 0, 1, 1) if tuple(coord) == (0, 0, 0, 0, 1) else coord)

    monkeypatch.setattr(EncodedChunks, "key", wrong)
    proof = _transcoded_proof(tmp_path)
    source = tmp_path / "in.ome.zarr"
    assert proof["problem"] is None and proof["shards_compared"] == 4
    # 9 input chunks (150x150 in 64x64), each decoded once; the 9 new ones decoded once.
    assert decoded == {"lz4": 9, "zstd": 9}
    got = zarr.open_array(str(tmp_path / "o.ome.zarr" / "0"), mode="r")[...]
    np.testing.assert_array_equal(got, zarr.open_array(str(source / "0"), mode="r")[...])
