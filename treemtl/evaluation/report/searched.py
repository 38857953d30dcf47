"""The searched baselines beside the recommended trees: accuracy, cost and the compute spent.

Rows: the references (single-task models, all-shared, independent), the recommender's top layout
within each budget (trained final model), Learning to Branch's tree (retrained) and AutoMTL's
operator-level model (post-trained). Columns as in the comparison tables — FLOPs/params change
against T independent backbones (heads excluded; AutoMTL's from fvcore on its derived model),
every metric, Δ per task and Δt — plus the compute each method spent, from the Snakemake
benchmark files: ``Search s`` (the recommender: every single- and two-task training; a searched
baseline: its search) and ``Retrain s`` (the model in the row), wall-clock seconds, and
``CPU s``, the CPU seconds of both. This is the cost comparison the paper argues from: a
recommendation reuses one set of two-task models for every budget, a search runs per budget.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from treemtl.errors import TreeMTLError
from treemtl.training.config import ExperimentConfig


def benchmark_seconds(paths: Iterable[Path]) -> tuple[float, float] | None:
    """(wall s, CPU s) summed over Snakemake benchmark files; None if any is missing."""
    wall = cpu = 0.0
    for path in paths:
        if not path.is_file():
            return None
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if not rows:
            raise TreeMTLError(f"{path}: empty benchmark file")
        try:
            wall += float(rows[-1]["s"])
            cpu += float(rows[-1].get("cpu_time") or 0.0)
        except (KeyError, ValueError) as error:
            raise TreeMTLError(f"{path}: not a Snakemake benchmark file ({error})") from None
    return wall, cpu


def _compute(search: tuple[float, float] | None, retrain: tuple[float, float] | None) -> dict[str, Any]:
    return {
        "Search s": None if search is None else round(search[0], 1),
        "Retrain s": None if retrain is None else round(retrain[0], 1),
        "CPU s": None if search is None or retrain is None else round(search[1] + retrain[1], 1),
    }


def searched_rows(config: ExperimentConfig, results: str | Path) -> list[dict[str, Any]]:
    """Every row of the table (see the module doc)."""
    from itertools import combinations

    from treemtl.evaluation.report.comparison import Context, model_row
    from treemtl.results_tree import budget_label, pair_name
    from treemtl.training.metrics_file import read_metrics

    ctx = Context(config, results)
    tree = ctx.tree
    tasks = list(config.tasks)
    empty = {"Search s": None, "Retrain s": None, "CPU s": None}
    rows = ctx.reference_rows(**empty)
    pairs = [pair_name(a, b) for a, b in combinations(tasks, 2)]
    recommender = [tree.benchmark(f"single/{t}") for t in tasks]
    recommender += [tree.benchmark(f"pairs/{p}/branch{k}") for p in pairs for k in range(1, config.backbone.blocks + 1)]
    search_cost = benchmark_seconds(recommender)
    for budget in config.recommend.budgets:
        for layout_id in ctx.top(1, budget):
            retrain = benchmark_seconds([tree.benchmark(f"final/{layout_id}")])
            rows.append(ctx.row(f"Ours ≤{budget_label(budget)} models #{layout_id}", layout_id,
                                **_compute(search_cost, retrain)))
    search = ctx.read_json(tree.learn_to_branch_search)
    if search is not None:
        trained = (read_metrics(tree.learn_to_branch_metrics, tasks), "learn-to-branch retrain") \
            if tree.learn_to_branch_metrics.is_file() else None
        compute = _compute(benchmark_seconds([tree.benchmark("baselines/learn_to_branch/search")]),
                           benchmark_seconds([tree.benchmark("baselines/learn_to_branch/retrain")]))
        rows.append(model_row(f"Learn-to-Branch #{search['id']}", int(search["id"]), ctx.table, ctx.tasks,
                              ctx.reference, trained, compute))
    cost = ctx.read_json(tree.automtl_cost)
    if tree.automtl_metrics.is_file() and cost is not None:
        from treemtl.evaluation.report.comparison import change_pct

        compute = _compute(benchmark_seconds([tree.benchmark("baselines/automtl/search")]),
                           benchmark_seconds([tree.benchmark("baselines/automtl/retrain")]))
        row = model_row("AutoMTL", None, ctx.table, ctx.tasks, ctx.reference,
                        (read_metrics(tree.automtl_metrics, tasks), "automtl post-train"), compute)
        row["Layout"] = "operator-level policy"
        row["FLOPs vs ind. (%)"] = change_pct(cost["flops_pct"])
        row["Params vs ind. (%)"] = change_pct(cost["params_pct"])
        rows.append(row)
    return rows


def write_searched_table(config: ExperimentConfig, results: str | Path, out: str | Path) -> list[Path]:
    """Write ``<out>.md``, ``<out>.csv`` and ``<out>.tex`` (``out`` is a stem or a ``.md`` path)."""
    from treemtl.evaluation.report.comparison import write_frame

    stem = Path(out)
    if stem.suffix in (".md", ".csv", ".tex"):
        stem = stem.with_suffix("")
    frame = pd.DataFrame(searched_rows(config, results))
    return write_frame(frame, stem, "Searched baselines (Learning to Branch, AutoMTL) beside the recommended trees")
