"""``treemtl oracle``: which layouts to train as ground truth, and how well rankings match it.

* ``oracle sample``    — the layout ids to train (every layout, or a seeded stratified sample that
  always holds the all-shared and independent layouts);
* ``oracle correlate`` — real Δt of the trained layouts (mean over oracle seeds) against the
  recommender's score, and against the baselines' scores when given: Pearson / Spearman /
  Kendall with bootstrap intervals, regret per budget, seed spread, and a scatter plot.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from treemtl.atomic import write_json_atomic, write_text_atomic
from treemtl.cli import read_ids
from treemtl.training.config import ExperimentConfig, load_config
from treemtl.errors import TreeMTLError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("oracle", help="sample oracle layouts; correlate rankings with trained results")
    commands = parser.add_subparsers(dest="oracle_command", required=True, parser_class=type(parser))

    sample = commands.add_parser("sample", help="write the layout ids the oracle trains")
    sample.add_argument("--config", required=True, help="experiment config YAML (oracle.sample, seed, tasks, blocks)")
    sample.add_argument("--profile", default=None, help="blocks.json (per-block FLOPs for the cost strata; default: uniform blocks)")
    sample.add_argument("--bins", type=int, default=3, help="relative-FLOPs quantile bins per stratum (default 3)")
    sample.add_argument("--out", required=True, help="output CSV (id, layout, groups, flops_pct, stratum)")
    sample.set_defaults(func=run_sample)

    corr = commands.add_parser("correlate", help="correlation and regret of predicted rankings vs the oracle")
    corr.add_argument("--config", required=True, help="experiment config YAML")
    corr.add_argument("--results", required=True, help="results folder (single/, oracle/layouts/)")
    corr.add_argument("--sample", required=True, help="oracle/sample.csv written by `oracle sample`")
    corr.add_argument("--performance-table", required=True, help="performance_table.csv (the recommender's score)")
    corr.add_argument("--table", default=None, help="two-task table of the performance table: adds the ranking "
                      "under each task weighting (svde, equal, the config's priorities) side by side")
    corr.add_argument("--what-to-share", default=None, help="baselines/what_to_share.csv (adds the What-to-Share ranking)")
    corr.add_argument("--task-grouping", default=None, help="baselines/task_grouping.csv (adds the Task-Grouping ranking)")
    corr.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000; 0 = no intervals)")
    corr.add_argument("--top-k", type=int, default=5, help="k of the top-k regret (default 5)")
    corr.add_argument("--allow-missing", action="store_true", help="use the oracle runs that exist instead of failing")
    corr.add_argument("--out", required=True, help="correlation.json")
    corr.add_argument("--scatter", default=None, help="scatter plot PNG of predicted score vs real Δt")
    corr.set_defaults(func=run_correlate)


# --------------------------------------------------------------------------- sample
def run_sample(args: argparse.Namespace) -> int:
    from treemtl.evaluation.baselines.references import reference_ids
    from treemtl.core.cost import BlockProfile, layout_costs
    from treemtl.core.layout import layout_space
    from treemtl.evaluation.oracle import layout_strata, stratified_sample

    config = load_config(args.config)
    num_tasks, num_blocks = len(config.tasks), config.backbone.blocks
    profile = BlockProfile.for_blocks(args.profile, num_blocks)
    space = layout_space(num_tasks, num_blocks)
    copies = space.copies()
    flops_pct = layout_costs(copies, profile, num_tasks).flops_pct
    strata = layout_strata(copies[:, -1].tolist(), flops_pct.tolist(), flops_bins=args.bins)
    ids = stratified_sample(strata, config.oracle.sample, config.seed, always=reference_ids(num_tasks, num_blocks))
    texts = space.texts()
    frame = pd.DataFrame({
        "id": ids,
        "layout": [texts[i] for i in ids],
        "groups": [strata[i][0] for i in ids],
        "flops_pct": [float(flops_pct[i]) for i in ids],
        "stratum": [f"g{strata[i][0]}f{strata[i][1]}" for i in ids],
    })
    write_text_atomic(args.out, frame.to_csv(index=False))
    print(f"oracle sample: {len(ids)} of {len(space)} layouts -> {args.out}")
    return 0


def read_sample(path: str | Path) -> list[int]:
    """Layout ids of an ``oracle sample`` CSV."""
    return read_ids(path, "oracle sample")


def read_scores(path: str | Path, column: str = "score") -> dict[int, float]:
    """id -> score of a ranking CSV (higher = better); rows with an empty score are skipped."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as error:
        raise TreeMTLError(f"{path}: ranking file not found") from error
    if "id" not in frame.columns or column not in frame.columns:
        raise TreeMTLError(f"{path}: expected columns 'id' and '{column}', got {list(frame.columns)}")
    frame = frame.dropna(subset=[column])
    return {int(i): float(s) for i, s in zip(frame["id"], frame[column])}


