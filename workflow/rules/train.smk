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
        config=ancient(CONFIG_FILE),
        data=DATA_READY,
        blocks=BLOCKS_JSON,
    output:
        metrics=f"{RESULTS}/single/{{task}}/metrics.json",
        model=f"{RESULTS}/single/{{task}}/model.pt",
    params:
        recipe=RECIPE,
        layout=single_layout(),
        seed=config["seed"],
        out=lambda wildcards, output: os.path.dirname(output.metrics),
    threads: 1
    resources:
        gpu=0,
    log:
        f"{RESULTS}/logs/single/{{task}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/single/{{task}}.tsv"
    conda:
        ENV
    shell:
        "treemtl gpu-slot --gpus {resources.gpu} --"
        " treemtl train --config {input.config} --tasks {wildcards.task}"
        " --layout {params.layout:q} --seed {params.seed} --threads {threads}"
        " --out {params.out} > {log} 2>&1"


rule train_pair:
    """Two-task model of a task pair sharing the blocks before branch point k (1..B)."""
    input:
        config=ancient(CONFIG_FILE),
        data=DATA_READY,
        blocks=BLOCKS_JSON,
        reference=pair_references,
    output:
        metrics=f"{RESULTS}/pairs/{{pair}}/branch{{branch}}/metrics.json",
        model=f"{RESULTS}/pairs/{{pair}}/branch{{branch}}/model.pt",
    params:
        recipe=RECIPE,
        tasks=lambda wildcards: pair_tasks(wildcards.pair),
        layout=two_task_layout,
        seed=config["seed"],
        reference=lambda wildcards, input: " ".join(
            f"--reference {path}" for path in input.reference
        ),
        out=lambda wildcards, output: os.path.dirname(output.metrics),
    threads: 1
    resources:
        gpu=0,
    log:
        f"{RESULTS}/logs/pairs/{{pair}}/branch{{branch}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pairs/{{pair}}/branch{{branch}}.tsv"
    conda:
        ENV
    shell:
        "treemtl gpu-slot --gpus {resources.gpu} --"
        " treemtl train --config {input.config} --tasks {params.tasks}"
        " --layout {params.layout:q} --seed {params.seed} --threads {threads}"
        " {params.reference} --out {params.out} > {log} 2>&1"


use rule train_single as train_single_repeat with:
    output:
        metrics=f"{RESULTS}/single/{{task}}/seed{{repeat_seed}}/metrics.json",
        model=f"{RESULTS}/single/{{task}}/seed{{repeat_seed}}/model.pt",
    params:
        seed=lambda wildcards: int(wildcards.repeat_seed),
    log:
        f"{RESULTS}/logs/single/{{task}}/seed{{repeat_seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/single/{{task}}/seed{{repeat_seed}}.tsv"


use rule train_pair as train_pair_repeat with:
    output:
        metrics=f"{RESULTS}/pairs/{{pair}}/branch{{branch}}/seed{{repeat_seed}}/metrics.json",
        model=f"{RESULTS}/pairs/{{pair}}/branch{{branch}}/seed{{repeat_seed}}/model.pt",
    params:
        seed=lambda wildcards: int(wildcards.repeat_seed),
    log:
        f"{RESULTS}/logs/pairs/{{pair}}/branch{{branch}}/seed{{repeat_seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pairs/{{pair}}/branch{{branch}}/seed{{repeat_seed}}.tsv"
