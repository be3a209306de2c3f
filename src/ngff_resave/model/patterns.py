"""The spelling rules users write by, each defined once: dataset ids, the named codecs, license
shorthands, organism and modality ids, lists of sizes and the OME-Zarr versions written. The
JSON schemas of the sheet and the config and the READMEs repeat them;
``tests/model/test_patterns.py`` checks that they agree."""

from __future__ import annotations

import re
from typing import Final

# Names outputs, logs and Snakemake wildcards, so only characters safe in all three.
DATASET_ID: Final = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
# Names the workflow itself uses in results/ and logs/, so no dataset may take them.
RESERVED_DATASET_IDS: Final = frozenset(
    {
        "packs",
        "plans",
        "report",
        "plan.json",
        "catalog.csv",
        "failed.tsv",
        "run.json",
        "catalog.log",
        "report_pages.log",
    }
)

LICENSE_SHORTHANDS: Final = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
}
LICENSE_URL: Final = r"https?://\S+"
LICENSE: Final = (
    "^(" + "|".join([*(k.replace(".", r"\.") for k in LICENSE_SHORTHANDS), LICENSE_URL]) + ")$"
)
ORGANISM_ID: Final = r"^NCBI:txid[0-9]+$"
MODALITY_ID: Final = r"^obo:FBbi_[0-9]{8}$"

# The OME-Zarr versions a row can ask for (``ngff_version``), the first the default.
NGFF_VERSIONS: Final = ("0.5", "0.6")
# validate.mode: each shard proven as it is written plus a sample re-read (full), a sample
# only (sample), or every chunk re-read from storage on both sides (reread).
VALIDATE_MODES: Final = ("full", "sample", "reread")

# Chunks and shards in a sheet cell: comma-separated positive integers.
SIZES: Final = r"^[1-9][0-9]*(,[1-9][0-9]*)*$"

# Named output codecs: blosc with a compressor and a level, zstd or gzip with a level, or none;
# ``keep`` (the input's compressor) is a setting, not a codec.
BLOSC_CNAMES: Final = ("lz4", "lz4hc", "zstd", "zlib", "blosclz")
_CNAMES = "|".join(BLOSC_CNAMES)
_NAMED = (
    rf"blosc-(?P<cname>{_CNAMES})-(?P<blosc_level>[0-9])"
    r"|zstd-(?P<zstd_level>[0-9]{1,2})|gzip-(?P<gzip_level>[0-9])|(?P<none>none)"
)
NAMED_CODEC: Final = re.compile(rf"^(?:{_NAMED})$")
# The same grammar for the schemas (JSON Schema regexes have no named groups), with keep.
CODEC_SETTING: Final = "^(?:keep|" + re.sub(r"\?P<\w+>", "", _NAMED) + ")$"
CODEC_SPELLING: Final = f"keep, none, blosc-<{_CNAMES}>-<0-9>, zstd-<level> or gzip-<0-9>"