# --------------------------------------------------------------------------- correlate
def real_results(config: ExperimentConfig, results: str | Path, ids: Sequence[int], allow_missing: bool) -> tuple[dict[int, dict[int, float]], dict[int, dict[str, float]]]:
    """Per (layout, seed) real Δt and per-layout per-task Δ (mean over seeds) of the oracle runs."""
    from treemtl.core.relative_performance import overall_relative_performance
    from treemtl.core.weighting import parse_weighting
    from treemtl.evaluation.oracle import oracle_runs, single_reference
    from treemtl.results_tree import ResultsTree
    from treemtl.training.tasks import task_directions

    tree = ResultsTree(Path(results))
    reference = single_reference(results, config.tasks)
    runs = oracle_runs(results, ids, config.oracle.seeds, allow_missing=allow_missing)
    per_seed: dict[int, dict[int, float]] = {}
    per_task: dict[int, dict[str, float]] = {}
    directions = task_directions(config.tasks, config)
    priorities = parse_weighting(config.estimator.weights).delta_weights(config.tasks)
    for layout, seeds in runs.items():
        tasks_sum: dict[str, list[float]] = {}
        for seed, metrics in seeds.items():
            source = str(tree.oracle_metrics(layout, seed))
            total, by_task = overall_relative_performance(config.tasks, metrics, reference, directions, source,
                                                          weights=priorities)
            per_seed.setdefault(layout, {})[seed] = total
            for task, delta in by_task.items():
                tasks_sum.setdefault(task, []).append(delta.percent)
        per_task[layout] = {t: float(np.mean(v)) for t, v in tasks_sum.items()}
    return per_seed, per_task


