"""Cheaper two-task tables (``pairs.strategy``; docs/pair_strategies.md).

``full`` (the default) needs nothing here: ``train_single`` and ``train_pair`` train every run.

``warm_start``: each pair's all-shared model (branch B) is trained by ``train_pair`` as usual;
every other branch point is fine-tuned from it for ``pairs.fraction`` x ``train.iters``
iterations, so a fine-tune depends on its pair's all-shared ``model.pt`` as a file target. The
fine-tunes write the same folders as ``train_pair`` would (the ruleorder picks them), so the
two-task table reads the same files under every strategy but ``short``.

``short``: singles and pairs of the table are all trained for the fraction of the iterations in
their own tree (``short/``): the Δ of a short pair is taken against a short single. The full
singles stay the reference of the final and oracle models.
"""


if PAIRS_STRATEGY == "warm_start":

    rule train_pair_warm:
        """Branched two-task model fine-tuned from the pair's all-shared model (shared blocks copied into both branches)."""
        input:
            data=DATA_READY,
            reference=pair_references,
            init=TREE.pair_model("{pair}", NUM_BLOCKS),
        output:
            metrics=TREE.pair_metrics("{pair}", "{branch}"),
            model=TREE.pair_model("{pair}", "{branch}"),
        wildcard_constraints:
            branch="|".join(str(branch) for branch in BRANCHES[:-1]) or "-",
        params:
            config=CONFIG_FILE,
            recipe=RECIPE,
            pairs=config["pairs"],
            tasks=lambda wildcards: pair_tasks(wildcards.pair),
            layout=two_task_layout,
            seed=config["seed"],
            iters=PAIR_ITERS,
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
            " --init {input.init:q} --iters {params.iters:q}"
            " {params.reference:q} --out {params.out:q} > {log:q} 2>&1"

    use rule train_pair_warm as train_pair_warm_repeat with:
        input:
            data=DATA_READY,
            reference=pair_references,
            init=TREE.pair_model("{pair}", NUM_BLOCKS, "{repeat_seed}"),
        output:
            metrics=TREE.pair_metrics("{pair}", "{branch}", "{repeat_seed}"),
            model=TREE.pair_model("{pair}", "{branch}", "{repeat_seed}"),
        params:
            seed=lambda wildcards: int(wildcards.repeat_seed),
        log:
            TREE.log("pairs/{pair}/branch{branch}/seed{repeat_seed}"),
        benchmark:
            TREE.benchmark("pairs/{pair}/branch{branch}/seed{repeat_seed}")

    ruleorder: train_pair_warm > train_pair
    ruleorder: train_pair_warm_repeat > train_pair_repeat


if PAIRS_STRATEGY == "short":

    rule train_single_short:
        """Single-task model of the short table: the reference of the short pairs."""
        input:
            data=DATA_READY,
        output:
            metrics=TABLE_TREE.single_metrics("{task}"),
            model=TABLE_TREE.single_model("{task}"),
        params:
            config=CONFIG_FILE,
            recipe=RECIPE,
            pairs=config["pairs"],
            layout=single_layout(),
            seed=config["seed"],
            iters=PAIR_ITERS,
            out=lambda wildcards, output: os.path.dirname(output.metrics),
        threads: 1
        resources:
            gpu=0,
        log:
            TREE.log("short/single/{task}"),
        benchmark:
            TREE.benchmark("short/single/{task}")
        conda:
            ENV
        shell:
            "treemtl gpu-slot --gpus {resources.gpu} --"
            " treemtl train --config {params.config:q} --tasks {wildcards.task:q}"
            " --layout {params.layout:q} --seed {params.seed:q} --iters {params.iters:q} --threads {threads}"
            " --out {params.out:q} > {log:q} 2>&1"

    rule train_pair_short:
        """Two-task model of the short table, validated against the short singles of its tasks."""
        input:
            data=DATA_READY,
            reference=lambda wildcards: [TABLE_TREE.single_metrics(task) for task in wildcards.pair.split("__")],
        output:
            metrics=TABLE_TREE.pair_metrics("{pair}", "{branch}"),
            model=TABLE_TREE.pair_model("{pair}", "{branch}"),
        params:
            config=CONFIG_FILE,
            recipe=RECIPE,
            pairs=config["pairs"],
            tasks=lambda wildcards: pair_tasks(wildcards.pair),
            layout=two_task_layout,
            seed=config["seed"],
            iters=PAIR_ITERS,
            reference=reference_flags,
            out=lambda wildcards, output: os.path.dirname(output.metrics),
        threads: 1
        resources:
            gpu=0,
        log:
            TREE.log("short/pairs/{pair}/branch{branch}"),
        benchmark:
            TREE.benchmark("short/pairs/{pair}/branch{branch}")
        conda:
            ENV
        shell:
            "treemtl gpu-slot --gpus {resources.gpu} --"
            " treemtl train --config {params.config:q} --tasks {params.tasks:q}"
            " --layout {params.layout:q} --seed {params.seed:q} --iters {params.iters:q} --threads {threads}"
            " {params.reference:q} --out {params.out:q} > {log:q} 2>&1"

    use rule train_single_short as train_single_short_repeat with:
        output:
            metrics=TABLE_TREE.single_metrics("{task}", "{repeat_seed}"),
            model=TABLE_TREE.single_model("{task}", "{repeat_seed}"),
        params:
            seed=lambda wildcards: int(wildcards.repeat_seed),
        log:
            TREE.log("short/single/{task}/seed{repeat_seed}"),
        benchmark:
            TREE.benchmark("short/single/{task}/seed{repeat_seed}")

    use rule train_pair_short as train_pair_short_repeat with:
        output:
            metrics=TABLE_TREE.pair_metrics("{pair}", "{branch}", "{repeat_seed}"),
            model=TABLE_TREE.pair_model("{pair}", "{branch}", "{repeat_seed}"),
        params:
            seed=lambda wildcards: int(wildcards.repeat_seed),
        log:
            TREE.log("short/pairs/{pair}/branch{branch}/seed{repeat_seed}"),
        benchmark:
            TREE.benchmark("short/pairs/{pair}/branch{branch}/seed{repeat_seed}")
