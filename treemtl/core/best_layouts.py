"""The k best layouts within a budget: scored from the performance table, or found by exact search.

Scoring every layout is the simplest exact answer while the space is small: 0.4 s for the 120,196
layouts of T=6, B=5. It grows faster than any table (2.2 million layouts at T=7, B=5 take 11 s
and 1.5 GB; 45.6 million at T=8 do not fit), while the branch-and-bound search
(:mod:`treemtl.core.search`) answers T=7 in well under a second. So a space of more than
:data:`SEARCH_ABOVE` layouts (T >= 7 at B=5, T=6 from B=6 on) is searched, a smaller one scored; both
give the same rows (same ids, order, scores and costs). The size is counted, never enumerated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from treemtl.core.cost import BlockProfile, Budget, LayoutCosts, layout_costs
from treemtl.core.estimator import TwoTaskTable
from treemtl.core.layout import count_chains
from treemtl.core.recommend import performance_table, top_k
from treemtl.core.search import SearchLimits, SearchStats, search_top_k
from treemtl.errors import TreeMTLError

#: Spaces with more layouts than this are searched instead of scored layout by layout.
SEARCH_ABOVE = 200_000
#: The largest space a forced ``method="table"`` scores (T=7, B=5 has 2,201,856 layouts, 1.5 GB).
TABLE_LIMIT = 2_500_000

Method = Literal["auto", "table", "search"]
METHODS: tuple[Method, ...] = ("auto", "table", "search")


def uses_search(num_tasks: int, num_blocks: int, search_above: int = SEARCH_ABOVE) -> bool:
    """Whether the space of (T, B) is answered by search: more than ``search_above`` layouts."""
    return count_chains(num_tasks, num_blocks) > search_above


@dataclass(frozen=True)
class BestLayouts:
    """The k best rows (the performance table's columns, best first) and how they were found."""

    rows: pd.DataFrame
    method: Literal["table", "search"]
    stats: SearchStats | None  # nodes visited and pruned, for the search
    cheapest: LayoutCosts  # the all-shared layout's cost: what a budget below every layout is told


def recommend_layouts(
    table: TwoTaskTable,
    k: int,
    budget: Budget | None = None,
    profile: BlockProfile | None = None,
    weights: np.ndarray | None = None,
    method: Method = "auto",
    search_above: int = SEARCH_ABOVE,
    limits: SearchLimits = SearchLimits(),
) -> BestLayouts:
    """The k best layouts within ``budget``, score descending, ties by id.

    ``method="auto"`` searches spaces of more than ``search_above`` layouts and scores smaller
    ones; ``"table"`` and ``"search"`` force one way. A search that reaches ``limits`` raises
    :class:`TreeMTLError` saying how far it got.
    """
    if method not in METHODS:
        raise TreeMTLError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if k < 1:
        raise TreeMTLError(f"--top-k must be >= 1, got {k}")
    profile = profile if profile is not None else BlockProfile.uniform(table.num_blocks)
    if profile.num_blocks != table.num_blocks:
        raise TreeMTLError(f"{profile.source}: profile has {profile.num_blocks} blocks but {table.source} has "
                           f"{table.num_blocks}")
    size = count_chains(table.num_tasks, table.num_blocks)
    chosen = method if method != "auto" else ("search" if size > search_above else "table")
    cheapest = layout_costs(np.ones((1, table.num_blocks), dtype=np.int64), profile, table.num_tasks)
    if chosen == "search":
        found = search_top_k(table, k, budget, profile, weights, limits)
        return BestLayouts(found.rows, "search", found.stats, cheapest)
    if size > TABLE_LIMIT:
        raise TreeMTLError(f"{table.source}: {table.num_tasks} tasks and {table.num_blocks} blocks have {size:,} "
                           f"layouts, too many to score one by one (at most {TABLE_LIMIT:,}); use the exact "
                           "search (--method search or auto)")
    return BestLayouts(top_k(performance_table(table, profile, weights), k, budget), "table", None, cheapest)
