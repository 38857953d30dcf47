"""``treemtl recommend``: the top-k layouts within a budget, from a stored performance table or a two-task table."""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from treemtl.core.cost import BlockProfile, Budget, LayoutCosts, parse_budget
from treemtl.errors import TreeMTLError
from treemtl.core.estimator import TwoTaskTable, load_two_task_table
from treemtl.core.layout import Layout
from treemtl.core.recommend import (
    costs_of,
    load_performance_lookup,
    load_performance_table,
    performance_table,
    task_columns,
    top_k,
)


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
        "estimated for every layout from a two-task table (--table/--blocks). "
        "--budget: N or Nmodels (FLOPs of N backbones), Nflops, Nparams, or N%% (of T independent "
        "backbones' FLOPs). Without --profile/--block-flops every block costs the same.",
    )
    parser.add_argument("--performance-table", default=None, metavar="FILE",
                        help="stored performance table: performance_table.npz (fast) or performance_table.csv")
    add_table_arguments(parser, required=False)
    parser.add_argument("--budget", default=None, help="e.g. 2, 1.5models, 1.5e9flops, 3e6params, 60%%")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--format", choices=("json", "csv", "table"), default="table")
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
    """Top-k rows and every layout's cost: a lookup in the stored table, or the table estimated anew."""
    if args.performance_table is not None:
        if args.table is not None or args.profile or args.block_flops or args.block_params:
            raise TreeMTLError("--performance-table already holds estimates and costs; "
                               "give it without --table/--profile/--block-flops/--block-params")
        if args.performance_table.endswith(".npz"):
            lookup = load_performance_lookup(args.performance_table)
            return lookup.top_k(args.top_k, budget), lookup.costs
        frame = load_performance_table(args.performance_table)
    elif args.table is None or args.blocks is None:
        raise TreeMTLError("give --performance-table FILE, or --table FILE with --blocks B")
    else:
        table, profile = load_inputs(args)
        frame = performance_table(table, profile)
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
