# ngff-resave: OME-Zarr 0.4 -> OME-Zarr 0.5 (Zarr v3, sharded), RO-Crate, validation, catalog.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/plan.smk"
include: "workflow/rules/convert.smk"
include: "workflow/rules/metadata.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/catalog.smk"


rule all:
    default_target: True
    input:
        "results/catalog.csv",


onsuccess:
    clear_failures()


onerror:
    record_failures(log)
