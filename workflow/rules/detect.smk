"""Branching points of the backbone and its per-block cost profile."""


rule detect:
    """Split the backbone into B coarse blocks and profile their FLOPs and params."""
    input:
        config=ancient(CONFIG_FILE),
    output:
        report(
            BLOCKS_JSON,
            caption="../report/blocks.rst",
            category="Backbone",
        ),
    params:
        backbone=config["backbone"],
        head=config["head"],
        # every known task: blocks.json (an input of every training) must not
        # change with the task list
        head_tasks="segment_semantic,depth_zbuffer,normal,keypoints2d,edge_texture",
    log:
        f"{RESULTS}/logs/detect.log",
    conda:
        ENV
    shell:
        "treemtl detect --config {input.config} --tasks {params.head_tasks}"
        " --out {output} > {log} 2>&1"
