"""Paper-style comparison tables (seed 001, Tables 1-4) and figures from a results folder.

* Table 1 — the recommender's top-N layouts (no budget): FLOPs/params change vs independent
  models, every metric, Δ per task and Δt after training;
* Table 2 — the top-1 layout within each budget of the config;
* Table 3 — correlation of each method's ranking with the oracle (Pearson, as in the paper, plus
  Spearman and Kendall with bootstrap intervals), and the regret of trusting each ranking;
* Table 4 — ours vs What-to-Share vs Task-Grouping at the same budgets, and the searched baselines'
  retrained models (Learning to Branch per search, e.g. one per budget; AutoMTL), measured like
  every row with their FLOPs/params from their own cost files.

Every table carries the reference rows: the single-task models (absolute metrics, Δ = 0 by
definition), the all-shared layout and the independent layout.  A layout's trained metrics come
from the oracle (mean over seeds) when it was an oracle layout, else from the recommender's final
model (the ``oracle`` target trains one for every row that has neither); untrained rows show "-".
FLOPs/params are printed like the paper: change in % against T independent backbones (all-shared,
3 tasks = -66.67).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from treemtl.atomic import save_figure_atomic
from treemtl.evaluation.baselines.searched_results import AUTOMTL, LEARN_TO_BRANCH
from treemtl.training.config import ExperimentConfig
from treemtl.errors import TreeMTLError
from treemtl.results_tree import ResultsTree

SHORT_NAMES: dict[str, str] = {
    "segment_semantic": "seg",
    "depth_zbuffer": "depth",
    "normal": "normal",
    "keypoints2d": "keyp",
    "edge_texture": "edge",
}
METHOD_LABELS: dict[str, str] = {"ours": "Ours", "what_to_share": "What-to-Share", "task_grouping": "Task-Grouping"}


# --------------------------------------------------------------------------- rows
def short(task: str) -> str:
    return SHORT_NAMES.get(task, task)


def change_pct(pct_of_independent: float) -> float:
    """Paper convention: cost change vs independent models (33.33 % of them -> -66.67)."""
    return float(pct_of_independent) - 100.0


def model_row(
    label: str,
    layout_id: int | None,
    table: pd.DataFrame,
    tasks: Sequence[str],
    reference: Mapping[str, Mapping[str, float]],
    trained: tuple[Mapping[str, Mapping[str, float]], str] | None,
    extra: Mapping[str, Any] | None = None,
    config: ExperimentConfig | None = None,
) -> dict[str, Any]:
    """One table row: cost of the layout, its trained metrics, Δ per task (tasks of ``config``, or
    built-in) and Δt (None = unknown)."""
    from treemtl.core.relative_performance import relative_performance
    from treemtl.core.weighting import parse_weighting
    from treemtl.training.tasks import get_task

    row: dict[str, Any] = {"Model": label}
    row.update(extra or {})
    if layout_id is not None:
        entry = table.iloc[int(layout_id)]
        row["Layout"] = str(entry["layout"])
        row["FLOPs vs ind. (%)"] = change_pct(entry["flops_pct"])
        row["Params vs ind. (%)"] = change_pct(entry["params_pct"])
        row["Score"] = float(entry["score"])
    else:
        row.update({"Layout": None, "FLOPs vs ind. (%)": None, "Params vs ind. (%)": None, "Score": None})
    metrics = trained[0] if trained else None
    deltas = []
    for task in tasks:
        for metric in reference[task]:
            row[f"{short(task)} {metric}"] = None if metrics is None else float(metrics[task][metric])
        delta = (
            None
            if metrics is None
            else relative_performance(task, metrics[task], reference[task], get_task(task, config).directions, trained[1]).percent
        )
        row[f"Δ{short(task)}"] = delta
        deltas.append(delta)
    priorities = None if config is None else parse_weighting(config.estimator.weights).delta_weights(tasks)
    row["Δt"] = None if metrics is None else (
        float(np.mean(deltas)) if priorities is None else float(sum(priorities[t] * d for t, d in zip(tasks, deltas))))
    row["Source"] = trained[1] if trained else "not trained"
    return row


def costed_row(
    label: str,
    layout: str,
    cost: Mapping[str, float],
    tasks: Sequence[str],
    reference: Mapping[str, Mapping[str, float]],
    trained: tuple[Mapping[str, Mapping[str, float]], str],
    extra: Mapping[str, Any] | None = None,
    config: ExperimentConfig | None = None,
) -> dict[str, Any]:
    """A row of a model outside the performance table (a searched baseline's): like :func:`model_row`,
    with FLOPs/params from the model's own cost (``flops_pct``, ``params_pct``)."""
    row = model_row(label, None, pd.DataFrame(), tasks, reference, trained, extra, config)
    row.update({
        "Layout": layout,
        "FLOPs vs ind. (%)": change_pct(cost["flops_pct"]),
        "Params vs ind. (%)": change_pct(cost["params_pct"]),
    })
    return row


def single_row(tasks: Sequence[str], reference: Mapping[str, Mapping[str, float]], extra_keys: Sequence[str] = ()) -> dict[str, Any]:
    """The "Ind. models" row: the single-task references' absolute metrics."""
    row: dict[str, Any] = {"Model": "Ind. models"}
    row.update({key: None for key in extra_keys})
    row.update({"Layout": None, "FLOPs vs ind. (%)": None, "Params vs ind. (%)": None, "Score": None})
    for task in tasks:
        for metric, value in reference[task].items():
            row[f"{short(task)} {metric}"] = float(value)
        row[f"Δ{short(task)}"] = None
    row["Δt"] = None
    row["Source"] = "single-task models"
    return row


class Context:
    """What every table needs from one results folder, read once."""

    def __init__(self, config: ExperimentConfig, results: str | Path) -> None:
        from treemtl.evaluation.baselines.references import references
        from treemtl.evaluation.oracle import single_reference
        from treemtl.core.recommend import load_performance_table

        self.config = config
        self.results = Path(results)
        self.tree = ResultsTree(self.results)
        self.tasks = tuple(config.tasks)
        self.table = load_performance_table(self.tree.performance_table)
        if list(self.table["id"]) != list(range(len(self.table))):
            raise TreeMTLError(f"{self.tree.performance_table}: expected one row per layout id in id order")
        self.reference = single_reference(self.results, self.tasks)
        self.references = references(len(self.tasks), config.backbone.blocks)

    def trained(self, layout_id: int) -> tuple[dict[str, dict[str, float]], str] | None:
        from treemtl.evaluation.oracle import trained_metrics

        return trained_metrics(self.results, layout_id, self.config.oracle.seeds)

    def row(self, label: str, layout_id: int | None, **extra: Any) -> dict[str, Any]:
        trained = None if layout_id is None else self.trained(layout_id)
        return model_row(label, layout_id, self.table, self.tasks, self.reference, trained, extra, self.config)

    def reference_rows(self, **extra: Any) -> list[dict[str, Any]]:
        rows = [single_row(self.tasks, self.reference, list(extra))]
        for ref in self.references:
            rows.append(self.row(f"{ref.name} #{ref.layout_id}", ref.layout_id, **{k: None for k in extra}))
        return rows

    def top(self, n: int, budget: float | None = None) -> list[int]:
        from treemtl.core.cost import parse_budget
        from treemtl.core.recommend import top_k

        chosen = top_k(self.table, n, None if budget is None else parse_budget(f"{budget}models"))
        return [int(i) for i in chosen["id"]]

    def read_json(self, path: Path) -> dict[str, Any] | None:
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise TreeMTLError(f"{path}: not valid JSON ({error})") from error


# --------------------------------------------------------------------------- tables
def table1(ctx: Context, n: int = 5) -> pd.DataFrame:
    """Top-n recommended layouts without a budget, after training (paper Table 1)."""
    rows = ctx.reference_rows() + [ctx.row(f"#{i}", i) for i in ctx.top(n)]
    return pd.DataFrame(rows)


def table2(ctx: Context) -> pd.DataFrame:
    """Top-1 recommended layout within each budget (paper Table 2)."""
    rows = ctx.reference_rows(Budget=None)
    for budget in ctx.config.recommend.budgets:
        ids = ctx.top(1, budget)
        label = f"#{ids[0]}" if ids else "none fits"
        rows.append(ctx.row(label, ids[0] if ids else None, Budget=f"{budget:g} models"))
    return pd.DataFrame(rows)


def _interval(entry: Mapping[str, Any]) -> str | None:
    if entry.get("ci_low") is None or entry.get("ci_high") is None:
        return None
    return f"[{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


def table3(correlation: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Correlations with the oracle per method (paper Table 3) and regret per method and budget."""
    rows, regrets = [], []
    for name, result in correlation.get("methods", {}).items():
        row: dict[str, Any] = {"Method": METHOD_LABELS.get(name, name), "Layouts": int(result["layouts"])}
        for method in ("pearson", "spearman", "kendall"):
            entry = result["correlation"][method]
            row[method.capitalize()] = entry["value"]
            row[f"{method.capitalize()} 95% CI"] = _interval(entry)
        rows.append(row)
        for item in result.get("regret", []):
            regrets.append({
                "Method": METHOD_LABELS.get(name, name),
                "Budget": f"{item['budget']:g} models",
                "Candidates": int(item["candidates"]),
                "Best": None if item["best_id"] is None else f"#{item['best_id']}",
                "Best Δt": item["best_real"],
                "Top-1": None if item["top1_id"] is None else f"#{item['top1_id']}",
                "Top-1 Δt": item["top1_real"],
                "Regret@1": item["regret_top1"],
                f"Regret@{correlation.get('top_k', 5)}": item["regret_topk"],
            })
    return pd.DataFrame(rows), pd.DataFrame(regrets)


def table3_per_task(correlation: Mapping[str, Any]) -> pd.DataFrame:
    """Each task's estimate against its own real Δ (is a weak overall γ a weak estimate?)."""
    return pd.DataFrame([
        {"Task": task, **{method.capitalize(): values.get(method) for method in ("pearson", "spearman", "kendall")}}
        for task, values in correlation.get("per_task", {}).items()
    ])


def table3_weightings(correlation: Mapping[str, Any]) -> pd.DataFrame:
    """The recommender's ranking under each task weighting (same two-task table, same oracle)."""
    configured = correlation.get("weighting")
    rows = []
    for name, result in correlation.get("weightings", {}).items():
        row: dict[str, Any] = {
            "Weighting": name + (" (used)" if result.get("weighting") == configured else ""),
            "Weights": " / ".join(f"{short(t)} {w:.2f}" for t, w in result["weights"].items()),
        }
        for method in ("pearson", "spearman", "kendall"):
            row[method.capitalize()] = result["correlation"][method]["value"]
        for item in result.get("regret", []):
            row[f"Regret@1 ({item['budget']:g})"] = item["regret_top1"]
            row[f"Regret@{correlation.get('top_k', 5)} ({item['budget']:g})"] = item["regret_topk"]
        rows.append(row)
    return pd.DataFrame(rows)


def baseline_picks(ctx: Context) -> list[tuple[str, float, int | None, str]]:
    """(method, budget, layout id, note) for ours and each baseline whose output exists."""
    picks: list[tuple[str, float, int | None, str]] = []
    wts = ctx.read_json(ctx.tree.what_to_share_json)
    tg = ctx.read_json(ctx.tree.task_grouping_json)
    wts_by_budget = {float(c["budget"]): c for c in (wts or {}).get("choices", [])}
    tg_by_budget = {float(c["budget"]): c for c in (tg or {}).get("choices", [])}
    for budget in ctx.config.recommend.budgets:
        ids = ctx.top(1, budget)
        picks.append(("Ours", float(budget), ids[0] if ids else None, "top-1 predicted score"))
        if wts is not None:
            choice = wts_by_budget.get(float(budget), {})
            cost = choice.get("cost")
            picks.append(("What-to-Share", float(budget), choice.get("id"), "" if cost is None else f"dissimilarity {cost:.3f}"))
        if tg is not None:
            part = tg_by_budget.get(float(budget), {}).get("partition")
            note = "" if part is None else " + ".join("/".join(short(t) for t in g) for g in part["grouping"])
            picks.append(("Task-Grouping", float(budget), None if part is None else int(part["id"]), note))
    return picks


def searched_rows(ctx: Context) -> list[dict[str, Any]]:
    """The searched baselines' retrained models (Learning to Branch per search, AutoMTL) as measured rows.

    Each is one training with the recipe; its cost comes from its own cost file and its Δ from the
    same relative-performance function as every other row.
    """
    from treemtl.evaluation.baselines.searched_results import searched_models

    budgets = [float(b) for b in ctx.config.recommend.budgets]
    return [
        costed_row(model.label, model.layout, model.cost, ctx.tasks, ctx.reference, model.trained,
                   {"Method": model.method, "Budget": model.budget(budgets), "Choice": model.note}, ctx.config)
        for model in searched_models(ctx.config, ctx.tree)
    ]


def table4(ctx: Context) -> pd.DataFrame:
    """Ours vs the baselines at the config's budgets (paper Table 4), with the reference rows: the
    rankings' picks per budget, then the searched baselines' models."""
    rows = ctx.reference_rows(Method=None, Budget=None, Choice=None)
    for method, budget, layout_id, note in baseline_picks(ctx):
        label = "none fits" if layout_id is None else f"#{layout_id}"
        rows.append(ctx.row(label, layout_id, Method=method, Budget=f"{budget:g} models", Choice=note))
    rows += searched_rows(ctx)
    rows[0]["Method"], rows[0]["Model"] = rows[0]["Model"], None
    for row, ref in zip(rows[1:], ctx.references):
        row["Method"], row["Model"] = ref.name, f"#{ref.layout_id}"
    frame = pd.DataFrame(rows)
    first = ["Method", "Budget", "Model"]
    return frame[first + [c for c in frame.columns if c not in first]]


def needed_ids(ctx: Context, top: int = 5) -> list[int]:
    """Every layout the tables show (references, top-n, top-1 per budget, baseline picks)."""
    ids = {ref.layout_id for ref in ctx.references}
    ids.update(ctx.top(top))
    ids.update(i for _, _, i, _ in baseline_picks(ctx) if i is not None)
    return sorted(ids)


# --------------------------------------------------------------------------- formats and figures
def _formats(frame: pd.DataFrame) -> dict[str, str]:
    formats: dict[str, str] = {}
    for column in frame.columns:
        name = str(column)
        if name.startswith("Δ") or name.endswith("(%)") or name.startswith("Regret") or name.endswith("Δt"):
            formats[name] = "{:.2f}"
        elif name in ("Pearson", "Spearman", "Kendall"):
            formats[name] = "{:.3f}"
        elif name == "Score":
            formats[name] = "{:.3f}"
        elif name == "Models":
            formats[name] = "{:.2f}"
        elif name.endswith(" s"):
            formats[name] = "{:.1f}"
        elif " " in name and pd.api.types.is_numeric_dtype(frame[column]):
            formats[name] = "{:.4f}"
    return formats


def write_frame(frame: pd.DataFrame, stem: Path, title: str) -> list[Path]:
    """CSV + Markdown + LaTeX with the workflow's writers (Δ spelled out for LaTeX)."""
    from treemtl.evaluation.report.tables import write_latex, write_table

    formats = _formats(frame)
    paths = write_table(frame, stem, formats, title=title)
    latex = frame.rename(columns=lambda c: str(c).replace("Δ", "Delta "))
    latex_formats = {str(k).replace("Δ", "Delta "): v for k, v in formats.items()}
    paths.append(write_latex(latex, stem.with_suffix(".tex"), latex_formats, caption=title))
    return paths


def scatter_plot(
    x: Sequence[float],
    y: Sequence[float],
    labels: Sequence[str],
    path: str | Path,
    xlabel: str,
    title: str,
    errors: Sequence[float] | None = None,
    ylabel: str = "real Δt (%)",
) -> Path:
    """Predicted vs real scatter, each point labelled by its layout id (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    if errors is not None and any(e > 0 for e in errors):
        ax.errorbar(x, y, yerr=errors, fmt="o", ms=4, alpha=0.8, elinewidth=0.8, capsize=2)
    else:
        ax.scatter(x, y, s=18, alpha=0.8)
    for xi, yi, label in zip(x, y, labels):
        ax.annotate(label, (xi, yi), fontsize=6, xytext=(2, 2), textcoords="offset points")
    if len(x) >= 2 and np.ptp(np.asarray(x, dtype=float)) > 0:
        slope, intercept = np.polyfit(np.asarray(x, dtype=float), np.asarray(y, dtype=float), 1)
        xs = np.linspace(min(x), max(x), 2)
        ax.plot(xs, slope * xs + intercept, lw=1, color="grey", ls="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure_atomic(path, fig)


def _read_scores(path: Path) -> dict[int, float]:
    if not path.is_file():
        return {}
    frame = pd.read_csv(path).dropna(subset=["score"])
    return {int(i): float(s) for i, s in zip(frame["id"], frame["score"])}


def method_scatter(ctx: Context, correlation: Mapping[str, Any], out: Path) -> list[Path]:
    """One scatter per method of its score vs real Δt on the oracle layouts it scores."""
    points = {int(p["id"]): p for p in correlation.get("points", [])}
    sources = {
        "ours": {i: float(s) for i, s in zip(ctx.table["id"], ctx.table["score"])},
        "what_to_share": _read_scores(ctx.tree.what_to_share_csv),
        "task_grouping": _read_scores(ctx.tree.task_grouping_csv),
    }
    paths = []
    for name, scores in sources.items():
        ids = [i for i in sorted(points) if i in scores]
        if len(ids) < 2:
            continue
        label = METHOD_LABELS[name]
        xlabel = {"ours": "predicted score", "what_to_share": "-(dissimilarity cost)", "task_grouping": "higher-order approximation"}[name]
        paths.append(scatter_plot([scores[i] for i in ids], [points[i]["real"] for i in ids], [str(i) for i in ids],
                                  out / f"scatter_{name}.png", xlabel=f"{label}: {xlabel}",
                                  title=f"{label} vs oracle ({len(ids)} layouts)"))
    return paths


def cost_accuracy_plot(ctx: Context, correlation: Mapping[str, Any], out: Path) -> Path | None:
    """FLOPs change vs real Δt of the oracle layouts, with each method's picks highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    points = correlation.get("points", [])
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    ax.scatter([change_pct(p["flops_pct"]) for p in points], [p["real"] for p in points], s=14, color="lightgrey", label="oracle layouts")
    by_id = {int(p["id"]): p for p in points}
    markers = {"Ours": ("*", "tab:red"), "What-to-Share": ("s", "tab:blue"), "Task-Grouping": ("^", "tab:green"),
               LEARN_TO_BRANCH: ("D", "tab:purple"), AUTOMTL: ("P", "tab:orange")}
    seen: set[str] = set()
    for method, _budget, layout_id, _note in baseline_picks(ctx):
        if layout_id is None or layout_id not in by_id:
            continue
        marker, color = markers[method]
        p = by_id[layout_id]
        ax.scatter([change_pct(p["flops_pct"])], [p["real"]], marker=marker, s=90, color=color, alpha=0.8,
                   label=None if method in seen else method, edgecolors="black", linewidths=0.5)
        seen.add(method)
    for row in searched_rows(ctx):  # measured on their own models (one training each), not oracle layouts
        method = str(row["Method"])
        marker, color = markers[method]
        ax.scatter([row["FLOPs vs ind. (%)"]], [row["Δt"]], marker=marker, s=70, color=color, alpha=0.8,
                   label=None if method in seen else method, edgecolors="black", linewidths=0.5)
        ax.annotate(str(row["Budget"]), (row["FLOPs vs ind. (%)"], row["Δt"]), fontsize=6, xytext=(3, 3),
                    textcoords="offset points")
        seen.add(method)
    for ref in ctx.references:
        if ref.layout_id in by_id:
            p = by_id[ref.layout_id]
            ax.annotate(ref.name, (change_pct(p["flops_pct"]), p["real"]), fontsize=7, xytext=(3, -9), textcoords="offset points")
    ax.set_xlabel("FLOPs vs independent models (%)")
    ax.set_ylabel("real Δt (%)")
    ax.set_title(f"{ctx.config.experiment}: cost vs accuracy of the trained layouts", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure_atomic(out / "cost_vs_delta.png", fig)


def write_comparison(config: ExperimentConfig, results: str | Path, out: str | Path, top: int = 5) -> list[Path]:
    """Write Tables 1-4 (CSV/Markdown/LaTeX), the figures and an index ``comparison.md``."""
    from treemtl.atomic import write_text_atomic

    ctx = Context(config, results)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sections: list[tuple[str, pd.DataFrame]] = [
        (f"Table 1: top-{top} recommended layouts ({config.experiment})", table1(ctx, top)),
        (f"Table 2: top-1 recommended layout per budget ({config.experiment})", table2(ctx)),
    ]
    paths: list[Path] = []
    paths += write_frame(sections[0][1], out / "table1_top", sections[0][0])
    paths += write_frame(sections[1][1], out / "table2_budgets", sections[1][0])
    correlation = ctx.read_json(ctx.tree.oracle_correlation)
    if correlation is not None:
        corr, regrets = table3(correlation)
        title = f"Table 3: correlation with the oracle ranking ({correlation.get('trained', 0)} trained layouts)"
        paths += write_frame(corr, out / "table3_correlation", title)
        sections.append((title, corr))
        if not regrets.empty:
            rtitle = "Table 3b: regret of each ranking within each budget (Δt points)"
            paths += write_frame(regrets, out / "table3_regret", rtitle)
            sections.append((rtitle, regrets))
        per_task = table3_per_task(correlation)
        if not per_task.empty:
            ptitle = "Table 3c: the recommender's per-task estimates vs each task's real Δ"
            paths += write_frame(per_task, out / "table3_per_task", ptitle)
            sections.append((ptitle, per_task))
        weightings = table3_weightings(correlation)
        if not weightings.empty:
            wtitle = "Table 3d: the recommender's score under each task weighting (same two-task table and oracle)"
            paths += write_frame(weightings, out / "table3_weightings", wtitle)
            sections.append((wtitle, weightings))
        paths += method_scatter(ctx, correlation, out)
        figure = cost_accuracy_plot(ctx, correlation, out)
        if figure is not None:
            paths.append(figure)
    t4 = table4(ctx)
    t4_title = f"Table 4: comparison with the baselines at the same budgets ({config.experiment})"
    paths += write_frame(t4, out / "table4_baselines", t4_title)
    sections.append((t4_title, t4))
    from treemtl.evaluation.report.published import published_table

    published = published_table(ctx)
    if published is not None:
        p_title = f"Table 5: the paper's published comparison (published numbers, not measured) beside this run ({config.experiment})"
        paths += write_frame(published, out / "table5_published", p_title)
        sections.append((p_title, published))
    from treemtl.evaluation.report.tables import to_markdown

    index = [f"# Comparison report: {config.experiment}", "",
             "FLOPs/params: change vs independent models (%); Δ: relative performance vs single-task models (%).", ""]
    if correlation is not None and correlation.get("seed_spread", {}).get("mean_std") is not None:
        spread = correlation["seed_spread"]
        index += [f"Seed-to-seed spread of Δt over {spread['seeds']} seeds: mean std {spread['mean_std']:.2f}, "
                  f"max std {spread['max_std']:.2f} (#{spread['max_std_id']}).", ""]
    for title, frame in sections:
        index += [f"## {title}", "", to_markdown(frame, _formats(frame))]
    index += [f"![{p.stem}]({p.name})" for p in paths if p.suffix == ".png"]
    paths.append(write_text_atomic(out / "comparison.md", "\n".join(index) + "\n"))
    return paths
