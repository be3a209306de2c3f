checkpoint plan:
    input:
        sheet=config["samples"],
        details=details_files(),
    output:
        plan="results/plans/{attempt}.json",
    log:
        "logs/plans/{attempt}.log",
    benchmark:
        "benchmarks/plans/{attempt}.tsv"
    conda:
        "../../envs/plan.yaml"
    threads: 2
    resources:
        mem_mb=fixed_mem_mb(2000),
        runtime=fixed_runtime(60),
        attempt=attempt_of,
    params:
        config=config_json(),
        inputs_digest=SHEET_INPUTS_DIGEST,
    shell:
        "{{ "
        + ATTEMPT_LINE
        + "python -m ngff_resave plan --config {params.config:q} --results results"
        " --output {output.plan} --attempt {wildcards.attempt}"
        " --inputs-digest {params.inputs_digest} --threads {threads}; }} 2> {log}"
