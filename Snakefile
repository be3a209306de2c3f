# ngff-resave: OME-Zarr -> OME-Zarr 0.5 or 0.6 (Zarr v3, sharded), RO-Crate, validation, catalog.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/plan.smk"
include: "workflow/rules/pack.smk"
include: "workflow/rules/convert.smk"
include: "workflow/rules/metadata.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/catalog.smk"
include: "workflow/rules/report_pages.smk"


# The catalog and the report's pages only read records: Snakemake writes them itself, on a
# cluster too (their `run:` blocks, in a thread of the Snakemake process; see catalog.smk).
localrules:
    catalog,
    report_pages,


rule all:
    default_target: True
    input:
        # The sheet plan too: a new one (see common.smk) is then made even where the catalog
        # is up to date, as Snakemake does not remake what only up-to-date files depend on.
        SHEET_PLAN,
        "results/catalog.csv",
        rules.report_pages.output,


onstart:
    start_of_run()


onsuccess:
    end_of_run(log, crashed=False)


onerror:
    end_of_run(log, crashed=True)
