# The report's pages, made from the catalog: per dataset its thumbnail (drawn by the job that
# validated it) and its validation page, and the catalog as a sortable table. Read by
# `snakemake --report report.html` (or .zip); see workflow/report/*.rst for the captions.
# Written in the Snakemake process, as the catalog is (see catalog.smk); a rule of its own so
# that it reads the catalog as Snakemake left it (the run's cost is dated by it).
rule report_pages:
    input:
        catalog="results/catalog.csv",
    output:
        thumbnails=report(
            directory("results/report/thumbnails"),
            patterns=["{dataset}.png"],
            caption="../report/thumbnail.rst",
            category="Datasets",
            subcategory="Thumbnails",
            labels=report_labels("thumbnail"),
        ),
        validation=report(
            directory("results/report/validation"),
            patterns=["{dataset}.html"],
            caption="../report/validation.rst",
            category="Datasets",
            subcategory="Validation",
            labels=report_labels("validation"),
        ),
        catalog=report(
            "results/report/catalog.html",
            caption="../report/catalog.rst",
            category="Catalog",
            labels={"table": "catalog (sortable)"},
        ),
    log:
        "logs/report_pages.log",
    conda:
        "../../envs/report_pages.yaml"
    resources:
        mem_mb=fixed_mem_mb(1000),
        runtime=fixed_runtime(30),
        attempt=attempt_of,
    run:
        report_pages_job(log[0], resources)
