"""Searched baselines (target ``searched_baselines``, part of ``baselines``): Learning to Branch and AutoMTL.

Each searches on the experiment's data with its seed, then retrains what it found from scratch
with the recipe of every final model (``RECIPE`` is a param: changing it reruns both). Learning to
Branch runs one search per FLOPs target (``LTB_SEARCHES``: one, or with
``baselines.learn_to_branch.budget: recommend`` one per recommend budget). The
table sets them beside the recommended trees with the seconds each spent (benchmark files: the
recommender's singles and pairs, each final training, each search and retraining).
Like every training rule, searches and retrainings ask for ``resources.gpu`` (0 here, raised by
a profile) and run under ``treemtl gpu-slot``.
"""


rule learn_to_branch_search:
    """Tree supernet over the coarse blocks; the most likely parents give a layout. One job per
    search (``ltb_search``: ``budget<x>`` aims at x backbone models of FLOPs, or ``unconstrained``)."""
    input:
        data=DATA_READY,
        blocks=TREE.blocks_json,
    output:
        TREE.learn_to_branch_search("{ltb_search}"),
    params:
        config=CONFIG_FILE,
        recipe=RECIPE,
        settings=config["baselines"]["learn_to_branch"],
        budget=ltb_budget_flag,
    threads: 1
    resources:
        gpu=0,
    log:
        TREE.log(TREE.learn_to_branch_log_name("{ltb_search}", "search")),
    benchmark:
        TREE.learn_to_branch_benchmarks("{ltb_search}")[0]
    conda:
        ENV
    shell:
        "treemtl gpu-slot --gpus {resources.gpu} --"
        " treemtl baselines learn-to-branch --config {params.config:q} --profile {input.blocks:q}"
        " --budget {params.budget:q} --threads {threads} --out {output:q} > {log:q} 2>&1"


rule learn_to_branch_retrain:
    """The searched tree trained from scratch with the recipe of the final models."""
    input:
        data=DATA_READY,
        search=TREE.learn_to_branch_search("{ltb_search}"),
        reference=single_metrics(),
    output:
        metrics=TREE.learn_to_branch_metrics("{ltb_search}"),
        model=TREE.learn_to_branch_model("{ltb_search}"),
    params:
        config=CONFIG_FILE,
        recipe=RECIPE,
        reference=reference_flags,
        out=lambda wildcards, output: os.path.dirname(output.metrics),
    threads: 1
    resources:
        gpu=0,
    log:
        TREE.log(TREE.learn_to_branch_log_name("{ltb_search}", "retrain")),
    benchmark:
        TREE.learn_to_branch_benchmarks("{ltb_search}")[1]
    conda:
        ENV
    shell:
        "treemtl gpu-slot --gpus {resources.gpu} --"
        " treemtl baselines learn-to-branch-retrain --config {params.config:q} --search {input.search:q}"
        " --threads {threads} {params.reference:q} --out {params.out:q} > {log:q} 2>&1"


rule automtl_search:
    """AutoMTL pre-train and policy-train on the compiled supermodel; a sampled policy."""
    input:
        data=DATA_READY,
    output:
        TREE.automtl_policy,
    params:
        config=CONFIG_FILE,
        recipe=RECIPE,
        settings=config["baselines"]["automtl"],
    threads: 1
    resources:
        gpu=0,
    log:
        TREE.log("baselines/automtl/search"),
    benchmark:
        TREE.automtl_benchmarks[0]
    conda:
        ENV
    shell:
        "treemtl gpu-slot --gpus {resources.gpu} --"
        " treemtl baselines automtl --config {params.config:q} --threads {threads}"
        " --out {output:q} > {log:q} 2>&1"


rule automtl_retrain:
    """AutoMTL post-train: the derived model from scratch with the recipe; its fvcore cost."""
    input:
        data=DATA_READY,
        policy=TREE.automtl_policy,
        reference=single_metrics(),
    output:
        metrics=TREE.automtl_metrics,
        model=TREE.automtl_model,
        cost=TREE.automtl_cost,
    params:
        config=CONFIG_FILE,
        recipe=RECIPE,
        reference=reference_flags,
        out=lambda wildcards, output: os.path.dirname(output.metrics),
    threads: 1
    resources:
        gpu=0,
    log:
        TREE.log("baselines/automtl/retrain"),
    benchmark:
        TREE.automtl_benchmarks[1]
    conda:
        ENV
    shell:
        "treemtl gpu-slot --gpus {resources.gpu} --"
        " treemtl baselines automtl-retrain --config {params.config:q} --policy {input.policy:q}"
        " --threads {threads} {params.reference:q} --out {params.out:q} > {log:q} 2>&1"


rule searched_baselines_table:
    """Both searched baselines beside the recommended trees: Δ, cost, compute seconds and a figure."""
    input:
        recommendations=recommendation_tables(),
        singles=single_metrics(),
        finals=final_metrics,
        searched=searched_results(),
        recommender_benchmarks=recommender_benchmarks(),
        final_benchmarks=final_benchmarks,
        searched_benchmarks=searched_benchmarks(),
    output:
        markdown=TREE.searched_table("md"),
        csv=TREE.searched_table("csv"),
        latex=TREE.searched_table("tex"),
        figure=report(
            TREE.searched_table("png"),
            caption="../report/searched.rst",
            category="Baselines",
        ),
    params:
        config=CONFIG_FILE,
        results=TREE.root,
        budgets=config["recommend"]["budgets"],
        stem=lambda wildcards, output: os.path.splitext(output.markdown)[0],
    log:
        TREE.log("baselines/searched_table"),
    conda:
        ENV
    shell:
        "treemtl baselines searched-table --config {params.config:q} --results {params.results:q}"
        " --recommender-benchmarks {input.recommender_benchmarks:q} --out {params.stem:q} > {log:q} 2>&1"


rule searched_baselines:
    """Target: Learning to Branch and AutoMTL searched, retrained and tabulated."""
    input:
        rules.searched_baselines_table.output,


localrules:
    searched_baselines_table,
    searched_baselines,
