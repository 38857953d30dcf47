"""The searched baselines of ``treemtl baselines``: Learning to Branch and AutoMTL.

* ``baselines learn-to-branch`` — search a tree with the branching supernet (``--budget``: the
  FLOPs target of this search); ``search.json`` holds the derived layout with its paper id and cost;
* ``baselines learn-to-branch-retrain`` — train that layout from scratch with the experiment's recipe;
* ``baselines automtl`` — AutoMTL's pre-train and policy-train stages; ``policy.json`` holds the
  derived operator-level policy;
* ``baselines automtl-retrain`` — post-train: the derived model from scratch with the recipe, and
  its fvcore FLOPs/params (``cost.json``);
* ``baselines searched-table`` — both beside the recommended trees and the references, with the
  compute each spent (benchmark files), and their cost-vs-Δt figure.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

from treemtl.atomic import write_json_atomic
from treemtl.cli import add_device_arguments, add_reference_argument
from treemtl.errors import TreeMTLError
from treemtl.training.config import load_config


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="experiment config YAML")
    add_device_arguments(parser)


def _add_retrain(commands: argparse._SubParsersAction, name: str, help: str, result: tuple[str, str],
                 out_help: str, func: Callable[[argparse.Namespace], int]) -> None:
    """A retraining command: the search's result file (``result``: flag, help) trained from scratch."""
    parser = commands.add_parser(name, help=help)
    _common(parser)
    parser.add_argument(result[0], required=True, help=result[1])
    add_reference_argument(parser, "single-task metrics.json files (validation monitor reference)")
    parser.add_argument("--out", required=True, help=out_help)
    parser.set_defaults(func=func)


def register_searched(commands: argparse._SubParsersAction) -> None:
    """Add the searched baselines' subcommands to ``treemtl baselines``."""
    ltb = commands.add_parser("learn-to-branch", help="search a tree with Learning to Branch (Guo et al.)")
    _common(ltb)
    ltb.add_argument("--profile", required=True, help="blocks.json (per-block FLOPs: resource term and cost)")
    ltb.add_argument("--iters", type=int, default=None, help="search iterations (default: iters_fraction x train.iters)")
    ltb.add_argument("--budget", default=None, metavar="MODELS|none",
                     help="FLOPs target of this search in backbone models, or none (default: "
                          "baselines.learn_to_branch.budget; required when that is recommend)")
    ltb.add_argument("--out", required=True, help="search.json (derived layout, id, cost, trajectory)")
    ltb.set_defaults(func=run_learn_to_branch)

    _add_retrain(commands, "learn-to-branch-retrain", "train the searched tree from scratch",
                 ("--search", "search.json of baselines learn-to-branch"),
                 "output folder (metrics.json, model.pt, train.log)", run_learn_to_branch_retrain)

    aut = commands.add_parser("automtl", help="search operator-level sharing with AutoMTL (Zhang et al.)")
    _common(aut)
    aut.add_argument("--iters", type=int, default=None, help="pre-train + policy-train iterations (default: fractions of train.iters)")
    aut.add_argument("--out", required=True, help="policy.json (derived policy, learned distribution, trajectory)")
    aut.set_defaults(func=run_automtl)

    _add_retrain(commands, "automtl-retrain", "post-train the derived AutoMTL model from scratch",
                 ("--policy", "policy.json of baselines automtl"),
                 "output folder (metrics.json, model.pt, cost.json)", run_automtl_retrain)

    table = commands.add_parser("searched-table", help="searched baselines beside the recommended trees")
    table.add_argument("--config", required=True, help="experiment config YAML")
    table.add_argument("--results", required=True, help="results folder")
    table.add_argument("--recommender-benchmarks", nargs="+", required=True, metavar="TSV",
                       help="benchmark files of every single- and two-task run of the recommender's table")
    table.add_argument("--out", required=True, help="output stem (writes <stem>.md, .csv, .tex and the figure .png)")
    table.set_defaults(func=run_searched_table)


