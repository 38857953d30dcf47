"""Top-k layouts per budget.

A checkpoint: the ids it picks decide which final models exist.
"""


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
