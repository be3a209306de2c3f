# The plan is ancient here: a plan rewritten for other crate fields keeps the shards; records
# made for other pixels are removed when the jobs are laid out (see common.smk, _work).
rule convert:
    input:
        plan=ancient("results/{dataset}/plan.json"),
    output:
        record="results/{dataset}/convert/{level}-{part}.json",
    log:
        "logs/{dataset}/convert-{level}-{part}.log",
    benchmark:
        "benchmarks/{dataset}/convert-{level}-{part}.tsv"
    conda:
        "../../envs/convert.yaml"
    threads: 2
    resources:
        mem_mb=convert_mem_mb,
        runtime=convert_runtime,
        attempt=attempt_of,
    shell:
        "{{ "
        + ATTEMPT_LINE
        + "python -m ngff_resave convert-job --plan {input.plan} --job {wildcards.level}-{wildcards.part}"
        " --record {output.record} --threads {threads}; }} 2> {log}"
