rule pack:
    input:
        plans=pack_plans,
    output:
        record="results/packs/{pack}.json",
    log:
        "logs/packs/{pack}.log",
    benchmark:
        "benchmarks/packs/{pack}.tsv"
    conda:
        "../../envs/pack.yaml"
    threads: pack_threads
    resources:
        mem_mb=pack_mem_mb,
        runtime=pack_runtime,
        attempt=attempt_of,
    params:
        datasets=pack_datasets,
        mode=pack_setting("mode"),
        sample_chunks=pack_setting("sample_chunks"),
    shell:
        "{{ "
        + ATTEMPT_LINE
        + "python -m ngff_resave pack --record {output.record} --results results --logs logs"
        " --threads {threads} --mode {params.mode} --sample-chunks {params.sample_chunks}"
        " {params.datasets}; }} 2> {log}"
