"""``treemtl two-task-table``: tidy two-task table from the metrics of trained single- and two-task models."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from treemtl.cli import comma_ints
from treemtl.errors import TreeMTLError
from treemtl.results_tree import ResultsTree


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "two-task-table",
        help="relative performance of every two-task model vs its singles (tidy CSV)",
        description="Read <results>/single/<task>/metrics.json and <results>/pairs/<a>__<b>/branch<k>/metrics.json "
        "(k = 1..BLOCKS) and write task_a,task_b,branch,delta_a,delta_b (Δ in %, branch 0 = 0). "
        "With --repeat-seeds, metrics are averaged over the main run and <model folder>/seed<s>/. "
        "Give the files (--metrics: exactly those the table needs, all in one results folder) or the folder.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--metrics", nargs="+", metavar="METRICS_JSON",
                        help="the metrics.json of every single- and two-task run the table needs")
    source.add_argument("--results", help="results folder of the experiment")
    parser.add_argument("--tasks", required=True, help="comma-separated task names in config order")
    parser.add_argument("--config", help="experiment config: where tasks declared by type or plugin come from "
                        "(default: built-in tasks only)")
    parser.add_argument("--blocks", type=int, required=True, help="number of blocks B")
    parser.add_argument("--repeat-seeds", default="", help="comma-separated extra seeds whose runs "
                        "(<model folder>/seed<s>/metrics.json) are averaged with the main run")
    parser.add_argument("--branches", default="", help="comma-separated branch points trained per pair, including "
                        "BLOCKS (default: every one); Δ at the others is interpolated along the branch axis")
    parser.add_argument("--repeat-for", choices=("all", "singles"), default="all",
                        help="runs the repeat seeds repeat: singles and pairs (all, default) or the singles only")
    parser.add_argument("--out", required=True, help="CSV to write (atomically)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from treemtl.evaluation.report.tables import write_csv
    from treemtl.evaluation.two_task_table import build_two_task_table

    tasks = [name.strip() for name in args.tasks.split(",")]
    if not all(tasks) or len(set(tasks)) != len(tasks):
        raise TreeMTLError(f"--tasks: expected distinct comma-separated names, got {args.tasks!r}")
    repeat_seeds = comma_ints(args.repeat_seeds, "--repeat-seeds")
    branches = comma_ints(args.branches, "--branches") or None
    repeat_pairs = args.repeat_for == "all"
    results = args.results if args.metrics is None else results_of(args.metrics, tasks, args.blocks, repeat_seeds,
                                                                   branches, repeat_pairs)
    config = None
    if args.config is not None:
        from treemtl.training.config import load_config

        config = load_config(args.config)
    table = build_two_task_table(results, tasks, args.blocks, repeat_seeds, config, branches, repeat_pairs)
    write_csv(table, args.out)
    print(f"{args.out}: {len(table)} rows ({len(tasks)} tasks, {args.blocks} blocks)")
    return 0


def results_of(files: Sequence[str], tasks: Sequence[str], num_blocks: int, repeat_seeds: Sequence[int],
               branches: Sequence[int] | None = None, repeat_pairs: bool = True) -> Path:
    """The results folder of ``--metrics``, checked to hold exactly the runs the table reads."""
    trees = {ResultsTree.of_training_run(path) for path in files}
    if len(trees) != 1:
        raise TreeMTLError(f"--metrics: files from {len(trees)} results folders "
                           f"({', '.join(sorted(str(t.root) for t in trees))}); expected one")
    tree = trees.pop()
    needed = tree.two_task_metrics(tasks, num_blocks, repeat_seeds, branches, repeat_pairs)
    given = {Path(path) for path in files}
    missing = [str(path) for path in needed if path not in given]
    if missing:
        raise TreeMTLError(f"--metrics: {len(missing)} run(s) of the table not given, e.g. {missing[0]}")
    extra = sorted(str(path) for path in given.difference(needed))
    if extra:
        raise TreeMTLError(f"--metrics: {extra[0]} is not a run of a table of {', '.join(tasks)} "
                           f"with {num_blocks} blocks and repeat seeds {list(repeat_seeds)}")
    return tree.root
