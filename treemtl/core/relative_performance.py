"""Relative performance Δ of a task against its single-task reference (the paper's Δ, in %).

One function for every consumer (two-task table, training monitor, oracle, comparison tables),
so a model that one step accepts is never rejected by another.

Policy for a reference metric that is 0 or not finite (e.g. the δ-accuracy of a barely trained
single-task model): ``(m - m_ref) / m_ref`` is undefined, so that metric is left out of the task's
average and reported in :attr:`Delta.skipped`; callers warn about it. When every metric of a task
is left out, or a metric is missing on either side, or the model's own metric is not finite, Δ
does not exist and :class:`TreeMTLError` names the task, the metric and the source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from treemtl.errors import TreeMTLError

#: Per task, per metric: True when higher is better (segmentation mIoU), False otherwise (depth error).
Directions = Mapping[str, Mapping[str, bool]]
Metrics = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class Delta:
    """Δ of one task in %, and the metrics left out because their reference is 0 or not finite."""

    percent: float
    skipped: tuple[str, ...] = ()


def relative_performance(
    task: str,
    metrics: Mapping[str, float],
    reference: Mapping[str, float],
    higher_is_better: Mapping[str, bool],
    source: str = "",
) -> Delta:
    """Mean over the task's metrics of ``±(m - m_ref) / m_ref`` × 100 (positive = better).

    ``higher_is_better`` lists the task's metrics (its keys) and their direction; ``source`` names
    the file(s) the metrics come from, for error messages.
    """
    where = f"{source}: " if source else ""
    terms: list[float] = []
    skipped: list[str] = []
    for name, higher in higher_is_better.items():
        if name not in reference:
            raise TreeMTLError(f"{where}{task}: the single-task reference has no metric {name!r}")
        if name not in metrics:
            raise TreeMTLError(f"{where}{task}: metric {name!r} is missing")
        ref = float(reference[name])
        value = float(metrics[name])
        if ref == 0.0 or not math.isfinite(ref):
            skipped.append(name)
            continue
        if not math.isfinite(value):
            raise TreeMTLError(f"{where}{task}: metric {name!r} is {value} (diverged training?)")
        change = (value - ref) / ref
        terms.append(change if higher else -change)
    if not terms:
        raise TreeMTLError(
            f"{where}{task}: every reference metric ({', '.join(skipped) or 'none'}) is 0 or not finite;"
            " relative performance is undefined"
        )
    return Delta(float(np.mean(terms) * 100.0), tuple(skipped))


def overall_relative_performance(
    tasks: Sequence[str],
    metrics: Metrics,
    reference: Metrics,
    directions: Directions,
    source: str = "",
    weights: Mapping[str, float] | None = None,
) -> tuple[float, dict[str, Delta]]:
    """Δt (mean over ``tasks`` of their Δ, in %) and each task's :class:`Delta`.

    ``weights`` (task -> weight, summing to 1: a user's task priorities) makes Δt their weighted
    sum instead of the plain mean.
    """
    where = f"{source}: " if source else ""
    per_task: dict[str, Delta] = {}
    for task in tasks:
        if task not in metrics:
            raise TreeMTLError(f"{where}no metrics for task {task!r} (have {sorted(metrics)})")
        if task not in reference:
            raise TreeMTLError(f"{where}no single-task reference for task {task!r}")
        per_task[task] = relative_performance(task, metrics[task], reference[task], directions[task], source)
    if not per_task:
        raise TreeMTLError(f"{where}no tasks to compute the overall relative performance of")
    if weights is None:
        return float(np.mean([d.percent for d in per_task.values()])), per_task
    return float(sum(weights[task] * delta.percent for task, delta in per_task.items())), per_task


def skipped_note(task: str, delta: Delta, source: str = "") -> str:
    """One warning line for metrics left out of ``delta`` (empty when none were)."""
    if not delta.skipped:
        return ""
    where = f"{source}: " if source else ""
    return f"{where}{task}: reference {', '.join(delta.skipped)} is 0 or not finite; left out of Δ"
