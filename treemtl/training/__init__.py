"""Training (paper 4.1, App. G): the experiment config (defined once by ``config.schema.yaml``),
the task and dataset registry, task specs (losses, metrics and their directions), datasets,
and the resumable trainer with its checkpoints and ``metrics.json`` files."""
