"""The recommender's ranking under each task weighting, against the same oracle.

The per-task estimates of a layout do not depend on the weighting; only the score
``weights · estimates`` does. So every weighting (svde, equal, a user's priorities) is measured
from the same two-task table and the same trained oracle layouts, with no extra training: which
weighting ranks the layouts closest to their real Δt, and what does trusting each one cost
(regret per budget).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from treemtl.core.estimator import TwoTaskTable
from treemtl.core.weighting import Weighting
from treemtl.evaluation.oracle import correlation_report, regret_report


def ranking_quality(
    scores: Mapping[int, float],
    real: Mapping[int, float],
    masks: Mapping[float, np.ndarray],
    resamples: int,
    seed: int,
    top_k: int,
) -> dict[str, Any]:
    """Correlations (with bootstrap intervals) and regret per budget of ``scores`` on the trained ids."""
    ids = sorted(i for i in real if i in scores)
    predicted = [scores[i] for i in ids]
    truth = [real[i] for i in ids]
    feasible = {budget: [bool(mask[i]) for i in ids] for budget, mask in masks.items()}
    return {
        "layouts": len(ids),
        "correlation": correlation_report(predicted, truth, resamples=resamples, seed=seed),
        "regret": regret_report(ids, predicted, truth, feasible, k=top_k),
    }


def compare_weightings(
    table: TwoTaskTable,
    estimates: np.ndarray,
    real: Mapping[int, float],
    masks: Mapping[float, np.ndarray],
    weightings: Sequence[Weighting],
    resamples: int = 2000,
    seed: int = 0,
    top_k: int = 5,
) -> dict[str, dict[str, Any]]:
    """For each weighting: its task weights, and the ranking quality of ``estimates @ weights``.

    ``estimates`` is [layouts, tasks] in layout-id order (the performance table's ``est_`` columns,
    tasks in ``table``'s order); ``real`` maps trained layout ids to their real Δt.
    """
    result: dict[str, dict[str, Any]] = {}
    for weighting in weightings:
        weights = weighting.weights(table)
        score = np.asarray(estimates, dtype=np.float64) @ weights
        result[weighting.name] = {
            "weighting": weighting.to_config(),
            "weights": {task: float(w) for task, w in zip(table.tasks, weights)},
            **ranking_quality({i: float(s) for i, s in enumerate(score)}, real, masks, resamples, seed, top_k),
        }
    return result
