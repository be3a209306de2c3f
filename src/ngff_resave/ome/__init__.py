"""The output's OME-Zarr metadata: 0.4 ``.zattrs`` to 0.5 group attributes (``attributes``), the
metadata step that writes every group, the RO-Crate and the root last (``metadata``), the
RO-Crate itself (``crate``) and the challenge's per-array statistics (``challenge_stats``).

May import: arrays, source, records, model, storage.
"""