def run_correlate(args: argparse.Namespace) -> int:
    from treemtl.core.cost import parse_budget
    from treemtl.evaluation.oracle import per_task_agreement, real_deltas, seed_spread
    from treemtl.evaluation.weighting_comparison import ranking_quality
    from treemtl.core.recommend import costs_of, load_performance_table

    config = load_config(args.config)
    ids = read_sample(args.sample)
    table = load_performance_table(args.performance_table)
    if list(table["id"]) != list(range(len(table))):
        raise TreeMTLError(f"{args.performance_table}: expected one row per layout id in id order")
    absent = [f"est_{task}" for task in config.tasks if f"est_{task}" not in table.columns]
    if absent:
        raise TreeMTLError(f"{args.performance_table}: no column {', '.join(absent)} for the config's tasks")
    per_seed, per_task = real_results(config, args.results, ids, args.allow_missing)
    if len(per_seed) < 3:
        raise TreeMTLError(f"{args.results}: only {len(per_seed)} oracle layouts trained; need at least 3 to correlate")
    real = real_deltas(per_seed)
    costs = costs_of(table)
    masks = {float(b): parse_budget(f"{b}models").mask(costs) for b in config.recommend.budgets}
    methods: dict[str, dict[int, float]] = {"ours": {int(i): float(s) for i, s in zip(table["id"], table["score"])}}
    if args.what_to_share:
        methods["what_to_share"] = read_scores(args.what_to_share)
    if args.task_grouping:
        methods["task_grouping"] = read_scores(args.task_grouping)
    evaluations = {
        name: {"method": name, **ranking_quality(scores, real, masks, args.resamples, config.seed, args.top_k)}
        for name, scores in methods.items()
    }
    weightings = None
    if args.table:
        from treemtl.core.estimator import load_two_task_table
        from treemtl.core.weighting import compared_weightings, parse_weighting
        from treemtl.evaluation.weighting_comparison import compare_weightings

        two_task = load_two_task_table(args.table, config.tasks, config.backbone.blocks)
        estimates = table[[f"est_{task}" for task in config.tasks]].to_numpy(dtype=np.float64)
        weightings = compare_weightings(two_task, estimates, real, masks,
                                        compared_weightings(parse_weighting(config.estimator.weights)),
                                        args.resamples, config.seed, args.top_k)
    spread = seed_spread(per_seed)
    trained = sorted(real)
    agreement = per_task_agreement(
        {task: table[f"est_{task}"].iloc[trained].tolist() for task in config.tasks},
        {task: [per_task[i][task] for i in trained] for task in config.tasks},
    )
    texts = table["layout"].tolist()
    points = [
        {
            "id": i,
            "layout": texts[i],
            "predicted": methods["ours"][i],
            "real": real[i],
            "real_per_seed": {str(s): v for s, v in sorted(per_seed[i].items())},
            "real_per_task": per_task[i],
            "flops_pct": float(table["flops_pct"].iloc[i]),
            "params_pct": float(table["params_pct"].iloc[i]),
        }
        for i in trained
    ]
    report = {
        "experiment": config.experiment,
        "tasks": list(config.tasks),
        "seeds": list(config.oracle.seeds),
        "sampled": len(ids),
        "trained": len(real),
        "resamples": args.resamples,
        "confidence": 0.95,
        "top_k": args.top_k,
        "budgets": [float(b) for b in config.recommend.budgets],
        "real_delta": "mean over oracle seeds of the mean over tasks of the relative performance (%) vs single-task models",
        "seed_spread": {
            "layouts": spread.layouts,
            "seeds": spread.seeds,
            "mean_std": spread.mean_std,
            "max_std": spread.max_std,
            "max_std_id": spread.max_std_id,
        },
        "methods": evaluations,
        "weighting": config.estimator.weights,  # of "ours", and the priorities of the real Δt
        "per_task": agreement,
        "points": points,
    }
    if weightings is not None:
        report["weightings"] = weightings
    write_json_atomic(args.out, report)
    if args.scatter:
        from treemtl.evaluation.report.comparison import scatter_plot

        scatter_plot(
            [p["predicted"] for p in points],
            [p["real"] for p in points],
            [str(p["id"]) for p in points],
            args.scatter,
            xlabel="predicted score (recommender)",
            title=f"{config.experiment}: predicted vs real Δt ({len(points)} layouts)",
            errors=[float(np.std(list(p["real_per_seed"].values()), ddof=1)) if len(p["real_per_seed"]) > 1 else 0.0 for p in points],
        )
    ours = evaluations["ours"]["correlation"]
    summary = ", ".join(f"{m} {ours[m]['value']:.3f}" if ours[m]["value"] is not None else f"{m} n/a" for m in ours)
    print(f"oracle: {len(real)} layouts; ours: {summary} -> {args.out}")
    for name, entry in (weightings or {}).items():
        pearson = entry["correlation"]["pearson"]["value"]
        print(f"  weighting {name}: Pearson {'n/a' if pearson is None else f'{pearson:.3f}'}")
    for task, values in agreement.items():
        pearson = values["pearson"]
        print(f"  {task}: estimate vs real Δ, Pearson {'n/a' if pearson is None else f'{pearson:.3f}'}")
    return 0
