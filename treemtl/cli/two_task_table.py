"""``treemtl two-task-table``: tidy two-task table from a results folder's trained models."""

from __future__ import annotations

import argparse

from treemtl.errors import TreeMTLError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "two-task-table",
        help="relative performance of every two-task model vs its singles (tidy CSV)",
        description="Read RESULTS/single/<task>/metrics.json and RESULTS/pairs/<a>__<b>/branch<k>/metrics.json "
        "(k = 1..BLOCKS) and write task_a,task_b,branch,delta_a,delta_b (Δ in %, branch 0 = 0). "
        "With --repeat-seeds, metrics are averaged over the main run and <model folder>/seed<s>/.",
    )
    parser.add_argument("--results", required=True, help="results folder of the experiment")
    parser.add_argument("--tasks", required=True, help="comma-separated task names in config order")
    parser.add_argument("--blocks", type=int, required=True, help="number of blocks B")
    parser.add_argument("--repeat-seeds", default="", help="comma-separated extra seeds whose runs "
                        "(<model folder>/seed<s>/metrics.json) are averaged with the main run")
    parser.add_argument("--out", required=True, help="CSV to write (atomically)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from treemtl.evaluation.report.tables import write_csv
    from treemtl.evaluation.two_task_table import build_two_task_table

    tasks = [name.strip() for name in args.tasks.split(",")]
    if not all(tasks) or len(set(tasks)) != len(tasks):
        raise TreeMTLError(f"--tasks: expected distinct comma-separated names, got {args.tasks!r}")
    try:
        repeat_seeds = [int(seed) for seed in args.repeat_seeds.split(",") if seed.strip()]
    except ValueError:
        raise TreeMTLError(f"--repeat-seeds: expected comma-separated integers, got {args.repeat_seeds!r}") from None
    table = build_two_task_table(args.results, tasks, args.blocks, repeat_seeds)
    write_csv(table, args.out)
    print(f"{args.out}: {len(table)} rows ({len(tasks)} tasks, {args.blocks} blocks)")
    return 0
