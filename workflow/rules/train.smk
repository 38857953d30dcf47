"""Single-task and two-task trainings: the measurements the estimator is built from.

With ``repeat_seeds``, the same models are trained again with each extra seed under
``<model folder>/seed<s>/``; the two-task table averages them with the main run.

``resources.gpu`` is 0 here and raised by a profile (``set-resources``);
``treemtl gpu-slot`` pins a job to a free GPU when it asks for one and runs the
command unchanged otherwise.
"""


rule train_single:
    """Single-task model of one task: the reference of every relative performance."""
    input:
        data=DATA_READY,
    output:
        metrics=TREE.single_metrics("{task}"),
        model=TREE.single_model("{task}"),
    params:
        config=CONFIG_FILE,
        recipe=RECIPE,
        layout=single_layout(),
        seed=config["seed"],
        out=lambda wildcards, output: os.path.dirname(output.metrics),
    threads: 1
    resources:
        gpu=0,
    log:
        TREE.log("single/{task}"),
    benchmark:
        TREE.benchmark("single/{task}")
    conda:
        ENV
    shell:
        "treemtl gpu-slot --gpus {resources.gpu} --"
        " treemtl train --config {params.config:q} --tasks {wildcards.task:q}"
        " --layout {params.layout:q} --seed {params.seed:q} --threads {threads}"
        " --out {params.out:q} > {log:q} 2>&1"


rule train_pair:
    """Two-task model of a task pair sharing the blocks before branch point k (1..B)."""
    input:
        data=DATA_READY,
        reference=pair_references,
    output:
        metrics=TREE.pair_metrics("{pair}", "{branch}"),
        model=TREE.pair_model("{pair}", "{branch}"),
    params:
        config=CONFIG_FILE,
        recipe=RECIPE,
        tasks=lambda wildcards: pair_tasks(wildcards.pair),
        layout=two_task_layout,
        seed=config["seed"],
        reference=reference_flags,
        out=lambda wildcards, output: os.path.dirname(output.metrics),
    threads: 1
    resources:
        gpu=0,
    log:
        TREE.log("pairs/{pair}/branch{branch}"),
    benchmark:
        TREE.benchmark("pairs/{pair}/branch{branch}")
    conda:
        ENV
    shell:
        "treemtl gpu-slot --gpus {resources.gpu} --"
        " treemtl train --config {params.config:q} --tasks {params.tasks:q}"
        " --layout {params.layout:q} --seed {params.seed:q} --threads {threads}"
        " {params.reference:q} --out {params.out:q} > {log:q} 2>&1"


use rule train_single as train_single_repeat with:
    output:
        metrics=TREE.single_metrics("{task}", "{repeat_seed}"),
        model=TREE.single_model("{task}", "{repeat_seed}"),
    params:
        seed=lambda wildcards: int(wildcards.repeat_seed),
    log:
        TREE.log("single/{task}/seed{repeat_seed}"),
    benchmark:
        TREE.benchmark("single/{task}/seed{repeat_seed}")


use rule train_pair as train_pair_repeat with:
    output:
        metrics=TREE.pair_metrics("{pair}", "{branch}", "{repeat_seed}"),
        model=TREE.pair_model("{pair}", "{branch}", "{repeat_seed}"),
    params:
        seed=lambda wildcards: int(wildcards.repeat_seed),
    log:
        TREE.log("pairs/{pair}/branch{branch}/seed{repeat_seed}"),
    benchmark:
        TREE.benchmark("pairs/{pair}/branch{branch}/seed{repeat_seed}")
