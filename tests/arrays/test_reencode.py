"""The chunk transcoder: a shard's chunks transcoded on the job's threads at once, each as it
would be alone."""

import threading
from types import SimpleNamespace

import numcodecs
import numpy as np

from ngff_resave.arrays.codecs import named_codec
from ngff_resave.arrays.reencode import ChunkTranscoder


def transcoder(threads: int) -> ChunkTranscoder:
    array = SimpleNamespace(
        dtype="<u2",
        input=SimpleNamespace(compressor=numcodecs.Blosc("lz4", 5, 1).get_config(), filters=None),
        output=SimpleNamespace(codecs=named_codec("blosc-zstd-5", 2)),
    )
    return ChunkTranscoder(array, threads)  # type: ignore[arg-type]


def test_a_shards_chunks_are_transcoded_on_the_jobs_threads_in_order(monkeypatch):
    rng = np.random.default_rng(3)
    lz4 = numcodecs.Blosc("lz4", 5, 1)
    chunks = [
        None if n in (1, 6) else lz4.encode((rng.integers(0, 64, 4096) + n).astype("<u2"))
        for n in range(8)
    ]
    alone = [None if data is None else transcoder(1)(data) for data in chunks]
    assert alone[0] != alone[2]

    used: set[str] = set()
    encode = ChunkTranscoder.__call__

    def noting(self, encoded):
        used.add(threading.current_thread().name)
        return encode(self, encoded)

    monkeypatch.setattr(ChunkTranscoder, "__call__", noting)
    assert transcoder(2).many(chunks) == alone
    assert used and all(name.startswith("transcode") for name in used)
    used.clear()
    assert transcoder(1).many(chunks) == alone
    assert used == {threading.current_thread().name}
