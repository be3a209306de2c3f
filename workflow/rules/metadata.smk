rule metadata:
    input:
        plan="results/{dataset}/plan.json",
        records=convert_records,
    output:
        record="results/{dataset}/metadata.json",
    log:
        "logs/{dataset}/metadata.log",
    benchmark:
        "benchmarks/{dataset}/metadata.tsv"
    conda:
        "../../envs/metadata.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    shell:
        "python -m ngff_resave metadata --plan {input.plan} --record {output.record} 2> {log}"
