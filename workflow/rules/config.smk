"""The readable copy of the resolved config (jobs read ``configs/<digest>.yaml``, see common.smk)."""


rule resolved_config:
    """A readable copy of this invocation's resolved config, made under the workflow's lock.

    The digest param reruns it whenever the config changes; nothing reads the copy.
    """
    output:
        TREE.config_copy,
    params:
        config=CONFIG_FILE,
        digest=CONFIG_DIGEST,
    log:
        TREE.log("resolved_config"),
    conda:
        ENV
    shell:
        "cp {params.config:q} {output:q} 2> {log:q}"
