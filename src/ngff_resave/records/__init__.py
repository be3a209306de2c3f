"""Who may write an output and what became of it: runs, output claims and the files the
workflow wrote (``ownership``); each dataset's outcome, done or not, and stale records
(``outcomes``).

May import: model, storage.
"""
