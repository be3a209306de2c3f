"""The input as it is: an OME-Zarr dataset's groups, images, arrays and files read from its
metadata, Zarr v2 or v3 (``layout``); what OME-Zarr 0.1 to 0.3 leave out and how it is
inferred (``v01_v03``); OME-Zarr 0.5's attributes, a Zarr v3 array's storage and its encoded
inner chunks (``v05``); chunk file keys (``keys``); the input defects OME-Zarr 0.5 forbids
and those inferences, found, mended or refused, and the views that mend them (``mends``).
Nothing here writes.

May import: records, model, storage.
"""