def _search_budget(text: str) -> float | None:
    """``--budget``: a positive number of backbone models, or ``none``."""
    if text.lower() == "none":
        return None
    try:
        budget = float(text)
    except ValueError:
        budget = math.nan
    if not (math.isfinite(budget) and budget > 0):
        raise TreeMTLError(f"--budget: expected a positive number of backbone models or none, got {text!r}")
    return budget


def run_learn_to_branch(args: argparse.Namespace) -> int:
    from treemtl.core.cost import BlockProfile
    from treemtl.evaluation.baselines.learn_to_branch import block_fractions, for_budget, search, write_search

    config = load_config(args.config)
    if args.budget is not None:
        config = for_budget(config, _search_budget(args.budget))
    profile = BlockProfile.for_blocks(args.profile, config.backbone.blocks)
    if args.iters is not None and args.iters < 1:
        raise TreeMTLError(f"--iters: expected a positive integer, got {args.iters}")
    result = search(config, block_fractions(profile), device=args.device, threads=args.threads, iters=args.iters)
    document = write_search(args.out, config, result, profile)
    print(f"learn-to-branch: layout #{document['id']} {document['layout']} "
          f"({document['models']:.2f} models of FLOPs) after {result.iterations} iterations, "
          f"{result.wall_time_s:.1f} s -> {args.out}")
    return 0


def run_learn_to_branch_retrain(args: argparse.Namespace) -> int:
    from treemtl.cli.train import read_reference
    from treemtl.evaluation.baselines.learn_to_branch import read_search
    from treemtl.training.trainer import train

    config = load_config(args.config)
    layout = read_search(args.search, config)
    result = train(config, config.tasks, layout, args.out, device=args.device, threads=args.threads,
                   reference=read_reference(args.reference))
    print(f"learn-to-branch retrain: {layout.format()} {result.summary['iterations']} iterations, "
          f"{result.summary['wall_time_s']:.1f} s -> {args.out}")
    return 0


def run_automtl(args: argparse.Namespace) -> int:
    from treemtl.evaluation.baselines.automtl import search, write_policy

    config = load_config(args.config)
    if args.iters is not None and args.iters < 2:
        raise TreeMTLError(f"--iters: expected an integer >= 2 (pre-train and policy-train), got {args.iters}")
    result = search(config, device=args.device, threads=args.threads, iters=args.iters)
    document = write_policy(args.out, config, result)
    shared = sum(row.count(0) for row in document["policy"])
    total = sum(len(row) for row in document["policy"])
    print(f"automtl: {len(document['operators'])} operators, {shared}/{total} task choices shared, "
          f"{result.wall_time_s:.1f} s -> {args.out}")
    return 0


def run_automtl_retrain(args: argparse.Namespace) -> int:
    from treemtl.cli.train import read_reference
    from treemtl.evaluation.baselines.automtl import derived_model_factory, model_cost
    from treemtl.training.trainer import train

    config = load_config(args.config)
    factory = derived_model_factory(config, args.policy)
    result = train(config, config.tasks, "automtl", args.out, device=args.device, threads=args.threads,
                   reference=read_reference(args.reference), model_factory=factory)
    cost = model_cost(config, result.model)
    write_json_atomic(Path(args.out) / "cost.json", cost)
    print(f"automtl retrain: {cost['models']:.2f} models of FLOPs, {cost['params']} backbone params, "
          f"{result.summary['wall_time_s']:.1f} s -> {args.out}")
    return 0


def run_searched_table(args: argparse.Namespace) -> int:
    from treemtl.evaluation.report.searched import write_searched_table

    config = load_config(args.config)
    paths = write_searched_table(config, args.results, args.out, args.recommender_benchmarks)
    print(f"searched baselines table: {', '.join(str(p) for p in paths)}")
    return 0
