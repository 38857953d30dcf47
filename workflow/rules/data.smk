"""The dataset the trainings read: rendered (synthetic) or located (real datasets)."""


if SYNTHETIC:

    rule data:
        """Render the procedural benchmark (all five tasks: a new task reuses it)."""
        output:
            DATA_READY,
        params:
            out=lambda wildcards, output: os.path.dirname(output[0]),
            synthetic=config["data"]["synthetic"],
        threads: workflow.cores
        log:
            f"{RESULTS}/logs/data.log",
        conda:
            ENV
        shell:
            "treemtl data synth --out {params.out} --n {params.synthetic[n_train]}"
            " --n-val {params.synthetic[n_val]} --size {params.synthetic[size]}"
            " --seed {params.synthetic[seed]} --workers {threads} > {log} 2>&1"

else:

    rule data:
        """Check that the configured dataset folder exists and holds the tasks."""
        input:
            config=ancient(CONFIG_FILE),
        output:
            DATA_READY,
        params:
            data=config["data"],
            tasks=TASK_LIST,
        log:
            f"{RESULTS}/logs/data.log",
        conda:
            ENV
        shell:
            "treemtl data check --config {input.config} --tasks {params.tasks}"
            " --out {output} > {log} 2>&1"
