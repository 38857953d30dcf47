"""Score against FLOPs when the space is too large to score every layout: an exact front and a sample.

The report's figure shows every layout's score against its FLOPs, the Pareto front and the picks.
Beyond the search threshold (:mod:`treemtl.core.best_layouts`) the front comes from the exact
search, as the best layout within each of a grid of budgets from 1 to T models (each one a point
of the true Pareto front), and the cloud around it from a seeded uniform sample of layouts: random
ids, each turned into its layout without enumerating (:func:`treemtl.core.layout.layout_from_id`),
scored by the performance table's own code. The all-shared and the independent layouts are always
in the sample: they are the reference rows of the report.
"""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pandas as pd

from treemtl.core.cost import BlockProfile, Budget
from treemtl.core.estimator import TwoTaskTable, task_weights
from treemtl.core.layout import Layout, count_chains, layout_from_id, layout_id
from treemtl.core.recommend import pareto_front, performance_rows
from treemtl.core.search import SearchLimits, search_top_k
from treemtl.errors import TreeMTLError

#: Budgets of the exact front (evenly spaced from 1 to T models) and layouts in the sampled cloud.
FRONT_BUDGETS = 20
SAMPLE_SIZE = 1000


def front_budgets(num_tasks: int, count: int = FRONT_BUDGETS) -> list[Budget]:
    """``count`` budgets evenly spaced from 1 to T models (exact fractions), the last fitting every layout."""
    if count < 1:
        raise TreeMTLError(f"--budgets must be >= 1, got {count}")
    if count == 1:
        return [Budget("models", Fraction(num_tasks))]
    step = Fraction(num_tasks - 1, count - 1)
    return [Budget("models", 1 + step * i) for i in range(count)]


def sampled_ids(num_tasks: int, num_blocks: int, size: int = SAMPLE_SIZE, seed: int = 0) -> list[int]:
    """``size`` distinct ids drawn uniformly with ``seed``, plus the all-shared and independent ids, sorted."""
    if size < 0:
        raise TreeMTLError(f"--sample must be >= 0, got {size}")
    total = count_chains(num_tasks, num_blocks)
    drawn = random.Random(seed).sample(range(total), min(size, total))
    return sorted({0, layout_id(Layout.independent(num_tasks, num_blocks)), *drawn})


def score_landscape(
    table: TwoTaskTable,
    profile: BlockProfile | None = None,
    weights: np.ndarray | None = None,
    budgets: int = FRONT_BUDGETS,
    sample: int = SAMPLE_SIZE,
    seed: int = 0,
    limits: SearchLimits = SearchLimits(),
) -> pd.DataFrame:
    """Performance-table rows with a first column ``kind``: the ``front`` (by increasing FLOPs), then
    the ``sample`` (by id)."""
    weights = task_weights(table) if weights is None else np.asarray(weights, dtype=np.float64)
    best = [search_top_k(table, 1, budget, profile, weights, limits).rows
            for budget in front_budgets(table.num_tasks, budgets)]
    found = pd.concat(best, ignore_index=True).drop_duplicates("layout")
    found.attrs.update(best[0].attrs)
    front = pareto_front(found, "flops")
    ids = sampled_ids(table.num_tasks, table.num_blocks, sample, seed)
    layouts = [layout_from_id(i, table.num_tasks, table.num_blocks) for i in ids]
    cloud = performance_rows(table, layouts, ids, profile, weights)
    frame = pd.concat([front.assign(kind="front"), cloud.assign(kind="sample")], ignore_index=True)
    return frame[["kind", *cloud.columns]]
