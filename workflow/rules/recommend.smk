"""Top-k layouts per budget.

A checkpoint: the ids it picks decide which final models exist.
"""


checkpoint recommend:
    """Best ``top_k`` layouts within ``budget`` backbone models of FLOPs."""
    input:
        table=TWO_TASK_TABLE,
        profile=BLOCKS_JSON,
        performance=PERFORMANCE_TABLE,
    output:
        table=report(
            f"{RESULTS}/recommend/budget{{budget}}.csv",
            caption="../report/recommend.rst",
            category="Recommendations",
            subcategory="Budget {budget}",
        ),
    params:
        tasks=TASK_LIST,
        blocks=NUM_BLOCKS,
        top_k=config["recommend"]["top_k"],
    log:
        f"{RESULTS}/logs/recommend/budget{{budget}}.log",
    conda:
        ENV
    shell:
        "treemtl recommend --table {input.table} --blocks {params.blocks}"
        " --task-names {params.tasks} --profile {input.profile}"
        " --budget {wildcards.budget} --top-k {params.top_k}"
        " --format csv > {output.table} 2> {log}"
