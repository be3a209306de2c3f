"""One dataset's plan: per array the output chunks, shards and codecs, copy or re-encode or
reference and why, and the convert jobs (``dataset``); the 2024 challenge's per-array details
file, written and read (``details``).

May import: ome, arrays, source, records, model, storage.
"""
