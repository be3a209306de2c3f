"""ngff-resave: batch conversion of OME-Zarr 0.4 to OME-Zarr 0.5 with sharding."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ngff-resave")
except PackageNotFoundError:  # running from a source tree (PYTHONPATH=src) without install
    __version__ = "0.1.0"
