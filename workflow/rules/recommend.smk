"""Top-k layouts per budget: a lookup in the stored performance table, or (a space of more than
``recommend.search_above`` layouts) the exact search.

A checkpoint: the ids it picks decide which final models exist.
"""


if SEARCH:

    checkpoint recommend:
        """Best ``top_k`` layouts within ``budget`` backbone models of FLOPs, found by exact search."""
        input:
            table=TREE.two_task_table,
            weights=TREE.weights,
            profile=TREE.blocks_json,
        output:
            table=report(
                TREE.recommendation("{budget}"),
                caption="../report/recommend.rst",
                category="Recommendations",
                subcategory="Budget {budget}",
            ),
        params:
            top_k=config["recommend"]["top_k"],
            tasks=TASK_LIST,
            blocks=NUM_BLOCKS,
        log:
            TREE.log("recommend/budget{budget}"),
        conda:
            ENV
        shell:
            "treemtl recommend --method search --table {input.table:q} --blocks {params.blocks:q}"
            " --task-names {params.tasks:q} --profile {input.profile:q} --weights {input.weights:q}"
            " --budget {wildcards.budget:q} --top-k {params.top_k:q}"
            " --format csv > {output.table:q} 2> {log:q}"

else:

    checkpoint recommend:
        """Best ``top_k`` layouts within ``budget`` backbone models of FLOPs: a lookup in the stored table."""
        input:
            TREE.performance_lookup,
        output:
            table=report(
                TREE.recommendation("{budget}"),
                caption="../report/recommend.rst",
                category="Recommendations",
                subcategory="Budget {budget}",
            ),
        params:
            top_k=config["recommend"]["top_k"],
        log:
            TREE.log("recommend/budget{budget}"),
        conda:
            ENV
        shell:
            "treemtl recommend --performance-table {input:q}"
            " --budget {wildcards.budget:q} --top-k {params.top_k:q}"
            " --format csv > {output.table:q} 2> {log:q}"
