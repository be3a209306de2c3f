# The catalog only reads records: Snakemake writes it itself (a local rule, its `run:` in a
# thread of the Snakemake process, as the default profile asks), so it costs no process of its
# own and no imports. `ngff-resave catalog` does the same from a shell.
rule catalog:
    input:
        catalog_inputs,
    output:
        catalog=report(
            "results/catalog.csv",
            caption="../report/catalog_csv.rst",
            category="Catalog",
            labels={"table": "catalog.csv (download)"},
        ),
    log:
        "logs/catalog.log",
    conda:
        "../../envs/catalog.yaml"
    resources:
        mem_mb=fixed_mem_mb(1000),
        runtime=fixed_runtime(30),
        attempt=attempt_of,
    params:
        url_prefix=config["catalog"]["url_prefix"],
    run:
        catalog_job(log[0], params.url_prefix, resources)
