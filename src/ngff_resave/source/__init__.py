"""The input as it is: an OME-Zarr 0.4 dataset's groups, images, arrays and files read from its
metadata, and its v2 chunk keys (``layout``); what OME-Zarr 0.1 to 0.3 leave out and how it is
inferred (``v01_v03``); the input defects OME-Zarr 0.5 forbids and those inferences, found,
mended or refused, and the views that mend them (``mends``). Nothing here writes.

May import: records, model, storage.
"""
