"""The searched baselines beside the recommended trees: accuracy, cost and the compute spent.

Rows: the references (independent = the single-task models, all-shared), every trained pick of
the recommender within each budget (``recommend/budget<x>.csv``, in rank order, with its final
model), Learning to Branch's tree of each search (retrained; with ``baselines.learn_to_branch.budget:
recommend`` one search per budget) and AutoMTL's operator-level model (post-trained).
Columns as in the comparison tables — FLOPs/params change against T independent backbones (heads
excluded; AutoMTL's from fvcore on its derived model), ``Models`` (backbones' worth of FLOPs, the
unit of the budgets), ``Budget`` (a pick's budget; the FLOPs target of a search, or without one the
smallest configured budget the model fits), every metric, Δ per task and Δt — plus the compute each
method spent, from the Snakemake benchmark files:
``Search s`` (the recommender: every single- and two-task training of its table; a searched
baseline: its search) and ``Retrain s`` (the model in the row), wall-clock seconds, and ``CPU s``,
the CPU seconds of both. This is the cost comparison the paper argues from: a recommendation reuses
one set of two-task models for every budget, a search runs per budget.

Only the recommendation files are read, never the performance table, so a searched design space
(no table) gets the same comparison. Every trained row comes from one training run with the
experiment's recipe, so the recommender and the searched baselines are compared like for like.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from treemtl.errors import TreeMTLError
from treemtl.results_tree import ResultsTree, budget_label
from treemtl.training.config import ExperimentConfig



@dataclass(frozen=True)
class Seconds:
    """Wall-clock and CPU seconds of one or more jobs."""

    wall: float
    cpu: float

    def __add__(self, other: Seconds) -> Seconds:
        return Seconds(self.wall + other.wall, self.cpu + other.cpu)


def benchmark_seconds(paths: Iterable[str | Path]) -> Seconds:
    """Seconds summed over Snakemake benchmark files (the last row of each: its latest run)."""
    total = Seconds(0.0, 0.0)
    for path in map(Path, paths):
        try:
            with path.open(newline="") as handle:
                rows = list(csv.DictReader(handle, delimiter="\t"))
        except FileNotFoundError:
            raise TreeMTLError(f"{path}: benchmark file not found (Snakemake writes it when the job runs)") from None
        if not rows:
            raise TreeMTLError(f"{path}: empty benchmark file")
        try:
            total += Seconds(float(rows[-1]["s"]), float(rows[-1].get("cpu_time") or 0.0))
        except (KeyError, TypeError, ValueError) as error:
            raise TreeMTLError(f"{path}: not a Snakemake benchmark file ({error})") from None
    return total


def _compute(search: Seconds | None, retrain: Seconds) -> dict[str, Any]:
    spent = retrain if search is None else search + retrain
    return {
        "Search s": None if search is None else round(search.wall, 1),
        "Retrain s": round(retrain.wall, 1),
        "CPU s": round(spent.cpu, 1),
    }


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        raise TreeMTLError(f"{path}: not found (run the recommend step first)") from None


class _Rows:
    """Builds the rows against one set of single-task references."""

    def __init__(self, config: ExperimentConfig, tree: ResultsTree) -> None:
        from treemtl.evaluation.oracle import single_reference

        self.config = config
        self.tree = tree
        self.tasks = tuple(config.tasks)
        self.reference = single_reference(tree.root, self.tasks)

    def row(self, method: str, budget: str | None, label: str, layout: str | None, cost: Mapping[str, float],
            trained: tuple[Mapping[str, Mapping[str, float]], str], compute: Mapping[str, Any],
            score: float | None = None) -> dict[str, Any]:
        from treemtl.evaluation.report.comparison import costed_row

        row = costed_row(label, layout, cost, self.tasks, self.reference, trained,
                         {"Method": method, "Budget": budget}, self.config)
        row.update({"Models": float(cost["flops_pct"]) * len(self.tasks) / 100.0, "Score": score})
        row.update(compute)
        return row

    def final(self, layout_id: int) -> tuple[dict[str, dict[str, float]], str]:
        from treemtl.training.metrics_file import read_metrics

        return read_metrics(self.tree.final_metrics(layout_id), self.tasks), "final"


def searched_rows(config: ExperimentConfig, results: str | Path,
                  recommender_benchmarks: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Every row of the table (see the module doc).

    ``recommender_benchmarks``: the benchmark files of every run the recommender's two-task table
    needs (singles and pairs, with their repeats), its ``Search s``.
    """
    from treemtl.evaluation.baselines.references import references

    tree = ResultsTree(Path(results))
    rows = _Rows(config, tree)
    num_tasks = len(rows.tasks)
    budgets = [float(b) for b in config.recommend.budgets]
    shared, independent = references(num_tasks, config.backbone.blocks)
    table: list[dict[str, Any]] = [
        rows.row(independent.name, None, f"#{independent.layout_id}", independent.layout.format(),
                 {"flops_pct": 100.0, "params_pct": 100.0}, (rows.reference, "single-task models"),
                 _compute(None, benchmark_seconds(tree.benchmark(f"single/{t}") for t in rows.tasks))),
        rows.row(shared.name, None, f"#{shared.layout_id}", shared.layout.format(),
                 {"flops_pct": 100.0 / num_tasks, "params_pct": 100.0 / num_tasks}, rows.final(shared.layout_id),
                 _compute(None, benchmark_seconds([tree.benchmark(f"final/{shared.layout_id}")]))),
    ]
    search = benchmark_seconds(recommender_benchmarks)
    for budget in budgets:
        for rank, pick in enumerate(_read_csv(tree.recommendation(budget)), start=1):
            layout_id = int(pick["id"])
            table.append(rows.row("Ours", f"{budget:g} models", f"#{layout_id} (rank {rank})", pick["layout"], pick,
                                  rows.final(layout_id),
                                  _compute(search, benchmark_seconds([tree.benchmark(f"final/{layout_id}")])),
                                  score=float(pick["score"])))
    table += _searched(rows, budgets)
    return table


