"""Paper-style tables and figures of the recommendations and their trained results."""

rule report:
    """Per-budget tables with Δt vs the singles, layout trees, score vs FLOPs."""
    input:
        scores=TREE.score_landscape if SEARCH else TREE.performance_table,
        recommendations=recommendation_tables(),
        singles=single_metrics(),
        finals=final_metrics,
    output:
        markdown=report(
            TREE.report_file("recommendations.md"),
            caption="../report/recommendations.rst",
            category="Report",
        ),
        csv=TREE.report_file("recommendations.csv"),
        latex=TREE.report_file("recommendations.tex"),
        summary=TREE.report_file("summary.md"),
        trees=report(
            TREE.report_file("layouts.png"),
            caption="../report/layouts.rst",
            category="Report",
        ),
        pareto=report(
            TREE.report_file("score_vs_flops.png"),
            caption="../report/score_vs_flops.rst",
            category="Report",
        ),
    params:
        config=CONFIG_FILE,
        budgets=config["recommend"]["budgets"],
        results=TREE.root,
        out=lambda wildcards, output: os.path.dirname(output.markdown),
    log:
        TREE.log("report"),
    conda:
        ENV
    shell:
        "treemtl report --config {params.config:q} --results {params.results:q}"
        " --out {params.out:q} > {log:q} 2>&1"
