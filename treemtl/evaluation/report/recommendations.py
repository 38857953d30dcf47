"""The paper's recommendation tables (Tables 1-2) from a results folder, plus its figures.

For every budget of the config: the recommended layouts (top-k by estimated score) with their
relative cost, the metrics measured after training them, the relative performance Δ of each
task against its single-task model and the mean Δt — preceded by the two reference rows,
independent models (the singles themselves: Δ = 0 by definition) and the all-shared model (#0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from treemtl.atomic import write_text_atomic
from treemtl.training.config import ExperimentConfig, load_config
from treemtl.errors import TreeMTLError
from treemtl.core.layout import Layout
from treemtl.results_tree import ResultsTree, budget_label
from treemtl.training.metrics_file import Metrics, read_metrics
from treemtl.evaluation.report.tables import to_markdown, write_csv, write_latex

ALL_SHARED_ID = 0


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise TreeMTLError(f"{path}: missing (run the workflow up to this file first)") from None
    except (OSError, ValueError) as error:
        raise TreeMTLError(f"{path}: not a readable CSV ({error})") from error


@dataclass
class RunResults:
    """Everything a report is made of, read from ``results/<experiment>/``."""

    config: ExperimentConfig
    performance: pd.DataFrame  # every layout's row; for a searched space, a sample with #0 and the independent one
    recommendations: dict[str, pd.DataFrame]
    singles: Metrics
    finals: dict[int, Metrics] = field(default_factory=dict)
    front: pd.DataFrame | None = None  # a searched space's exact front (None: the performance table's own)

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.config.tasks

    def layout_ids(self) -> list[int]:
        """Trained layouts: every budget's picks plus the all-shared reference, sorted."""
        ids = {ALL_SHARED_ID}
        for frame in self.recommendations.values():
            ids.update(int(i) for i in frame["id"])
        return sorted(ids)


def load_results(config: ExperimentConfig, results: str | Path) -> RunResults:
    """Read the performance table (or a searched space's score landscape), each budget's picks and
    the metrics of the trained models."""
    from treemtl.core.best_layouts import uses_search

    tree = ResultsTree(Path(results))
    searched = uses_search(len(config.tasks), config.backbone.blocks, config.recommend.search_above)
    scores = tree.score_landscape if searched else tree.performance_table
    performance = _read_csv(scores)
    for column in ("id", "layout", "score", "flops_pct", "params_pct", *(("kind",) if searched else ())):
        if column not in performance.columns:
            raise TreeMTLError(f"{scores}: missing column {column!r}")
    front = None
    if searched:
        kind = performance.pop("kind")
        front, performance = performance[kind == "front"], performance[kind == "sample"].reset_index(drop=True)
    recommendations = {
        budget_label(float(b)): _read_csv(tree.recommendation(float(b))) for b in config.recommend.budgets
    }
    singles: Metrics = {
        task: read_metrics(tree.single_metrics(task), [task])[task] for task in config.tasks
    }
    run = RunResults(config, performance, recommendations, singles, front=front)
    for layout_id in run.layout_ids():
        run.finals[layout_id] = read_metrics(tree.final_metrics(layout_id), config.tasks)
    return run


def metric_columns(tasks: Sequence[str], metrics: Metrics) -> list[tuple[str, str]]:
    """(task, metric) pairs in the order the single-task metrics list them."""
    return [(task, name) for task in tasks for name in metrics[task]]


def _deltas(tasks: Sequence[str], metrics: Metrics, singles: Metrics, config: ExperimentConfig) -> dict[str, float]:
    from treemtl.core.relative_performance import overall_relative_performance
    from treemtl.core.weighting import parse_weighting
    from treemtl.training.tasks import task_directions

    priorities = parse_weighting(config.estimator.weights).delta_weights(tasks)
    mean, per_task = overall_relative_performance(tasks, metrics, singles, task_directions(tasks, config),
                                                  weights=priorities)
    return {**{task: delta.percent for task, delta in per_task.items()}, "mean": mean}