def _searched(rows: _Rows, budgets: Sequence[float]) -> list[dict[str, Any]]:
    """The rows of the searched baselines whose retraining has finished (Learning to Branch: one per search)."""
    from treemtl.evaluation.baselines.searched_results import searched_models

    return [rows.row(model.method, model.budget(budgets), model.label, model.layout, model.cost, model.trained,
                     _compute(*(benchmark_seconds([path]) for path in model.benchmarks)))
            for model in searched_models(rows.config, rows.tree)]


def cost_delta_plot(frame: pd.DataFrame, path: str | Path, title: str) -> Path:
    """FLOPs change vs trained Δt of every row: the references, each recommender pick, each searched model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from treemtl.atomic import save_figure_atomic

    markers = {"Ours": ("*", "tab:red"), "Learn-to-Branch": ("s", "tab:blue"), "AutoMTL": ("^", "tab:green")}
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    for method, group in frame.groupby("Method", sort=False, dropna=False):
        marker, color = markers.get(str(method), ("o", "grey"))
        label = str(method) if method in markers else "references"
        ax.scatter(group["FLOPs vs ind. (%)"], group["Δt"], marker=marker, s=90 if method in markers else 30,
                   color=color, edgecolors="black", linewidths=0.5, alpha=0.85, label=label)
    for _, row in frame.iterrows():
        name = row["Model"] if row["Method"] == "Ours" else row["Method"]
        if row["Method"] == "Learn-to-Branch":
            name = f"{name} ({row['Budget']})"
        ax.annotate(str(name), (row["FLOPs vs ind. (%)"], row["Δt"]), fontsize=6, xytext=(3, 3),
                    textcoords="offset points")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=7)
    ax.set_xlabel("FLOPs vs independent models (%)")
    ax.set_ylabel("trained Δt (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure_atomic(path, fig)


def write_searched_table(config: ExperimentConfig, results: str | Path, out: str | Path,
                         recommender_benchmarks: Sequence[str | Path]) -> list[Path]:
    """Write ``<out>.md``, ``.csv``, ``.tex`` and the cost-vs-Δt figure ``.png`` (``out``: a stem or a ``.md`` path)."""
    from treemtl.evaluation.report.comparison import write_frame

    stem = Path(out)
    if stem.suffix in (".md", ".csv", ".tex", ".png"):
        stem = stem.with_suffix("")
    frame = pd.DataFrame(searched_rows(config, results, recommender_benchmarks))
    first = ["Method", "Budget", "Model", "Layout", "Models"]
    frame = frame[first + [c for c in frame.columns if c not in first]]
    paths = write_frame(frame, stem, f"Searched baselines (Learning to Branch, AutoMTL) beside the recommended trees "
                                     f"({config.experiment})")
    paths.append(cost_delta_plot(frame, stem.with_suffix(".png"),
                                 f"{config.experiment}: cost vs trained Δt, recommended and searched"))
    return paths
