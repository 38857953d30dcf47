"""Baselines (target ``baselines``): What-to-Share and Task-Grouping rankings of the layouts.

Both reuse what the recommender already trained (the single-task models, the two-task table),
so they cost seconds; their trained comparison lives in the ``oracle`` target.
"""

BASELINES_DIR = f"{RESULTS}/baselines"


rule what_to_share:
    """RSA task affinity at every block output of the single-task models; layout dissimilarity."""
    input:
        config=ancient(CONFIG_FILE),
        data=DATA_READY,
        blocks=BLOCKS_JSON,
        models=[f"{RESULTS}/single/{task}/model.pt" for task in TASKS],
    output:
        csv=f"{BASELINES_DIR}/what_to_share.csv",
        json=f"{BASELINES_DIR}/what_to_share.json",
    params:
        recipe=RECIPE,
        settings=config["baselines"]["what_to_share"],
        budgets=config["recommend"]["budgets"],
        results=lambda wildcards, input: os.path.dirname(os.path.dirname(input.blocks)),
    threads: 1
    log:
        f"{RESULTS}/logs/baselines/what_to_share.log",
    benchmark:
        f"{RESULTS}/benchmarks/baselines/what_to_share.tsv"
    conda:
        ENV
    shell:
        "treemtl baselines what-to-share --config {input.config} --results {params.results}"
        " --profile {input.blocks} --threads {threads}"
        " --out {output.csv} --affinity {output.json} > {log} 2>&1"


rule task_grouping:
    """Whole-backbone task groups from the all-shared two-task results (exact search)."""
    input:
        config=ancient(CONFIG_FILE),
        table=TWO_TASK_TABLE,
    output:
        csv=f"{BASELINES_DIR}/task_grouping.csv",
        json=f"{BASELINES_DIR}/task_grouping.json",
    params:
        settings=config["baselines"]["task_grouping"],
        budgets=config["recommend"]["budgets"],
    log:
        f"{RESULTS}/logs/baselines/task_grouping.log",
    conda:
        ENV
    shell:
        "treemtl baselines task-grouping --config {input.config} --table {input.table}"
        " --out {output.csv} --choices {output.json} > {log} 2>&1"


rule baselines:
    """Target: both baselines' rankings and picks per budget."""
    input:
        rules.what_to_share.output,
        rules.task_grouping.output,


localrules:
    task_grouping,
    baselines,
