"""``treemtl recommend``: the top-k layouts within a budget, from a two-task table."""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from treemtl.core.cost import BlockProfile, parse_budget
from treemtl.errors import TreeMTLError
from treemtl.core.estimator import TwoTaskTable, load_two_task_table
from treemtl.core.layout import Layout
from treemtl.core.recommend import performance_table, task_columns, top_k


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by the commands that build a performance table."""
    parser.add_argument("--table", required=True, help="two-task table (wide CSV/XLSX or tidy CSV)")
    parser.add_argument("--blocks", type=int, required=True, help="number of blocks B (must match the table)")
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
        description="Estimate every layout from a two-task table and print the best within a budget. "
        "--budget: N or Nmodels (FLOPs of N backbones), Nflops, Nparams, or N%% (of T independent "
        "backbones' FLOPs). Without --profile/--block-flops every block costs the same.",
    )
    add_table_arguments(parser)
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


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise TreeMTLError(f"--top-k must be >= 1, got {args.top_k}")
    budget = parse_budget(args.budget) if args.budget is not None else None
    table, profile = load_inputs(args)
    best = top_k(performance_table(table, profile), args.top_k, budget)
    if args.format == "json":
        text = "[\n" + ",\n".join(json.dumps(r) for r in records(best)) + "\n]\n"
    elif args.format == "csv":
        text = best.to_csv(index=False)
    else:
        limit = budget.describe() if budget else "no budget"
        header = f"# {table.num_tasks} tasks ({', '.join(table.tasks)}), {table.num_blocks} blocks, {limit}\n"
        text = header + (format_table(best) if len(best) else "(no layout fits the budget)") + "\n"
    sys.stdout.write(text)
    return 0
