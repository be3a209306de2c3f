"""The output's OME-Zarr metadata: the model every reader fills (0.4's attribute form) and its
writer per output version (``attributes``; ``v05``, ``v06``), the
metadata step that writes every group, the RO-Crate and the root last (``metadata``), the
RO-Crate itself (``crate``) and the challenge's per-array statistics (``challenge_stats``).

May import: arrays, source, records, model, storage.
"""
