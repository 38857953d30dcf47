"""Performance table of every layout, budget filter, top-k and Pareto front (paper 3, 4.2).

The performance table is computed once (estimates, score and cost of every layout) so that any
budget query afterwards is a lookup: filter by cost, sort by score (descending, ties by id).
Columns: ``id, layout, est_<task>..., score, flops, params, flops_pct, params_pct``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from treemtl.atomic import write_text_atomic
from treemtl.core.cost import BlockProfile, Budget, LayoutCosts, layout_costs
from treemtl.errors import TreeMTLError
from treemtl.core.estimator import TwoTaskTable, estimate_tasks, scores, task_weights
from treemtl.core.layout import layout_space

ATTRS = ("num_tasks", "num_blocks", "backbone_flops", "backbone_params")


def performance_table(
    table: TwoTaskTable,
    profile: BlockProfile | None = None,
    weights: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per layout id with estimates, score and cost (uniform blocks when no profile).

    The frame's ``attrs`` keep the backbone totals, so budgets can be applied to it later.
    """
    space = layout_space(table.num_tasks, table.num_blocks)
    profile = profile if profile is not None else BlockProfile.uniform(table.num_blocks)
    if profile.num_blocks != table.num_blocks:
        raise TreeMTLError(
            f"{profile.source}: profile has {profile.num_blocks} blocks but {table.source} has "
            f"{table.num_blocks}"
        )
    weights = task_weights(table) if weights is None else np.asarray(weights, dtype=np.float64)
    estimates = estimate_tasks(table, space)
    costs = layout_costs(space.copies(), profile, table.num_tasks)
    columns: dict[str, object] = {"id": np.arange(len(space), dtype=np.int64), "layout": space.texts()}
    for i, task in enumerate(table.tasks):
        columns[f"est_{task}"] = estimates[:, i]
    columns["score"] = scores(estimates, weights)
    columns.update(flops=costs.flops, params=costs.params,
                   flops_pct=costs.flops_pct, params_pct=costs.params_pct)
    frame = pd.DataFrame(columns)
    _set_attrs(frame, table.num_tasks, table.num_blocks, costs.backbone_flops, costs.backbone_params)
    return frame


def _set_attrs(frame: pd.DataFrame, num_tasks: int, num_blocks: int,
               backbone_flops: float, backbone_params: float) -> None:
    frame.attrs.update(num_tasks=num_tasks, num_blocks=num_blocks,
                       backbone_flops=backbone_flops, backbone_params=backbone_params)


def task_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("est_")]


def costs_of(frame: pd.DataFrame) -> LayoutCosts:
    """The cost arrays of a performance table (rows in frame order)."""
    missing = [a for a in ATTRS if a not in frame.attrs]
    if missing:
        raise TreeMTLError(f"performance table lacks backbone totals ({', '.join(missing)}); "
                           "build it with performance_table or load_performance_table")
    return LayoutCosts(frame["flops"].to_numpy(), frame["params"].to_numpy(),
                       frame.attrs["backbone_flops"], frame.attrs["backbone_params"],
                       frame.attrs["num_tasks"])


def within_budget(frame: pd.DataFrame, budget: Budget | None) -> pd.DataFrame:
    """Rows whose cost fits the budget (all rows when ``budget`` is None)."""
    if budget is None:
        return frame
    result = frame[budget.mask(costs_of(frame))]
    result.attrs.update(frame.attrs)
    return result


def rank(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort by score descending, ties by id ascending."""
    order = np.lexsort((frame["id"].to_numpy(), -frame["score"].to_numpy()))
    result = frame.iloc[order]
    result.attrs.update(frame.attrs)
    return result


def top_k(frame: pd.DataFrame, k: int, budget: Budget | None = None) -> pd.DataFrame:
    """The k best layouts within the budget, best first.

    Uses a partial selection (``argpartition``) so a query over 10^5 layouts stays fast; ties at
    the cut are resolved by id like a full sort.
    """
    if k < 1:
        raise TreeMTLError(f"--top-k must be >= 1, got {k}")
    candidates = within_budget(frame, budget)
    if len(candidates) > 4 * k:
        score = candidates["score"].to_numpy()
        threshold = np.partition(score, len(score) - k)[len(score) - k]
        candidates = candidates[score >= threshold]
    result = rank(candidates).head(k)
    result.attrs.update(frame.attrs)
    return result


def pareto_front(frame: pd.DataFrame, cost: str = "flops") -> pd.DataFrame:
    """Layouts no other layout beats on both cost (lower) and score (higher), by increasing cost.

    Among layouts of equal cost only the best score (lowest id on ties) is kept.
    """
    order = np.lexsort((frame["id"].to_numpy(), -frame["score"].to_numpy(), frame[cost].to_numpy()))
    score = frame["score"].to_numpy()[order]
    best = np.maximum.accumulate(score)
    previous = np.concatenate(([-np.inf], best[:-1]))
    keep = order[score > previous]
    result = frame.iloc[keep]
    result.attrs.update(frame.attrs)
    return result


# --------------------------------------------------------------------------- files
def write_performance_table(frame: pd.DataFrame, path: str | Path) -> None:
    write_text_atomic(path, frame.to_csv(index=False))


def load_performance_table(path: str | Path) -> pd.DataFrame:
    """Read a performance_table.csv back, recovering backbone totals from the all-shared row (id 0)."""
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as error:
        raise TreeMTLError(f"{path}: performance table not found") from error
    except Exception as error:
        raise TreeMTLError(f"{path}: cannot read performance table ({error})") from error
    required = ["id", "layout", "score", "flops", "params", "flops_pct", "params_pct"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise TreeMTLError(f"{path}: missing columns {', '.join(missing)}")
    shared = frame[frame["id"] == 0]
    if len(shared) != 1:
        raise TreeMTLError(f"{path}: needs exactly one row with id 0 (the all-shared layout)")
    num_tasks = len(task_columns(frame))
    num_blocks = str(shared["layout"].iloc[0]).count("|") + 1
    _set_attrs(frame, num_tasks, num_blocks,
               shared["flops"].iloc[0].item(), shared["params"].iloc[0].item())
    return frame
