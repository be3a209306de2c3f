"""The arrays written: Zarr v2 compressors to v3 codecs and each array's ``zarr.json``
(``codecs``), shard geometry and shards from compressed chunks (``shards``), the convert job
(``convert``), the re-encoding engines (``reencode``), reference mode's links (``linking``),
arrays that are not image levels (``extras``), a byte-counting zarr store (``zarr_counting``)
and what a job asks for and holds in flight (``resources``).

May import: source, records, model, storage.
"""
