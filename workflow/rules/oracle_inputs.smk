"""Paths and input functions of the oracle rules (kept apart from the rules, as the linter asks).

The oracle's trainings and the comparison's rows are only known after the ``oracle_sample`` and
``comparison_models`` checkpoints have run; these functions read their outputs.
"""

import csv
import json

ORACLE_SEEDS = [int(seed) for seed in config["oracle"]["seeds"]]


def oracle_ids(wildcards=None):
    """Layout ids of the oracle sample (re-read once the checkpoint has run)."""
    with open(checkpoints.oracle_sample.get().output[0], newline="") as handle:
        return [int(row["id"]) for row in csv.DictReader(handle)]


def oracle_metrics(wildcards=None):
    """metrics.json of every (sampled layout, oracle seed)."""
    return [
        TREE.oracle_metrics(layout_id, seed)
        for layout_id in oracle_ids()
        for seed in ORACLE_SEEDS
    ]


def comparison_metrics(wildcards=None):
    """Trained metrics for every table row: oracle runs when sampled, else a final model."""
    with open(checkpoints.comparison_models.get().output[0]) as handle:
        ids = json.load(handle)
    sampled = set(oracle_ids())
    paths = []
    for layout_id in ids:
        if layout_id in sampled:
            paths += [TREE.oracle_metrics(layout_id, seed) for seed in ORACLE_SEEDS]
        else:
            paths.append(TREE.final_metrics(layout_id))
    return paths
