"""The dataset the trainings read: rendered (synthetic) or located (real datasets)."""


if SYNTHETIC:

    rule data:
        """Render the procedural benchmark (every task it knows: a new task reuses it)."""
        output:
            DATA_READY,
        params:
            out=lambda wildcards, output: os.path.dirname(output[0]),
            synthetic=config["data"]["synthetic"],
        threads: workflow.cores
        log:
            TREE.log("data"),
        conda:
            ENV
        shell:
            "treemtl data synth --out {params.out:q} --n {params.synthetic[n_train]:q}"
            " --n-val {params.synthetic[n_val]:q} --size {params.synthetic[size]:q}"
            " --seed {params.synthetic[seed]:q} --workers {threads} > {log:q} 2>&1"

else:

    rule data:
        """Check that the configured dataset folder exists and holds the tasks."""
        output:
            DATA_READY,
        params:
            config=CONFIG_FILE,
            data=config["data"],
            tasks=TASK_LIST,
        log:
            TREE.log("data"),
        conda:
            ENV
        shell:
            "treemtl data check --config {params.config:q} --tasks {params.tasks:q}"
            " --out {output:q} > {log:q} 2>&1"
