"""From trained models to an estimate of every layout.

Two-task table -> task weights -> performance table (estimates, score, cost).
"""


rule two_task_table:
    """Relative performance (%) of both tasks of each pair at each branch point."""
    input:
        singles=single_metrics(),
        pairs=pair_metrics(),
        repeats=repeat_metrics(),
    output:
        report(
            TWO_TASK_TABLE,
            caption="../report/two_task_table.rst",
            category="Estimator",
        ),
    params:
        tasks=TASK_LIST,
        blocks=NUM_BLOCKS,
        repeat_seeds=",".join(str(seed) for seed in REPEAT_SEEDS) or "''",
        results=lambda wildcards, output: os.path.dirname(os.path.dirname(output[0])),
    log:
        f"{RESULTS}/logs/two_task_table.log",
    conda:
        ENV
    shell:
        "treemtl two-task-table --results {params.results} --tasks {params.tasks}"
        " --blocks {params.blocks} --repeat-seeds {params.repeat_seeds}"
        " --out {output} > {log} 2>&1"


rule weights:
    """Task weights from the SVD entropy of each task's two-task curve."""
    input:
        TWO_TASK_TABLE,
    output:
        report(WEIGHTS, caption="../report/weights.rst", category="Estimator"),
    params:
        tasks=TASK_LIST,
    log:
        f"{RESULTS}/logs/weights.log",
    conda:
        ENV
    shell:
        "treemtl weights --table {input} --task-names {params.tasks}"
        " --out {output} > {log} 2>&1"


rule enumerate_layouts:
    """Every tree layout for T tasks and B blocks, numbered with the paper's ids."""
    output:
        LAYOUTS_CSV,
    params:
        num_tasks=len(TASKS),
        blocks=NUM_BLOCKS,
    log:
        f"{RESULTS}/logs/enumerate.log",
    conda:
        ENV
    shell:
        "treemtl enumerate --tasks {params.num_tasks} --blocks {params.blocks}"
        " --format csv --out {output} > {log} 2>&1"


rule performance_table:
    """Estimated per-task performance, score and cost of every layout."""
    input:
        table=TWO_TASK_TABLE,
        profile=BLOCKS_JSON,
        layouts=LAYOUTS_CSV,
    output:
        report(
            PERFORMANCE_TABLE,
            caption="../report/performance_table.rst",
            category="Estimator",
        ),
    params:
        tasks=TASK_LIST,
        blocks=NUM_BLOCKS,
    log:
        f"{RESULTS}/logs/performance_table.log",
    conda:
        ENV
    shell:
        "treemtl performance-table --table {input.table} --blocks {params.blocks}"
        " --task-names {params.tasks} --profile {input.profile}"
        " --out {output} > {log} 2>&1"
