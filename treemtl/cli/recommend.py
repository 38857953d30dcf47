"""``treemtl recommend``: the top-k layouts within a budget, from a stored performance table or a two-task table."""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from treemtl.core.best_layouts import METHODS, SEARCH_ABOVE, recommend_layouts
from treemtl.core.cost import BlockProfile, Budget, LayoutCosts, parse_budget
from treemtl.errors import TreeMTLError
from treemtl.core.estimator import TwoTaskTable, load_two_task_table
from treemtl.core.layout import Layout
from treemtl.core.recommend import (
    costs_of,
    load_performance_lookup,
    load_performance_table,
    task_columns,
    top_k,
)
from treemtl.core.search import SearchLimits


def add_table_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """Flags shared by the commands that build a performance table."""
    parser.add_argument("--table", required=required, help="two-task table (wide CSV/XLSX or tidy CSV)")
    parser.add_argument("--blocks", type=int, required=required, help="number of blocks B (must match the table)")
    parser.add_argument("--task-names", default=None, help="comma-separated task names in task-index order")
    parser.add_argument("--profile", default=None, help="blocks.json from `treemtl detect` (per-block FLOPs/params)")
    parser.add_argument("--block-flops", default=None, help="comma-separated FLOPs (or fractions) per block")
    parser.add_argument("--block-params", default=None, help="comma-separated params (or fractions) per block")


def split_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise TreeMTLError(f"--task-names: empty name in {text!r}")
    return names


def load_inputs(args: argparse.Namespace) -> tuple[TwoTaskTable, BlockProfile | None]:
    """Table and profile from the shared flags; without a profile every block costs the same."""
    if args.blocks < 1:
        raise TreeMTLError(f"--blocks must be >= 1, got {args.blocks}")
    table = load_two_task_table(args.table, split_names(args.task_names), args.blocks)
    if args.profile and (args.block_flops or args.block_params):
        raise TreeMTLError("give either --profile or --block-flops/--block-params, not both")
    profile: BlockProfile | None = None
    if args.profile:
        profile = BlockProfile.from_json(args.profile)
    elif args.block_flops or args.block_params:
        profile = BlockProfile.from_strings(args.block_flops, args.block_params, args.blocks)
    if profile is not None and profile.num_blocks != args.blocks:
        raise TreeMTLError(f"{profile.source}: {profile.num_blocks} blocks in the profile but --blocks {args.blocks}")
    return table, profile


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recommend",
        help="top-k tree layouts within a computation budget",
        description="Print the best layouts within a budget: looked up in a stored performance table "
        "(--performance-table, from `treemtl performance-table`; its .npz answers in milliseconds), or "
        "from a two-task table (--table/--blocks): every layout scored while the space has at most "
        f"{SEARCH_ABOVE:,} layouts, an exact branch-and-bound search beyond (--method). "
        "--budget: N or Nmodels (FLOPs of N backbones), Nflops, Nparams, or N%% (of T independent "
        "backbones' FLOPs). Without --profile/--block-flops every block costs the same.",
    )
    parser.add_argument("--performance-table", default=None, metavar="FILE",
                        help="stored performance table: performance_table.npz (fast) or performance_table.csv")
    add_table_arguments(parser, required=False)
    from treemtl.cli.weights import add_weighting_argument

    add_weighting_argument(parser, default=None)
    parser.add_argument("--budget", default=None, help="e.g. 2, 1.5models, 1.5e9flops, 3e6params, 60%%")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--format", choices=("json", "csv", "table"), default="table")
    parser.add_argument("--weights", default=None, help="with --table: weights.json from `treemtl weights`")
    parser.add_argument("--method", choices=METHODS, default="auto",
                        help="with --table: score every layout (table), search exactly (search), or search "
                        f"only beyond {SEARCH_ABOVE:,} layouts (auto, the default); both give the same answer")
    limits = SearchLimits()
    parser.add_argument("--max-nodes", type=int, default=limits.max_nodes,
                        help="exact search: stop (saying how far it got) after this many nodes")
    parser.add_argument("--max-seconds", type=float, default=limits.max_seconds,
                        help="exact search: stop (saying how far it got) after this many seconds")
    parser.set_defaults(func=run)


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """JSON-ready rows: nested layout lists plus every column of the performance table."""
    result = []
    for row in frame.to_dict(orient="records"):
        text = str(row.pop("layout"))
        record: dict[str, object] = {"id": int(row.pop("id")), "layout": Layout.parse(text).to_list(),
                                     "layout_text": text}
        for key, value in row.items():
            record[key] = value.item() if hasattr(value, "item") else value
        result.append(record)
    return result


