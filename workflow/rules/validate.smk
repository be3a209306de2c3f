rule validate:
    input:
        plan="results/{dataset}/plan.json",
        metadata="results/{dataset}/metadata/{attempt}.json",
    output:
        record="results/{dataset}/validate/{attempt}.json",
    log:
        "logs/{dataset}/validate-{attempt}.log",
    benchmark:
        "benchmarks/{dataset}/validate-{attempt}.tsv"
    conda:
        "../../envs/validate.yaml"
    threads: 2
    resources:
        mem_mb=validate_mem_mb,
        runtime=validate_runtime,
        attempt=attempt_of,
    params:
        mode=validate_setting("mode"),
        sample_chunks=validate_setting("sample_chunks"),
    shell:
        "{{ "
        + ATTEMPT_LINE
        + "python -m ngff_resave validate --plan {input.plan} --record {output.record}"
        " --results results --logs logs --metadata-record {input.metadata}"
        " --mode {params.mode} --sample-chunks {params.sample_chunks} --threads {threads}"
        "; }} 2> {log}"
