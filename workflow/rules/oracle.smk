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
        config=ancient(CONFIG_FILE),
        blocks=BLOCKS_JSON,
    output:
        f"{ORACLE_DIR}/sample.csv",
    params:
        oracle=config["oracle"]["sample"],
        seed=config["seed"],
        tasks=TASK_LIST,
    log:
        f"{RESULTS}/logs/oracle/sample.log",
    conda:
        ENV
    shell:
        "treemtl oracle sample --config {input.config} --profile {input.blocks}"
        " --out {output} > {log} 2>&1"


rule train_oracle:
    """One oracle layout with one seed, same recipe as the two-task and final models."""
    input:
        config=ancient(CONFIG_FILE),
        data=DATA_READY,
        blocks=BLOCKS_JSON,
        reference=single_metrics(),
    output:
        metrics=f"{ORACLE_DIR}/layouts/{{layout_id}}/seed{{oracle_seed}}/metrics.json",
    wildcard_constraints:
        oracle_seed=r"\d+",
    params:
        recipe=RECIPE,
        tasks=TASK_LIST,
        layout=final_layout,
        reference=lambda wildcards, input: " ".join(
            f"--reference {path}" for path in input.reference
        ),
        out=lambda wildcards, output: os.path.dirname(output.metrics),
    threads: 1
    resources:
        gpu=0,
    log:
        f"{RESULTS}/logs/oracle/{{layout_id}}/seed{{oracle_seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/oracle/{{layout_id}}/seed{{oracle_seed}}.tsv"
    conda:
        ENV
    shell:
        "treemtl gpu-slot --gpus {resources.gpu} --"
        " treemtl train --config {input.config} --tasks {params.tasks}"
        " --layout {params.layout:q} --seed {wildcards.oracle_seed} --threads {threads}"
        " {params.reference} --out {params.out} > {log} 2>&1"


rule oracle_correlate:
    """Pearson/Spearman/Kendall (bootstrap CIs), regret per budget and seed spread."""
    input:
        config=ancient(CONFIG_FILE),
        sample=f"{ORACLE_DIR}/sample.csv",
        performance=PERFORMANCE_TABLE,
        singles=single_metrics(),
        runs=oracle_metrics,
        what_to_share=f"{RESULTS}/baselines/what_to_share.csv",
        task_grouping=f"{RESULTS}/baselines/task_grouping.csv",
    output:
        correlation=f"{ORACLE_DIR}/correlation.json",
        scatter=report(
            f"{ORACLE_DIR}/scatter.png",
            caption="../report/oracle_scatter.rst",
            category="Oracle",
        ),
    params:
        results=lambda wildcards, input: os.path.dirname(input.performance),
        budgets=config["recommend"]["budgets"],
    log:
        f"{RESULTS}/logs/oracle/correlate.log",
    conda:
        ENV
    shell:
        "treemtl oracle correlate --config {input.config} --results {params.results}"
        " --sample {input.sample} --performance-table {input.performance}"
        " --what-to-share {input.what_to_share} --task-grouping {input.task_grouping}"
        " --out {output.correlation} --scatter {output.scatter} > {log} 2>&1"


checkpoint comparison_models:
    """Ids the comparison tables show: references, top-5, top-1 per budget, baseline picks."""
    input:
        config=ancient(CONFIG_FILE),
        performance=PERFORMANCE_TABLE,
        singles=single_metrics(),
        what_to_share=f"{RESULTS}/baselines/what_to_share.json",
        task_grouping=f"{RESULTS}/baselines/task_grouping.json",
    output:
        f"{COMPARISON_DIR}/models.json",
    params:
        results=lambda wildcards, input: os.path.dirname(input.performance),
        budgets=config["recommend"]["budgets"],
    log:
        f"{RESULTS}/logs/oracle/comparison_models.log",
    conda:
        ENV
    shell:
        "treemtl baselines models --config {input.config} --results {params.results}"
        " --out {output} > {log} 2>&1"


rule comparison_report:
    """Paper-style Tables 1-4 (Markdown, CSV, LaTeX) and figures vs the baselines."""
    input:
        config=ancient(CONFIG_FILE),
        performance=PERFORMANCE_TABLE,
        models=f"{COMPARISON_DIR}/models.json",
        correlation=f"{ORACLE_DIR}/correlation.json",
        trained=comparison_metrics,
    output:
        index=report(
            f"{COMPARISON_DIR}/comparison.md",
            caption="../report/comparison.rst",
            category="Comparison",
        ),
        table1=f"{COMPARISON_DIR}/table1_top.md",
        table2=f"{COMPARISON_DIR}/table2_budgets.md",
        table3=f"{COMPARISON_DIR}/table3_correlation.md",
        table4=f"{COMPARISON_DIR}/table4_baselines.md",
        figure=report(
            f"{COMPARISON_DIR}/cost_vs_delta.png",
            caption="../report/comparison.rst",
            category="Comparison",
        ),
    params:
        results=lambda wildcards, input: os.path.dirname(input.performance),
        out=lambda wildcards, output: os.path.dirname(output.index),
    log:
        f"{RESULTS}/logs/oracle/comparison.log",
    conda:
        ENV
    shell:
        "treemtl baselines compare --config {input.config} --results {params.results}"
        " --out {params.out} > {log} 2>&1"


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
