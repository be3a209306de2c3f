"""The sample sheet and the config as a whole: loaded and checked, each row turned into its
settings (``settings``), every row planned with unchanged rows reused (``plan``), and the run's
work cut into packs and per-dataset jobs (``packing``).

May import: report, checks, planning, ome, arrays, source, records, model, storage.
"""
