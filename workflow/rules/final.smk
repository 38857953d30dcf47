"""Train the recommended layouts (each id once, however many budgets chose it)."""


rule train_final:
    """Multi-task model of one recommended layout, with the recipe of the pairs."""
    input:
        data=DATA_READY,
        reference=single_metrics(),
    output:
        metrics=TREE.final_metrics("{layout_id}"),
        model=protected(TREE.final_model("{layout_id}")),
    params:
        config=CONFIG_FILE,
        recipe=RECIPE,
        tasks=TASK_LIST,
        layout=final_layout,
        seed=config["seed"],
        reference=reference_flags,
        out=lambda wildcards, output: os.path.dirname(output.metrics),
    threads: 1
    resources:
        gpu=0,
    log:
        TREE.log("final/{layout_id}"),
    benchmark:
        TREE.benchmark("final/{layout_id}")
    conda:
        ENV
    shell:
        "treemtl gpu-slot --gpus {resources.gpu} --"
        " treemtl train --config {params.config:q} --tasks {params.tasks:q}"
        " --layout {params.layout:q} --seed {params.seed:q} --threads {threads}"
        " {params.reference:q} --out {params.out:q} > {log:q} 2>&1"


rule trained_finals:
    """The ids trained for the current budgets, once all of them are trained.

    The ids are the folder names of its inputs; it runs no ``treemtl`` command and opens none
    of them.
    """
    input:
        tables=recommendation_tables(),
        metrics=final_metrics,
    output:
        TREE.trained_ids,
    params:
        ids=lambda wildcards, input: [
            os.path.basename(os.path.dirname(path)) for path in input.metrics
        ],
    log:
        TREE.log("trained_finals"),
    conda:
        ENV
    shell:
        "printf '%s\\n' {params.ids:q} > {output:q} 2> {log:q}"
