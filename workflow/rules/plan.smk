checkpoint plan:
    output:
        plan="results/{dataset}/plan.json",
    log:
        "logs/{dataset}/plan.log",
    benchmark:
        "benchmarks/{dataset}/plan.tsv"
    conda:
        "../../envs/plan.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        settings=plan_settings,
    shell:
        "python -m ngff_resave plan --settings {params.settings:q} --plan {output.plan} 2> {log}"
