"""Who may write an output and what became of it: runs, output claims and the files the
workflow wrote (``ownership``); in place over a Zarr v3 input, its own documents kept before
they are replaced, and restored (``originals``); each dataset's outcome, done or not, and
stale records (``outcomes``).

May import: model, storage.
"""