def _row(
    run: RunResults, budget: str, rank: str, model: str, entry: Mapping[str, Any], metrics: Metrics
) -> dict[str, Any]:
    deltas = _deltas(run.tasks, metrics, run.singles, run.config)
    row: dict[str, Any] = {
        "budget": budget,
        "rank": rank,
        "model": model,
        "layout": entry["layout"],
        "flops_pct": float(entry["flops_pct"]),
        "params_pct": float(entry["params_pct"]),
        "est_score": float(entry["score"]),
    }
    for task, name in metric_columns(run.tasks, run.singles):
        row[f"{task}.{name}"] = metrics[task].get(name, float("nan"))
    for task in run.tasks:
        row[f"delta_{task}"] = deltas[task]
    row["delta_t"] = deltas["mean"]
    return row


def recommendation_table(run: RunResults) -> pd.DataFrame:
    """One row per (budget, pick), each budget headed by the two reference rows."""
    by_id = run.performance.set_index("id", drop=False)
    independent_text = Layout.independent(len(run.tasks), run.config.backbone.blocks).format()
    matches = run.performance[run.performance["layout"] == independent_text]
    if len(matches) != 1:
        raise TreeMTLError(f"performance table: no row for the independent layout {independent_text}")
    independent = matches.iloc[0]
    rows: list[dict[str, Any]] = []
    for label, picks in run.recommendations.items():
        rows.append(_row(run, label, "-", f"Independent (#{int(independent['id'])})", independent, run.singles))
        rows.append(_row(run, label, "-", f"All-shared (#{ALL_SHARED_ID})", by_id.loc[ALL_SHARED_ID], run.finals[ALL_SHARED_ID]))
        for rank, (_, entry) in enumerate(picks.iterrows(), start=1):
            layout_id = int(entry["id"])
            rows.append(_row(run, label, str(rank), f"#{layout_id}", entry, run.finals[layout_id]))
    return pd.DataFrame(rows)


def _formats(frame: pd.DataFrame) -> dict[str, str]:
    formats = {c: "{:.4f}" for c in frame.columns if "." in c}
    formats.update({c: "{:.2f}" for c in frame.columns if c.startswith("delta_") or c.endswith("_pct") or c == "est_score"})
    return formats


def _display(frame: pd.DataFrame, run: RunResults) -> pd.DataFrame:
    """Column headers for people: arrows for the better direction, as in the paper."""
    from treemtl.training.tasks import get_task

    names = {"flops_pct": "FLOPs % ↓", "params_pct": "Params % ↓", "est_score": "est. score", "delta_t": "Δt ↑"}
    for task in run.tasks:
        spec = get_task(task, run.config)
        for metric in spec.metrics:
            names[f"{task}.{metric.name}"] = f"{task} {metric.name} {'↑' if metric.higher_is_better else '↓'}"
        names[f"delta_{task}"] = f"Δ {task} ↑"
    return frame.rename(columns=names)


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """The compact view printed at the end of a run: picks only, cost, estimate and measured Δt."""
    picks = table[table["rank"] != "-"]
    return picks[["budget", "rank", "model", "layout", "flops_pct", "params_pct", "est_score", "delta_t"]].rename(
        columns={"flops_pct": "FLOPs %", "params_pct": "Params %", "est_score": "est. score", "delta_t": "Δt (measured)"}
    )


