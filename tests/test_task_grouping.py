"""Task-Grouping: higher-order approximation and exact search over partitions and covers."""

from __future__ import annotations

import numpy as np
import pytest

from treemtl.evaluation.baselines.task_grouping import (
    all_shared_gains,
    best_cover,
    best_partition,
    budget_groups,
    grouping_of,
    grouping_score,
    groups_layout_blocks,
    member_scores,
    set_partitions,
)
from treemtl.errors import TreeMTLError
from treemtl.core.estimator import TwoTaskTable
from treemtl.core.layout import Layout

# G[t, u]: Δ of t when it shares the whole backbone with u. 0-1 help each other, 2 hurts everyone.
GAINS = np.array(
    [
        [0.0, 4.0, -6.0, 1.0],
        [2.0, 0.0, -4.0, 0.0],
        [-2.0, -2.0, 0.0, 3.0],
        [1.0, 1.0, 1.0, 0.0],
    ]
)


def test_set_partitions_count_bell_numbers() -> None:
    assert [sum(1 for _ in set_partitions(n)) for n in range(1, 6)] == [1, 2, 5, 15, 52]
    assert ((0,), (1,)) in set(set_partitions(2))


def test_member_scores_and_grouping_score_by_hand() -> None:
    assert member_scores((0, 1, 3), GAINS) == {0: pytest.approx(2.5), 1: pytest.approx(1.0), 3: pytest.approx(1.0)}
    assert member_scores((2,), GAINS) == {2: 0.0}
    # {0,1},{2,3}: 0 -> 4, 1 -> 2, 2 -> 3, 3 -> 1 => mean 2.5
    assert grouping_score(((0, 1), (2, 3)), GAINS) == pytest.approx(2.5)
    with pytest.raises(TreeMTLError):
        grouping_score(((0, 1),), GAINS)


def test_best_partition_by_hand() -> None:
    one = best_partition(GAINS, 1)
    # all four together: 0 -> -1/3, 1 -> -2/3, 2 -> -1/3, 3 -> 1
    assert one.grouping == ((0, 1, 2, 3),) and one.score == pytest.approx((-1 / 3 - 2 / 3 - 1 / 3 + 1) / 4)
    two = best_partition(GAINS, 2)
    assert two.grouping == ((0, 1), (2, 3)) and two.score == pytest.approx(2.5)
    # more backbones cannot beat the best 2-group partition here
    assert best_partition(GAINS, 4).grouping == ((0, 1), (2, 3))


def test_best_partition_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    gains = rng.normal(size=(4, 4))
    np.fill_diagonal(gains, 0.0)
    for k in range(1, 5):
        brute = max(grouping_score(p, gains) for p in set_partitions(4) if len(p) <= k)
        assert best_partition(gains, k).score == pytest.approx(brute)


def test_best_cover_allows_overlap() -> None:
    # 3 tasks: 0 gains with 1 and with 2, but 1 and 2 hurt each other.
    gains = np.array([[0.0, 5.0, 5.0], [3.0, 0.0, -9.0], [3.0, -9.0, 0.0]])
    cover = best_cover(gains, 2)
    assert cover.grouping == ((0, 1), (0, 2)) and cover.score == pytest.approx((5 + 3 + 3) / 3)
    assert best_partition(gains, 2).score < cover.score


def test_budget_and_layout_helpers() -> None:
    assert budget_groups(1.0) == 1 and budget_groups(2.5) == 2 and budget_groups(0.999999999999) == 1
    blocks = groups_layout_blocks([(2, 3), (1, 0)], 3)
    layout = Layout(blocks)
    assert layout.format() == "01,23|01,23|01,23"
    assert grouping_of(layout.blocks) == ((0, 1), (2, 3))
    assert grouping_of(Layout.parse("0123|01,23|0,1,23").blocks) is None


def test_all_shared_gains_from_two_task_table() -> None:
    delta = np.zeros((3, 3, 3))
    delta[0, 1] = [0.0, 9.0, 1.5]
    delta[1, 0] = [0.0, 9.0, -0.5]
    delta[1, 2, 2], delta[2, 1, 2] = 2.0, 3.0
    g = all_shared_gains(TwoTaskTable(("a", "b", "c"), delta))
    np.testing.assert_allclose(g, [[0.0, 1.5, 0.0], [-0.5, 0.0, 2.0], [0.0, 3.0, 0.0]])


def test_best_cover_matches_brute_force_over_subset_combinations() -> None:
    import itertools

    rng = np.random.default_rng(1)
    gains = rng.normal(size=(4, 4))
    np.fill_diagonal(gains, 0.0)
    subsets = [g for size in range(1, 5) for g in itertools.combinations(range(4), size)]
    for k in (1, 2, 3):
        brute = max(
            grouping_score(combo, gains)
            for n in range(1, k + 1)
            for combo in itertools.combinations(subsets, n)
            if set().union(*combo) == {0, 1, 2, 3}
        )
        cover = best_cover(gains, k)
        assert cover.score == pytest.approx(brute)
        assert len(cover.grouping) <= k