def format_table(frame: pd.DataFrame) -> str:
    """Aligned columns for people: id, layout, score, estimates, relative cost."""
    columns = ["id", "layout", "score", *task_columns(frame), "flops_pct", "params_pct"]
    shown = frame[columns].rename(columns={"flops_pct": "FLOPs %", "params_pct": "params %"})
    return shown.to_string(index=False, float_format=lambda v: f"{v:.3f}")


def best_layouts(args: argparse.Namespace, budget: Budget | None) -> tuple[pd.DataFrame, LayoutCosts]:
    """Top-k rows and the cheapest layouts' costs: a stored table's lookup, or scored or searched anew."""
    if args.performance_table is not None:
        if args.weighting is not None:
            raise TreeMTLError("--weighting: the stored performance table's score already holds its task weights; "
                               "give --weighting with --table, or to `treemtl performance-table`")
        if (args.table is not None or args.profile or args.block_flops or args.block_params or args.weights
                or args.method != "auto"):
            raise TreeMTLError("--performance-table already holds estimates and costs; give it without "
                               "--table/--profile/--block-flops/--block-params/--weights/--method")
        if args.performance_table.endswith(".npz"):
            lookup = load_performance_lookup(args.performance_table)
            return lookup.top_k(args.top_k, budget), lookup.costs
        frame = load_performance_table(args.performance_table)
    elif args.table is None or args.blocks is None:
        raise TreeMTLError("give --performance-table FILE, or --table FILE with --blocks B")
    else:
        if args.max_nodes < 1 or not args.max_seconds > 0:
            raise TreeMTLError(f"--max-nodes and --max-seconds must be > 0, got {args.max_nodes} and "
                               f"{args.max_seconds}")
        table, profile = load_inputs(args)
        if args.weights is not None:
            from treemtl.cli.performance_table import read_weights  # that module builds on this one

            weights = read_weights(args.weights, table.tasks, args.weighting)
        else:
            from treemtl.core.weighting import parse_weighting

            weights = parse_weighting(args.weighting or "svde").weights(table)
        found = recommend_layouts(table, args.top_k, budget, profile, weights, args.method,
                                  limits=SearchLimits(args.max_nodes, args.max_seconds))
        return found.rows, found.cheapest
    return top_k(frame, args.top_k, budget), costs_of(frame)


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise TreeMTLError(f"--top-k must be >= 1, got {args.top_k}")
    budget = parse_budget(args.budget) if args.budget is not None else None
    best, costs = best_layouts(args, budget)
    if budget is not None and len(best) == 0:
        sys.stderr.write(f"treemtl: warning: {budget.nothing_fits(costs)}\n")
    if args.format == "json":
        text = "[\n" + ",\n".join(json.dumps(r) for r in records(best)) + "\n]\n"
    elif args.format == "csv":
        text = best.to_csv(index=False)
    else:
        limit = budget.describe() if budget else "no budget"
        tasks = [column[len("est_"):] for column in task_columns(best)]
        header = f"# {len(tasks)} tasks ({', '.join(tasks)}), {best.attrs['num_blocks']} blocks, {limit}\n"
        text = header + (format_table(best) if len(best) else "(no layout fits the budget)") + "\n"
    sys.stdout.write(text)
    return 0
