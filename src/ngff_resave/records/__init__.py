"""Who may write an output and what became of it: runs, output claims and the files the
workflow wrote (``ownership``); in place over a Zarr v3 input, its own documents kept in one
archive before they are replaced, put back, and restored (``originals``, which also names
the workflow's own files in a dataset); each dataset's outcome, done or not, and stale
records (``outcomes``).

May import: model, storage.
"""
