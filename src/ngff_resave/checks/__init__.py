"""Validating a written dataset against its plan and its input: the order of checks and those on
groups, files and the crate (``validation``), the ``ome-zarr-models`` checks of the OME
hierarchy, also run on a plan before any pixel (``hierarchy``), 0.6 against the spec's JSON
schemas and the rules between documents (``spec_schemas``), every array shard by shard
(``pixels``), and the record of it all, naming what to redo (``results``).

May import: planning, ome, arrays, source, records, model, storage.
"""
