"""``treemtl performance-table``: estimates, score and cost of every layout, as CSV."""

from __future__ import annotations

import argparse

from treemtl.cli.recommend import add_table_arguments, load_inputs
from treemtl.core.recommend import performance_table, write_performance_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "performance-table",
        help="estimate + cost of every layout (CSV)",
        description="Columns: id,layout,est_<task>...,score,flops,params,flops_pct,params_pct "
        "(pct = %% of T independent backbones). Without a profile every block costs 1.",
    )
    add_table_arguments(parser)
    parser.add_argument("--out", required=True, help="performance_table.csv to write (atomically)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    table, profile = load_inputs(args)
    write_performance_table(performance_table(table, profile), args.out)
    return 0
