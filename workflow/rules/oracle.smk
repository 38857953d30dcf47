"""Oracle (target ``oracle``): train a sample of layouts and measure how well rankings match.

``oracle_sample`` is a checkpoint: the ids it writes decide which trainings exist. Each layout
is trained once per ``oracle.seeds`` with the recipe of the pairs; the correlation step compares
the real Δt (mean over seeds) with the recommender's and the baselines' scores, and the
comparison step writes the paper-style Tables 1-4.
"""

include: "oracle_inputs.smk"


checkpoint oracle_sample:
    """Every layout, or a seeded sample stratified by branches and FLOPs (references always in)."""
    input:
        blocks=TREE.blocks_json,
    output:
        TREE.oracle_sample,
    params:
        config=CONFIG_FILE,
        oracle=config["oracle"]["sample"],
        seed=config["seed"],
        tasks=TASK_LIST,
    log:
        TREE.log("oracle/sample"),
    conda:
        ENV
    shell:
        "treemtl oracle sample --config {params.config:q} --profile {input.blocks:q}"
        " --out {output:q} > {log:q} 2>&1"


rule train_oracle:
    """One oracle layout with one seed, same recipe as the two-task and final models."""
    input:
        data=DATA_READY,
        reference=single_metrics(),
    output:
        metrics=TREE.oracle_metrics("{layout_id}", "{oracle_seed}"),
    wildcard_constraints:
        oracle_seed=r"\d+",
    params:
        config=CONFIG_FILE,
        recipe=RECIPE,
        tasks=TASK_LIST,
        layout=final_layout,
        reference=reference_flags,
        out=lambda wildcards, output: os.path.dirname(output.metrics),
    threads: 1
    resources:
        gpu=0,
    log:
        TREE.log("oracle/{layout_id}/seed{oracle_seed}"),
    benchmark:
        TREE.benchmark("oracle/{layout_id}/seed{oracle_seed}")
    conda:
        ENV
    shell:
        "treemtl gpu-slot --gpus {resources.gpu} --"
        " treemtl train --config {params.config:q} --tasks {params.tasks:q}"
        " --layout {params.layout:q} --seed {wildcards.oracle_seed:q} --threads {threads}"
        " {params.reference:q} --out {params.out:q} > {log:q} 2>&1"


rule oracle_correlate:
    """Pearson/Spearman/Kendall (bootstrap CIs), regret per budget and seed spread; each task weighting too."""
    input:
        sample=TREE.oracle_sample,
        performance=TREE.performance_table,
        table=TREE.two_task_table,
        singles=single_metrics(),
        runs=oracle_metrics,
        what_to_share=TREE.what_to_share_csv,
        task_grouping=TREE.task_grouping_csv,
    output:
        correlation=TREE.oracle_correlation,
        scatter=report(
            TREE.oracle_scatter,
            caption="../report/oracle_scatter.rst",
            category="Oracle",
        ),
    params:
        config=CONFIG_FILE,
        results=TREE.root,
        budgets=config["recommend"]["budgets"],
    log:
        TREE.log("oracle/correlate"),
    conda:
        ENV
    shell:
        "treemtl oracle correlate --config {params.config:q} --results {params.results:q}"
        " --sample {input.sample:q} --performance-table {input.performance:q} --table {input.table:q}"
        " --what-to-share {input.what_to_share:q} --task-grouping {input.task_grouping:q}"
        " --out {output.correlation:q} --scatter {output.scatter:q} > {log:q} 2>&1"


checkpoint comparison_models:
    """Ids the comparison tables show: references, top-5, top-1 per budget, baseline picks."""
    input:
        performance=TREE.performance_table,
        singles=single_metrics(),
        what_to_share=TREE.what_to_share_json,
        task_grouping=TREE.task_grouping_json,
    output:
        TREE.comparison_models,
    params:
        config=CONFIG_FILE,
        results=TREE.root,
        budgets=config["recommend"]["budgets"],
    log:
        TREE.log("oracle/comparison_models"),
    conda:
        ENV
    shell:
        "treemtl baselines models --config {params.config:q} --results {params.results:q}"
        " --out {output:q} > {log:q} 2>&1"


rule comparison_report:
    """Paper-style Tables 1-4 (Markdown, CSV, LaTeX) and figures vs the baselines.

    The rows are the ids of the ``comparison_models`` checkpoint, whose trained metrics
    ``comparison_metrics`` lists, and the searched baselines' retrained models (each Learning to
    Branch search, AutoMTL) with their cost files: the ``oracle`` target runs those too.
    """
    input:
        performance=TREE.performance_table,
        singles=single_metrics(),
        correlation=TREE.oracle_correlation,
        baselines=[
            TREE.what_to_share_csv,
            TREE.what_to_share_json,
            TREE.task_grouping_csv,
            TREE.task_grouping_json,
        ],
        trained=comparison_metrics,
        searched=searched_results(),
    output:
        index=report(
            TREE.comparison_file("comparison.md"),
            caption="../report/comparison.rst",
            category="Comparison",
        ),
        table1=TREE.comparison_file("table1_top.md"),
        table2=TREE.comparison_file("table2_budgets.md"),
        table3=TREE.comparison_file("table3_correlation.md"),
        table4=TREE.comparison_file("table4_baselines.md"),
        figure=report(
            TREE.comparison_file("cost_vs_delta.png"),
            caption="../report/comparison.rst",
            category="Comparison",
        ),
    params:
        config=CONFIG_FILE,
        results=TREE.root,
        budgets=config["recommend"]["budgets"],
        out=lambda wildcards, output: os.path.dirname(output.index),
    log:
        TREE.log("oracle/comparison"),
    conda:
        ENV
    shell:
        "treemtl baselines compare --config {params.config:q} --results {params.results:q}"
        " --out {params.out:q} > {log:q} 2>&1"


rule oracle:
    """Target: the oracle correlation, its scatter plot and the comparison tables."""
    input:
        rules.oracle_correlate.output,
        rules.comparison_report.output,


localrules:
    oracle_sample,
    oracle_correlate,
    comparison_models,
    comparison_report,
    oracle,
