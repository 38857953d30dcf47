"""Train the recommended layouts (each id once, however many budgets chose it)."""


rule train_final:
    """Multi-task model of one recommended layout, with the recipe of the pairs."""
    input:
        config=ancient(CONFIG_FILE),
        data=DATA_READY,
        blocks=BLOCKS_JSON,
        reference=single_metrics(),
    output:
        metrics=f"{RESULTS}/final/{{layout_id}}/metrics.json",
        model=protected(f"{RESULTS}/final/{{layout_id}}/model.pt"),
    params:
        recipe=RECIPE,
        tasks=TASK_LIST,
        layout=final_layout,
        seed=config["seed"],
        reference=lambda wildcards, input: " ".join(
            f"--reference {path}" for path in input.reference
        ),
        out=lambda wildcards, output: os.path.dirname(output.metrics),
    threads: 1
    resources:
        gpu=0,
    log:
        f"{RESULTS}/logs/final/{{layout_id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/final/{{layout_id}}.tsv"
    conda:
        ENV
    shell:
        "treemtl gpu-slot --gpus {resources.gpu} --"
        " treemtl train --config {input.config} --tasks {params.tasks}"
        " --layout {params.layout:q} --seed {params.seed} --threads {threads}"
        " {params.reference} --out {params.out} > {log} 2>&1"


rule trained_finals:
    """The ids trained for the current budgets, once all of them are trained.

    Isolates the checkpoint-dependent input function in one cheap job, so the report
    keeps static inputs and Snakemake still notices a new budget's table.
    """
    input:
        tables=recommendation_tables(),
        metrics=final_metrics,
    output:
        f"{RESULTS}/final/trained_ids.txt",
    params:
        ids=lambda wildcards, input: " ".join(
            os.path.basename(os.path.dirname(path)) for path in input.metrics
        ),
    log:
        f"{RESULTS}/logs/trained_finals.log",
    conda:
        ENV
    shell:
        "printf '%s\\n' {params.ids} > {output} 2> {log}"
