"""``treemtl report``: recommendation tables and figures of a finished run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="recommendation tables (Markdown/CSV/LaTeX) and figures of a results folder",
        description="Read RESULTS (performance_table.csv, recommend/budget<x>.csv, single/, final/) and write "
        "recommendations.{md,csv,tex}, summary.md, layouts.png and score_vs_flops.png into OUT.",
    )
    parser.add_argument("--config", required=True, help="experiment config (the resolved one of the run)")
    parser.add_argument("--results", required=True, help="results folder, e.g. results/synthetic3")
    parser.add_argument("--out", default=None, help="output folder (default: RESULTS/report)")
    parser.add_argument("--print", dest="print_summary", action="store_true",
                        help="also print the compact summary table and the report path")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from treemtl.evaluation.report.recommendations import write_report
    from treemtl.results_tree import ResultsTree

    out = Path(args.out) if args.out else ResultsTree(Path(args.results)).report_dir
    files = write_report(args.config, args.results, out)
    if args.print_summary:
        sys.stdout.write(files.summary.read_text(encoding="utf-8"))
        sys.stdout.write(f"\nreport: {files.markdown}\n")
    else:
        print(f"wrote {files.markdown}, {files.csv}, {files.latex}, {files.layouts}, {files.score_vs_flops}")
    return 0
