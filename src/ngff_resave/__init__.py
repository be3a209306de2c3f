"""ngff-resave: batch conversion of OME-Zarr 0.4 to OME-Zarr 0.5 with sharding.

The subpackages follow the data's way, each importing only those below it (the rule is
``[tool.importlinter]`` in ``pyproject.toml``; ``tests/test_layers.py`` checks it)::

    cli        the commands: ngff-resave and its subcommands, one dataset without a sheet
    steps      one module per Snakemake rule
    sheet      the sample sheet and config, the sheet's plan, packs of datasets
    report     catalog.csv, failed.tsv, thumbnails, the report's pages
    checks     validating a written dataset against its plan and its input
    planning   one dataset's plan: chunks, shards, codecs and mode per array; convert jobs
    ome        the output's OME metadata: group attributes, the metadata step, RO-Crate
    arrays     the arrays written: codecs, shards, convert, re-encoding, links, migrations
    source     the input as it is: its layout and its defects, mended or refused
    records    runs, output claims, each dataset's outcome
    model      the typed plan and the spelling rules every layer shares
    storage    one interface over local paths and fsspec URLs
"""

# The single source of the version (pyproject.toml reads it from here).
__version__ = "0.2.0"
