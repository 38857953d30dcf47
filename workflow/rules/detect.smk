"""Branching points of the backbone and its per-block cost profile."""

from treemtl.training.registry import task_names


rule detect:
    """Split the backbone into B coarse blocks and profile their FLOPs and params."""
    output:
        report(
            TREE.blocks_json,
            caption="../report/blocks.rst",
            category="Backbone",
        ),
    params:
        config=CONFIG_FILE,
        backbone=config["backbone"],
        head=config["head"],
        # every known task: blocks.json must not change with the task list
        head_tasks=",".join(task_names()),
    log:
        TREE.log("detect"),
    conda:
        ENV
    shell:
        "treemtl detect --config {params.config:q} --tasks {params.head_tasks:q}"
        " --out {output:q} > {log:q} 2>&1"
