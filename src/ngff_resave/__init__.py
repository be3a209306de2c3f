"""ngff-resave: batch conversion of OME-Zarr 0.4 to OME-Zarr 0.5 with sharding."""

# The single source of the version (pyproject.toml reads it from here).
__version__ = "0.2.0"
