rule validate:
    input:
        plan="results/{dataset}/plan.json",
        records=convert_records,
        metadata="results/{dataset}/metadata.json",
    output:
        report="results/{dataset}/validation.json",
    log:
        log="logs/{dataset}/validate.log",
        report="logs/{dataset}/validation.json",
    benchmark:
        "benchmarks/{dataset}/validate.tsv"
    conda:
        "../../envs/validate.yaml"
    threads: 2
    resources:
        mem_mb=validate_mem_mb,
        runtime=validate_runtime,
    params:
        mode=config["validate"]["mode"],
        sample_chunks=config["validate"]["sample_chunks"],
    shell:
        "python -m ngff_resave validate --plan {input.plan} --report {output.report}"
        " --mode {params.mode} --sample-chunks {params.sample_chunks} --threads {threads}"
        " --log-report {log.report} --metadata-record {input.metadata}"
        " --convert-records {input.records} 2> {log.log}"
