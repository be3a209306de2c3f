"""What a run tells its user: ``catalog.csv`` and ``failed.tsv`` (``catalog``), jobs that died,
read from Snakemake's log (``failures``), each dataset's thumbnail (``thumbnails``) and the pages
of ``snakemake --report`` (``pages``).

May import: checks, planning, ome, arrays, source, records, model, storage.
"""
