"""``treemtl score-landscape``: the exact Pareto front and a sample of scored layouts, for a large space."""

from __future__ import annotations

import argparse

from treemtl.atomic import write_text_atomic
from treemtl.cli import seed
from treemtl.cli.recommend import add_table_arguments, load_inputs
from treemtl.core.landscape import FRONT_BUDGETS, SAMPLE_SIZE, score_landscape


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score-landscape",
        help="exact score-vs-FLOPs front and a sample of layouts (CSV), without scoring every layout",
        description="Columns: kind,id,layout,est_<task>...,score,flops,params,flops_pct,params_pct. "
        "kind=front: the best layout within each of --budgets budgets from 1 to T models, found by "
        "exact search (Pareto-filtered, by increasing FLOPs); kind=sample: --sample layouts drawn "
        "uniformly with --seed (ids), plus the all-shared and the independent layout.",
    )
    add_table_arguments(parser)
    parser.add_argument("--weights", required=True, help="weights.json from `treemtl weights`")
    parser.add_argument("--budgets", type=int, default=FRONT_BUDGETS, help="budgets of the front")
    parser.add_argument("--sample", type=int, default=SAMPLE_SIZE, help="layouts drawn for the cloud")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the sample")
    parser.add_argument("--out", required=True, help="score_landscape.csv to write (atomically)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from treemtl.cli.performance_table import read_weights

    table, profile = load_inputs(args)
    weights = read_weights(args.weights, table.tasks)
    frame = score_landscape(table, profile, weights, args.budgets, args.sample, args.seed)
    write_text_atomic(args.out, frame.to_csv(index=False))
    return 0
