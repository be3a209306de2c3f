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
        url_prefix=url_prefix_option(),
    shell:
        "{{ "
        + ATTEMPT_LINE
        + "python -m ngff_resave catalog --results results {params.url_prefix}; }} 2> {log}"
