"""``treemtl weights``: task weights of a two-task table (SVD entropy, equal or priorities), as JSON."""

from __future__ import annotations

import argparse
import json

from treemtl.cli.recommend import split_names
from treemtl.core.estimator import SVD_DELAY, SVD_ORDER, load_two_task_table, pair_entropies
from treemtl.core.weighting import SVDE, parse_weighting
from treemtl.atomic import write_text_atomic


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "weights",
        help="task weights from the two-task table (SVD entropy, equal or priorities)",
        description="Write {tasks, weights: {task: w}, weighting, entropy: {task: {other: e}}, ...} as JSON.",
    )
    parser.add_argument("--table", required=True, help="two-task table (wide CSV/XLSX or tidy CSV)")
    parser.add_argument("--task-names", default=None, help="comma-separated task names in task-index order")
    add_weighting_argument(parser)
    parser.add_argument("--out", required=True, help="weights.json to write (atomically)")
    parser.set_defaults(func=run)


def add_weighting_argument(parser: argparse.ArgumentParser, default: str | None = SVDE) -> None:
    """``--weighting svde|equal|task=priority,...`` (the commands that score layouts share it)."""
    parser.add_argument("--weighting", default=default,
                        help="how the score weighs tasks: svde (SVD entropy, the paper's; default), equal, "
                        "or task=priority,... for every task (normalised to sum 1)")


def run(args: argparse.Namespace) -> int:
    table = load_two_task_table(args.table, split_names(args.task_names))
    weighting = parse_weighting(args.weighting)
    weights = weighting.weights(table)
    entropy = pair_entropies(table) if table.num_blocks >= SVD_ORDER else None
    document = {
        "tasks": list(table.tasks),
        "weights": {task: float(w) for task, w in zip(table.tasks, weights)},
        "weighting": weighting.to_config(),
        "entropy": None if entropy is None else {
            a: {b: float(entropy[i, j]) for j, b in enumerate(table.tasks) if j != i}
            for i, a in enumerate(table.tasks)
        },
        "method": {"svd_order": SVD_ORDER, "svd_delay": SVD_DELAY, "branches": [1, table.num_blocks]},
        "num_blocks": table.num_blocks,
        "table": str(args.table),
    }
    write_text_atomic(args.out, json.dumps(document, indent=2) + "\n")
    return 0