def summary_markdown(run: RunResults, table: pd.DataFrame) -> str:
    """The summary as Markdown; a budget no layout fits gets a line with the cheapest layout's cost."""
    from treemtl.core.cost import LayoutCosts, parse_budget

    summary = summary_table(table)
    parts = [to_markdown(summary, {"FLOPs %": "{:.1f}", "Params %": "{:.1f}", "est. score": "{:.2f}",
                                   "Δt (measured)": "{:+.2f}"})] if len(summary) else []
    # Costs in % of T independent backbones, where one backbone is 100/T: budgets in models apply as is.
    one_backbone = 100.0 / len(run.tasks)
    relative = LayoutCosts(run.performance["flops_pct"].to_numpy(), run.performance["params_pct"].to_numpy(),
                           one_backbone, one_backbone, len(run.tasks))
    parts.extend(f"{parse_budget(label).nothing_fits(relative)}\n"
                 for label, picks in run.recommendations.items() if len(picks) == 0)
    return "\n".join(parts)


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by :func:`write_report`."""

    markdown: Path
    csv: Path
    latex: Path
    summary: Path
    layouts: Path
    score_vs_flops: Path


def write_report(config_path: str | Path, results: str | Path, out: str | Path) -> ReportFiles:
    """Tables (Markdown, CSV, LaTeX), the compact summary and the two figures of a run."""
    from treemtl.core.layout import count_chains
    from treemtl.core.recommend import pareto_front
    from treemtl.evaluation.report.plots import plot_layouts, plot_score_vs_flops

    config = load_config(config_path)
    run = load_results(config, results)
    out = Path(out)
    table = recommendation_table(run)
    formats = _formats(table)
    shown = _display(table, run)
    shown_formats = {_display(pd.DataFrame(columns=[c]), run).columns[0]: f for c, f in formats.items()}

    csv_path = write_csv(table, out / "recommendations.csv")
    latex_path = write_latex(shown, out / "recommendations.tex", shown_formats,
                             caption=f"Recommended layouts of {config.experiment}")
    sections = [
        f"# Recommended layouts: {config.experiment}\n",
        f"Tasks: {', '.join(config.tasks)}; backbone {config.backbone.name}, {config.backbone.blocks} blocks. "
        "FLOPs and params in % of independent models (one backbone per task); Δ in % against the "
        "single-task models (positive = better); est. score = the recommender's estimate.\n",
    ]
    for label in run.recommendations:
        part = shown[table["budget"] == label].drop(columns=["budget"])
        sections.append(f"## Budget: {label} backbone model(s) of FLOPs\n\n{to_markdown(part, shown_formats)}")
    sections.append("![layouts](layouts.png)\n\n![score vs FLOPs](score_vs_flops.png)\n")
    markdown_path = write_text_atomic(out / "recommendations.md", "\n".join(sections))
    summary_path = write_text_atomic(out / "summary.md", summary_markdown(run, table))

    named = pd.concat([run.performance, *(frame for frame in run.recommendations.values() if len(frame))])
    by_id = named.drop_duplicates("id").set_index("id", drop=False)
    drawn = [
        (f"#{i}{' (all-shared)' if i == ALL_SHARED_ID else ''}, FLOPs {by_id.loc[i, 'flops_pct']:.1f}%",
         Layout.parse(str(by_id.loc[i, "layout"])))
        for i in run.layout_ids()
    ]
    layouts_path = plot_layouts(drawn, config.tasks, out / "layouts.png")
    scale = 100.0 / len(config.tasks)
    picks = {f"{label} model(s)": frame for label, frame in run.recommendations.items()}
    limits = {f"{label} model(s)": float(label) * scale for label in run.recommendations}
    if run.front is None:
        front, cloud = pareto_front(run.performance, "flops"), f"all layouts ({len(run.performance)})"
    else:
        size = count_chains(len(config.tasks), config.backbone.blocks)
        front, cloud = run.front, f"random sample ({len(run.performance):,} of {size:,} layouts)"
    pareto_path = plot_score_vs_flops(
        run.performance, front, picks, limits, out / "score_vs_flops.png",
        title=f"{config.experiment}: estimated score vs FLOPs", cloud=cloud,
    )
    return ReportFiles(markdown_path, csv_path, latex_path, summary_path, layouts_path, pareto_path)
