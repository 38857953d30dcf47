"""From trained models to an estimate of every layout.

Two-task table -> task weights -> performance table (estimates, score, cost); for a space of more
than ``recommend.search_above`` layouts, the score landscape (exact front, sampled layouts) instead.
"""


rule two_task_table:
    """Relative performance (%) of both tasks of each pair at each branch point."""
    input:
        two_task_metrics(),
    output:
        report(
            TREE.two_task_table,
            caption="../report/two_task_table.rst",
            category="Estimator",
        ),
    params:
        config=CONFIG_FILE,
        tasks=TASK_LIST,
        blocks=NUM_BLOCKS,
        repeat_seeds=",".join(str(seed) for seed in REPEAT_SEEDS),
        repeat_for=config["pairs"]["repeat_seeds_for"],
        branches=",".join(str(branch) for branch in TABLE_BRANCHES),
    log:
        TREE.log("two_task_table"),
    conda:
        ENV
    shell:
        "treemtl two-task-table --config {params.config:q} --tasks {params.tasks:q} --blocks {params.blocks:q}"
        " --repeat-seeds={params.repeat_seeds:q} --repeat-for {params.repeat_for:q}"
        " --branches {params.branches:q} --metrics {input:q}"
        " --out {output:q} > {log:q} 2>&1"


rule weights:
    """Task weights (``estimator.weights``: SVD entropy of each task's two-task curve, equal, or priorities)."""
    input:
        TREE.two_task_table,
    output:
        report(TREE.weights, caption="../report/weights.rst", category="Estimator"),
    params:
        tasks=TASK_LIST,
        weighting=WEIGHTING,
    log:
        TREE.log("weights"),
    conda:
        ENV
    shell:
        "treemtl weights --table {input:q} --task-names {params.tasks:q}"
        " --weighting {params.weighting:q} --out {output:q} > {log:q} 2>&1"


rule enumerate_layouts:
    """Every tree layout for T tasks and B blocks, numbered with the paper's ids."""
    output:
        TREE.layouts,
    params:
        num_tasks=len(TASKS),
        blocks=NUM_BLOCKS,
    log:
        TREE.log("enumerate"),
    conda:
        ENV
    shell:
        "treemtl enumerate --tasks {params.num_tasks:q} --blocks {params.blocks:q}"
        " --format csv --out {output:q} > {log:q} 2>&1"


rule performance_table:
    """Estimated per-task performance, score and cost of every stored layout.

    Written twice: CSV for people, ``.npz`` for the per-budget lookups of ``recommend``.
    """
    input:
        table=TREE.two_task_table,
        weights=TREE.weights,
        profile=TREE.blocks_json,
        layouts=TREE.layouts,
    output:
        table=report(
            TREE.performance_table,
            caption="../report/performance_table.rst",
            category="Estimator",
        ),
        lookup=TREE.performance_lookup,
    params:
        tasks=TASK_LIST,
        blocks=NUM_BLOCKS,
    log:
        TREE.log("performance_table"),
    conda:
        ENV
    shell:
        "treemtl performance-table --table {input.table:q} --blocks {params.blocks:q}"
        " --task-names {params.tasks:q} --profile {input.profile:q}"
        " --layouts {input.layouts:q} --weights {input.weights:q}"
        " --out {output.table:q} --npz {output.lookup:q} > {log:q} 2>&1"


rule score_landscape:
    """A searched space's exact score-vs-FLOPs front over a grid of budgets and a seeded sample of layouts."""
    input:
        table=TREE.two_task_table,
        weights=TREE.weights,
        profile=TREE.blocks_json,
    output:
        TREE.score_landscape,
    params:
        tasks=TASK_LIST,
        blocks=NUM_BLOCKS,
        seed=config["seed"],
    log:
        TREE.log("score_landscape"),
    conda:
        ENV
    shell:
        "treemtl score-landscape --table {input.table:q} --blocks {params.blocks:q}"
        " --task-names {params.tasks:q} --profile {input.profile:q} --weights {input.weights:q}"
        " --seed {params.seed:q} --out {output:q} > {log:q} 2>&1"
