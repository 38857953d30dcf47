"""Figures of a recommendation run: layouts drawn as trees and score against FLOPs.

Matplotlib with the non-interactive Agg backend, so figures render on servers and in CI.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from treemtl.atomic import save_figure_atomic  # noqa: E402
from treemtl.core.layout import Layout  # noqa: E402

_TASK_COLORS = plt.get_cmap("tab10")


def _task_y(num_tasks: int) -> np.ndarray:
    """Vertical position of each task's head: task 0 on top."""
    return np.arange(num_tasks, dtype=float)[::-1]


def draw_layout(ax: Axes, layout: Layout, task_names: Sequence[str], title: str | None = None) -> None:
    """Draw ``layout`` left to right: input, one column per block (a node per copy), heads.

    A node sits at the mean height of the tasks it serves, so shared trunks stay central and
    branches fan out towards their tasks; edges follow the refinement of each block's groups.
    """
    task_y = _task_y(layout.num_tasks)
    num_blocks = layout.num_blocks
    previous: dict[int, tuple[float, float]] = {task: (0.0, float(task_y.mean())) for task in range(layout.num_tasks)}
    ax.scatter([0.0], [task_y.mean()], s=60, marker="s", color="0.3", zorder=3)
    for block, partition in enumerate(layout.blocks, start=1):
        current: dict[int, tuple[float, float]] = {}
        for group in partition:
            y = float(task_y[list(group)].mean())
            parent = previous[group[0]]
            ax.plot([parent[0], block], [parent[1], y], color="0.45", linewidth=1.5, zorder=1)
            color = _TASK_COLORS(group[0] % 10) if len(group) == 1 else "0.2"
            ax.scatter([block], [y], s=40 + 25 * len(group), color=color, zorder=3)
            for task in group:
                current[task] = (float(block), y)
        previous = current
    for task, name in enumerate(task_names):
        x, y = previous[task]
        head_y = float(task_y[task])
        ax.plot([x, num_blocks + 0.8], [y, head_y], color=_TASK_COLORS(task % 10), linewidth=1.5, zorder=1)
        ax.text(num_blocks + 0.9, head_y, name, va="center", ha="left", fontsize=8, color=_TASK_COLORS(task % 10))
    ax.set_xlim(-0.3, num_blocks + 3.2)
    ax.set_ylim(-0.6, layout.num_tasks - 0.4)
    ax.set_xticks(range(num_blocks + 1), ["in", *(str(b) for b in range(1, num_blocks + 1))], fontsize=7)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)


def plot_layouts(
    layouts: Sequence[tuple[str, Layout]],
    task_names: Sequence[str],
    path: str | Path,
    columns: int = 3,
) -> Path:
    """Grid of trees, one panel per ``(title, layout)``; written as PNG."""
    if not layouts:
        raise ValueError("no layouts to draw")
    columns = max(1, min(columns, len(layouts)))
    rows = math.ceil(len(layouts) / columns)
    height = 0.55 * len(task_names) + 1.0
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, height * rows), squeeze=False)
    for ax, (title, layout) in zip(axes.flat, layouts):
        draw_layout(ax, layout, task_names, title)
    for ax in list(axes.flat)[len(layouts):]:
        ax.axis("off")
    fig.tight_layout()
    return save_figure_atomic(path, fig)


def plot_score_vs_flops(
    table: pd.DataFrame,
    front: pd.DataFrame,
    picks: Mapping[str, pd.DataFrame],
    budgets_pct: Mapping[str, float],
    path: str | Path,
    title: str | None = None,
    cloud: str | None = None,
) -> Path:
    """Layouts' estimated score against FLOPs (%), the Pareto front and the picks per budget.

    ``table`` is every layout (or, for a searched space, a sample: ``cloud`` names it in the
    legend); ``picks`` maps a budget label to its recommended rows (``id``, ``flops_pct``,
    ``score``), ``budgets_pct`` the label to its FLOPs limit in % of independent models (drawn as
    a dashed line).
    """
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    ax.scatter(table["flops_pct"], table["score"], s=8, color="0.7", label=cloud or f"all layouts ({len(table)})",
               zorder=1)
    # the best score reachable at each cost: a step up at every front point, flat to the right end
    front_x = [*front["flops_pct"], float(table["flops_pct"].max())]
    front_y = [*front["score"], float(front["score"].iloc[-1])]
    ax.step(front_x, front_y, where="post", color="tab:blue", linewidth=1.5, zorder=2)
    ax.scatter(front["flops_pct"], front["score"], s=16, color="tab:blue", label="Pareto front", zorder=2)
    markers = "o^sDvP*X"
    labelled: set[int] = set()
    for index, (label, rows) in enumerate(picks.items()):
        chosen = rows.set_index("id")
        color = plt.get_cmap("tab10")((index + 1) % 10)
        ax.scatter(chosen["flops_pct"], chosen["score"], s=70, facecolors="none", edgecolors=[color],
                   linewidths=1.6, marker=markers[index % len(markers)], label=f"top-{len(rows)} within {label}", zorder=3)
        if label in budgets_pct:
            ax.axvline(budgets_pct[label], color=color, linestyle="--", linewidth=1.0, zorder=0)
        for layout_id, row in chosen.iterrows():
            if layout_id in labelled:
                continue
            labelled.add(layout_id)
            ax.annotate(f"#{layout_id}", (row["flops_pct"], row["score"]), textcoords="offset points",
                        xytext=(5, 5), fontsize=8)
    ax.set_xlabel("FLOPs (% of independent models)")
    ax.set_ylabel("estimated score (%)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save_figure_atomic(path, fig)
