"""``treemtl performance-table``: estimates, score and cost of every layout, as CSV."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import numpy as np

from treemtl.cli.recommend import add_table_arguments, load_inputs
from treemtl.core.recommend import performance_table, read_layouts, write_performance_table
from treemtl.errors import TreeMTLError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "performance-table",
        help="estimate + cost of every layout (CSV)",
        description="Columns: id,layout,est_<task>...,score,flops,params,flops_pct,params_pct "
        "(pct = %% of T independent backbones). Without a profile every block costs 1. "
        "Layouts come from --layouts (a `treemtl enumerate --format csv` file) or are enumerated; "
        "task weights from --weights (a `treemtl weights` file) or are computed from the table.",
    )
    add_table_arguments(parser)
    parser.add_argument("--layouts", default=None, help="layouts.csv from `treemtl enumerate --format csv`")
    parser.add_argument("--weights", default=None, help="weights.json from `treemtl weights`")
    from treemtl.cli.weights import add_weighting_argument

    add_weighting_argument(parser, default=None)
    parser.add_argument("--out", required=True, help="performance_table.csv to write (atomically)")
    parser.add_argument("--npz", default=None,
                        help="also write the table as .npz, the form `treemtl recommend --performance-table` reads fastest")
    parser.set_defaults(func=run)


def read_weights(path: str, tasks: Sequence[str], weighting: str | None = None) -> np.ndarray:
    """Weights of ``tasks`` (in that order) from a ``treemtl weights`` JSON file.

    ``weighting``, when given, must be the one the file was written with (svde for files that
    do not say): the flag never silently loses to the file.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise TreeMTLError(f"{path}: weights file not found (write it with `treemtl weights`)") from None
    except (OSError, ValueError) as error:
        raise TreeMTLError(f"{path}: not a readable weights file ({error})") from None
    weights = document.get("weights") if isinstance(document, dict) else None
    if not isinstance(weights, dict) or sorted(weights) != sorted(tasks):
        found = sorted(weights) if isinstance(weights, dict) else "none"
        raise TreeMTLError(f"{path}: expected 'weights' for tasks {', '.join(tasks)}, found {found}")
    if weighting is not None:
        from treemtl.core.weighting import parse_weighting

        recorded = parse_weighting(document.get("weighting", "svde"), f"{path}: weighting")
        if recorded != parse_weighting(weighting):
            raise TreeMTLError(f"{path}: written with weighting {recorded.text()}, but --weighting {weighting}; "
                               "write it again with `treemtl weights --weighting` or drop one of the two")
    values = [weights[task] for task in tasks]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise TreeMTLError(f"{path}: weights must be numbers, got {values}")
    return np.asarray(values, dtype=np.float64)


def run(args: argparse.Namespace) -> int:
    table, profile = load_inputs(args)
    space = None if args.layouts is None else read_layouts(args.layouts, table.num_tasks, table.num_blocks)
    if args.weights is not None:
        weights = read_weights(args.weights, table.tasks, args.weighting)
    else:
        from treemtl.core.weighting import parse_weighting

        weights = parse_weighting(args.weighting or "svde").weights(table)
    write_performance_table(performance_table(table, profile, weights, space), args.out, args.npz)
    return 0
