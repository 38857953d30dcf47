"""Task-Grouping (Standley et al., 2020): which tasks should share a whole backbone?

Each group of tasks gets its own complete backbone (in layout terms: every block has the same
partition), and the budget is the number of backbones.  Standley et al. estimate a group's
accuracy from pairwise results with their *higher-order approximation*: task t in group G scores
the mean, over the other members u of G, of t's performance in the (t, u) network that shares
everything.  Here that pairwise number is the two-task table's Δ of t at branch B (all shared),
so the baseline uses exactly the training budget the recommender uses; a task alone scores 0
(its single-task model is the reference).

Two search spaces, both exact for small T:

* partitions (:func:`best_partition`) — each task in exactly one group; these are the layouts a
  tree-structured model can express, so they are what the oracle can check;
* covers (:func:`best_cover`) — the original formulation, where a task may appear in several
  groups and is served by the best of them (a task's head is then trained more than once).

Predicted overall score = mean over tasks, the same unweighted mean as the real Δt.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from treemtl.errors import TreeMTLError
from treemtl.core.estimator import TwoTaskTable

Group = tuple[int, ...]
Grouping = tuple[Group, ...]


def all_shared_gains(table: TwoTaskTable) -> np.ndarray:
    """G[t, u] = Δ (%) of task t in the (t, u) two-task model sharing every block (branch B)."""
    gains = np.array(table.delta[:, :, table.num_blocks], dtype=float)
    np.fill_diagonal(gains, 0.0)
    return gains


def member_scores(group: Sequence[int], gains: np.ndarray) -> dict[int, float]:
    """Higher-order approximation: each member's mean pairwise Δ with the rest of the group."""
    members = list(group)
    if len(members) == 1:
        return {members[0]: 0.0}
    return {t: float(np.mean([gains[t, u] for u in members if u != t])) for t in members}


def grouping_score(grouping: Sequence[Sequence[int]], gains: np.ndarray) -> float:
    """Predicted Δt of a partition or cover: mean over tasks of the best group serving each task."""
    best: dict[int, float] = {}
    for group in grouping:
        for task, score in member_scores(group, gains).items():
            best[task] = max(best.get(task, -math.inf), score)
    num_tasks = gains.shape[0]
    if set(best) != set(range(num_tasks)):
        raise TreeMTLError(f"grouping {list(map(list, grouping))} does not cover all {num_tasks} tasks")
    return float(np.mean([best[t] for t in range(num_tasks)]))


def set_partitions(num_tasks: int) -> Iterator[Grouping]:
    """Every partition of 0..T-1, canonical (groups sorted by smallest task), Bell(T) of them."""

    def extend(task: int, groups: list[list[int]]) -> Iterator[Grouping]:
        if task == num_tasks:
            yield tuple(tuple(g) for g in groups)
            return
        for g in groups:
            g.append(task)
            yield from extend(task + 1, groups)
            g.pop()
        groups.append([task])
        yield from extend(task + 1, groups)
        groups.pop()

    if num_tasks < 1:
        raise TreeMTLError(f"task grouping needs at least one task, got {num_tasks}")
    yield from extend(0, [])


@dataclass(frozen=True)
class GroupingChoice:
    """Best grouping found within a number of backbones."""

    max_groups: int
    grouping: Grouping
    score: float


def _key(grouping: Grouping) -> tuple[int, Grouping]:
    return (len(grouping), grouping)


def best_partition(gains: np.ndarray, max_groups: int) -> GroupingChoice:
    """Exact search over set partitions with at most ``max_groups`` groups (ties: fewer groups)."""
    if max_groups < 1:
        raise TreeMTLError(f"task grouping: budget allows {max_groups} backbones, need at least 1")
    best: tuple[float, Grouping] | None = None
    for grouping in set_partitions(gains.shape[0]):
        if len(grouping) > max_groups:
            continue
        score = grouping_score(grouping, gains)
        if best is None or score > best[0] + 1e-12 or (abs(score - best[0]) <= 1e-12 and _key(grouping) < _key(best[1])):
            best = (score, grouping)
    assert best is not None  # the single group always fits
    return GroupingChoice(max_groups, best[1], best[0])


def best_cover(gains: np.ndarray, max_groups: int) -> GroupingChoice:
    """Exact search over covers by at most ``max_groups`` task subsets (Standley's formulation).

    In an optimal cover each task is served by one group, so the tasks split into at most k
    "served-by" classes S, each served by some group G ⊇ S.  The best cover therefore equals the
    best partition into <= k classes of Σ_S best(S), with best(S) = max over G ⊇ S of the members
    of S's scores in G — Bell(T) partitions over 3^T (class, group) pairs instead of C(2^T - 1, k)
    subset combinations.  Ties prefer fewer groups, then the smaller grouping.
    """
    num_tasks = gains.shape[0]
    if max_groups < 1:
        raise TreeMTLError(f"task grouping: budget allows {max_groups} backbones, need at least 1")
    full = (1 << num_tasks) - 1
    members = {mask: tuple(t for t in range(num_tasks) if mask >> t & 1) for mask in range(1, full + 1)}
    scores = {mask: member_scores(group, gains) for mask, group in members.items()}
    best_group: dict[int, tuple[float, int]] = {}
    for served in range(1, full + 1):
        for group in range(1, full + 1):
            if group & served == served:
                value = sum(scores[group][t] for t in members[served])
                if served not in best_group or value > best_group[served][0] + 1e-12:
                    best_group[served] = (value, group)
    best: tuple[float, Grouping] | None = None
    for partition in set_partitions(num_tasks):
        if len(partition) > max_groups:
            continue
        masks = [sum(1 << t for t in cls) for cls in partition]
        total = sum(best_group[m][0] for m in masks) / num_tasks
        grouping = tuple(sorted({members[best_group[m][1]] for m in masks}))
        if best is None or total > best[0] + 1e-12 or (abs(total - best[0]) <= 1e-12 and _key(grouping) < _key(best[1])):
            best = (total, grouping)
    assert best is not None
    return GroupingChoice(max_groups, best[1], grouping_score(best[1], gains))


def budget_groups(budget: float) -> int:
    """Backbones allowed by a budget in backbone models (1.0 fits one backbone exactly)."""
    return int(math.floor(float(budget) + 1e-9))


def groups_layout_blocks(grouping: Sequence[Sequence[int]], num_blocks: int) -> tuple[Grouping, ...]:
    """Layout blocks where every block has the grouping's partition (one backbone per group)."""
    canon = tuple(sorted(tuple(sorted(g)) for g in grouping))
    return (canon,) * num_blocks


def grouping_of(blocks: Sequence[Sequence[Sequence[int]]]) -> Grouping | None:
    """The partition of a "groups" layout (every block identical), or None for a branched tree."""
    first = tuple(tuple(g) for g in blocks[0])
    if all(tuple(tuple(g) for g in block) == first for block in blocks):
        return first
    return None
