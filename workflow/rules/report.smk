"""Paper-style tables and figures of the recommendations and their trained results."""

REPORT_DIR = f"{RESULTS}/report"


rule report:
    """Per-budget tables with Δt vs the singles, layout trees, score vs FLOPs."""
    input:
        config=ancient(CONFIG_FILE),
        performance=PERFORMANCE_TABLE,
        weights=WEIGHTS,
        recommendations=recommendation_tables(),
        singles=single_metrics(),
        finals=rules.trained_finals.output,
    output:
        markdown=report(
            f"{REPORT_DIR}/recommendations.md",
            caption="../report/recommendations.rst",
            category="Report",
        ),
        csv=f"{REPORT_DIR}/recommendations.csv",
        latex=f"{REPORT_DIR}/recommendations.tex",
        summary=f"{REPORT_DIR}/summary.md",
        trees=report(
            f"{REPORT_DIR}/layouts.png",
            caption="../report/layouts.rst",
            category="Report",
        ),
        pareto=report(
            f"{REPORT_DIR}/score_vs_flops.png",
            caption="../report/score_vs_flops.rst",
            category="Report",
        ),
    params:
        results=lambda wildcards, input: os.path.dirname(input.performance),
        out=lambda wildcards, output: os.path.dirname(output.markdown),
    log:
        f"{RESULTS}/logs/report.log",
    conda:
        ENV
    shell:
        "treemtl report --config {input.config} --results {params.results}"
        " --out {params.out} > {log} 2>&1"
