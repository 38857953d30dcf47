"""Baselines (target ``baselines``): What-to-Share and Task-Grouping rankings of the layouts, and
the searched baselines (Learning to Branch, AutoMTL; ``searched_baselines.smk``).

What-to-Share and Task-Grouping reuse what the recommender already trained (the single-task
models, the two-task table), so they cost seconds; their trained comparison lives in the
``oracle`` target. The searched baselines train their own models and are tabulated beside the
recommended trees with the compute each spent.
"""

rule what_to_share:
    """RSA task affinity at every block output of the single-task models; layout dissimilarity."""
    input:
        data=DATA_READY,
        blocks=TREE.blocks_json,
        models=[TREE.single_model(task) for task in TASKS],
    output:
        csv=TREE.what_to_share_csv,
        json=TREE.what_to_share_json,
    params:
        config=CONFIG_FILE,
        recipe=RECIPE,
        settings=config["baselines"]["what_to_share"],
        budgets=config["recommend"]["budgets"],
        results=TREE.root,
    threads: 1
    log:
        TREE.log("baselines/what_to_share"),
    benchmark:
        TREE.benchmark("baselines/what_to_share")
    conda:
        ENV
    shell:
        "treemtl baselines what-to-share --config {params.config:q} --results {params.results:q}"
        " --profile {input.blocks:q} --threads {threads}"
        " --out {output.csv:q} --affinity {output.json:q} > {log:q} 2>&1"


rule task_grouping:
    """Whole-backbone task groups from the all-shared two-task results (exact search)."""
    input:
        table=TREE.two_task_table,
    output:
        csv=TREE.task_grouping_csv,
        json=TREE.task_grouping_json,
    params:
        config=CONFIG_FILE,
        settings=config["baselines"]["task_grouping"],
        budgets=config["recommend"]["budgets"],
    log:
        TREE.log("baselines/task_grouping"),
    conda:
        ENV
    shell:
        "treemtl baselines task-grouping --config {params.config:q} --table {input.table:q}"
        " --out {output.csv:q} --choices {output.json:q} > {log:q} 2>&1"


rule baselines:
    """Target: both rankings' picks per budget, and the searched baselines' table and figure."""
    input:
        rules.what_to_share.output,
        rules.task_grouping.output,
        [TREE.searched_table(suffix) for suffix in ("md", "csv", "tex", "png")],


localrules:
    task_grouping,
    baselines,
