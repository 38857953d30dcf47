"""Inference time (target ``latency``; paper appendix K, Table 14).

Times the model of every recommended layout and of the references (independent, all-shared) at
batch 1 and batch ``train.batch_size``, on the GPU when one is visible, else on the CPU. Weights
are random (time does not depend on them), so it needs the recommendations but no training.
"""

rule latency:
    """Median inference time per batch and per image of the recommended and reference layouts."""
    input:
        data=DATA_READY,
        recommendations=recommendation_tables(),
    output:
        TREE.report_file("latency.csv"),
    params:
        config=CONFIG_FILE,
        batches=f"1,{config['train']['batch_size']}",
    threads: 1
    log:
        TREE.log("latency"),
    conda:
        ENV
    shell:
        "treemtl profile latency --config {params.config:q} --recommended {input.recommendations:q}"
        " --batch-sizes {params.batches:q} --threads {threads} --out {output:q} > {log:q} 2>&1"
