rule metadata:
    input:
        plan="results/{dataset}/plan.json",
        records=convert_records,
    output:
        record="results/{dataset}/metadata/{attempt}.json",
    log:
        "logs/{dataset}/metadata-{attempt}.log",
    benchmark:
        "benchmarks/{dataset}/metadata-{attempt}.tsv"
    conda:
        "../../envs/metadata.yaml"
    resources:
        mem_mb=metadata_mem_mb,
        runtime=fixed_runtime(30),
        attempt=attempt_of,
    shell:
        "{{ "
        + ATTEMPT_LINE
        + "python -m ngff_resave metadata --plan {input.plan} --record {output.record}"
        " --results results --convert-records {input.records}; }} 2> {log}"
