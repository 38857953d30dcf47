"""The exact search returns the performance table's top-k (same ids, order, scores, costs) without it."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treemtl.core.cost import BlockProfile, Budget, parse_budget
from treemtl.core.estimator import TwoTaskTable, load_two_task_table, task_weights
from treemtl.core.layout import Layout, count_chains, enumerate_layouts, layout_id, layout_space
from treemtl.core.recommend import performance_table, top_k
from treemtl.core.search import MAX_BLOCKS, MAX_TASKS, SearchLimits, search_top_k
from treemtl.errors import TreeMTLError

RESNET34_FRACTIONS = (0.0057, 0.0404, 0.0507, 0.3093, 0.5939)


def walk_table(num_tasks: int, num_blocks: int, seed: int, integer: bool = False) -> TwoTaskTable:
    """Δ of each task in each pair is a random walk over branches 1..B (0 at branch 0).

    ``integer`` rounds the steps to -2..2, which makes many layouts tie exactly.
    """
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 2.0, size=(num_tasks, num_tasks, num_blocks))
    if integer:
        steps = np.clip(np.round(steps), -2, 2)
    delta = np.zeros((num_tasks, num_tasks, num_blocks + 1))
    delta[:, :, 1:] = np.cumsum(steps, axis=2)
    return TwoTaskTable(tuple(f"t{i}" for i in range(num_tasks)), delta, f"walk seed {seed}")


def random_profile(num_blocks: int, kind: str, seed: int) -> BlockProfile:
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return BlockProfile.uniform(num_blocks)
    if kind == "integer":
        return BlockProfile(tuple(int(v) for v in rng.integers(1, 1000, num_blocks)),
                            tuple(int(v) for v in rng.integers(1, 1000, num_blocks)))
    if kind == "resnet34" and num_blocks == 5:
        return BlockProfile(RESNET34_FRACTIONS, (0.0004, 0.0104, 0.0525, 0.3205, 0.6161))
    flops = rng.dirichlet(np.ones(num_blocks)).round(4) + 1e-4
    params = rng.dirichlet(np.ones(num_blocks)).round(4) + 1e-4
    return BlockProfile(tuple(float(v) for v in flops), tuple(float(v) for v in params))


def budgets(num_tasks: int, profile: BlockProfile) -> list[Budget | None]:
    """No budget, and each budget kind somewhere between the cheapest and the dearest layout."""
    return [
        None,
        parse_budget("1"),
        parse_budget(str(max(1.0, num_tasks / 2))),
        parse_budget("60%"),
        Budget("flops", Fraction(profile.backbone_flops) * Fraction(3, 2)),
        Budget("params", Fraction(profile.backbone_params) * Fraction(num_tasks + 1, 2)),
    ]


def tie_ranked_top(frame: pd.DataFrame, k: int, budget: Budget | None) -> pd.DataFrame:
    """The table's top-k where scores equal up to rounding (1e-12 relative) rank by id."""
    fits = top_k(frame, len(frame), budget)
    score = fits["score"].to_numpy()
    tolerance = 1e-12 * max(1.0, float(np.abs(score).max(initial=0.0)))
    group = np.concatenate(([0], np.cumsum(np.diff(score) < -tolerance)))
    return fits.iloc[np.lexsort((fits["id"].to_numpy(), group))].head(k)


def assert_same_rows(found: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(found.columns) == list(expected.columns)
    assert found["id"].tolist() == expected["id"].tolist()
    assert found["layout"].tolist() == expected["layout"].tolist()
    numbers = [c for c in expected.columns if c not in ("id", "layout")]
    np.testing.assert_allclose(found[numbers].to_numpy(np.float64), expected[numbers].to_numpy(np.float64),
                               rtol=0, atol=1e-12)
    assert found["flops"].dtype == expected["flops"].dtype


def check(table: TwoTaskTable, frame: pd.DataFrame, profile: BlockProfile, budget: Budget | None, k: int,
          ties: bool) -> None:
    result = search_top_k(table, k, budget, profile)
    expected = tie_ranked_top(frame, k, budget) if ties else top_k(frame, k, budget)
    assert_same_rows(result.rows, expected)
    assert [layout.format() for layout in result.layouts] == result.rows["layout"].tolist()
    assert result.stats.layouts_scored <= result.stats.space_size == len(frame)


SMALL_SPACES = [(t, b) for t in range(2, 7) for b in range(1, 7) if len(layout_space(t, b)) <= 20_000]


@pytest.mark.parametrize(("num_tasks", "num_blocks"), SMALL_SPACES)
def test_search_equals_the_table_on_every_small_space(num_tasks: int, num_blocks: int) -> None:
    table = walk_table(num_tasks, num_blocks, seed=10 * num_tasks + num_blocks)
    for kind in ("uniform", "fractions"):
        profile = random_profile(num_blocks, kind, seed=num_blocks)
        frame = performance_table(table, profile)
        for budget, k in itertools.product(budgets(num_tasks, profile), (1, 5, 50)):
            check(table, frame, profile, budget, k, ties=False)


@settings(max_examples=int(__import__("os").environ.get("SEARCH_EXAMPLES", 60)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from([(t, b) for t in range(2, 7) for b in range(1, 7)]),
    seed=st.integers(0, 2**32 - 1),
    integer=st.booleans(),
    kind=st.sampled_from(["uniform", "integer", "fractions", "resnet34"]),
    which=st.integers(0, 5),
    k=st.sampled_from([1, 5, 50]),
)
def test_search_equals_the_table_on_random_tables(size: tuple[int, int], seed: int, integer: bool, kind: str,
                                                  which: int, k: int) -> None:
    num_tasks, num_blocks = size
    table = walk_table(num_tasks, num_blocks, seed, integer)
    profile = random_profile(num_blocks, kind, seed)
    frame = performance_table(table, profile)
    check(table, frame, profile, budgets(num_tasks, profile)[which], k, ties=integer)


def test_ties_rank_by_id() -> None:
    table = TwoTaskTable(("a", "b", "c", "d"), np.zeros((4, 4, 4)))
    result = search_top_k(table, 7, parse_budget("3"))
    frame = performance_table(table)
    ids = result.rows["id"].tolist()
    assert ids == top_k(frame, 7, parse_budget("3"))["id"].tolist() and ids == sorted(ids) and len(ids) == 7


@pytest.mark.parametrize("budget", [None, "4", "3", "2", "1"])
def test_reproduces_table10_on_the_published_taskonomy_table(two_task_tables: Path, budget: str | None) -> None:
    table = load_two_task_table(two_task_tables / "taskonomy_deeplab_resnet34.csv")
    profile = BlockProfile(RESNET34_FRACTIONS, RESNET34_FRACTIONS)
    chosen = parse_budget(budget) if budget else None
    result = search_top_k(table, 5, chosen, profile, task_weights(table))
    assert_same_rows(result.rows, top_k(performance_table(table, profile), 5, chosen))


def test_paper_ids_are_counted_without_enumeration() -> None:
    for num_tasks, num_blocks in [(2, 3), (3, 5), (4, 4), (5, 5), (6, 2)]:
        for index, layout in enumerate(enumerate_layouts(num_tasks, num_blocks)):
            assert layout_id(layout) == index
    layouts = enumerate_layouts(6, 5)
    for index in np.random.default_rng(0).choice(len(layouts), 300, replace=False).tolist():
        assert layout_id(layouts[index]) == index


def test_larger_spaces_are_searched_without_enumeration() -> None:
    table = walk_table(9, 5, seed=3)
    profile = random_profile(5, "resnet34", 0)
    result = search_top_k(table, 5, parse_budget("3"), profile)
    assert len(result.rows) == 5 and result.stats.space_size == count_chains(9, 5)
    assert result.stats.layouts_scored < 10_000
    assert (result.rows["flops"] <= 3 * sum(RESNET34_FRACTIONS) + 1e-12).all()
    assert np.all(np.diff(result.rows["score"].to_numpy()) <= 0)
    for row, layout in zip(result.rows.itertuples(), result.layouts):
        assert layout_id(Layout.parse(row.layout)) == row.id
        # score recomputed from the layout's own pairs, as the estimate's definition says
        weights = task_weights(table)
        estimate = [np.mean([table.delta[i, j, layout.branch_point(i, j)] for j in range(9) if j != i])
                    for i in range(9)]
        assert row.score == pytest.approx(float(np.dot(weights, estimate)), abs=1e-12)


def test_nothing_fits_gives_no_rows() -> None:
    table = walk_table(4, 3, seed=1)
    result = search_top_k(table, 5, Budget("flops", Fraction(1, 2)))
    assert result.rows.empty and result.layouts == ()
    assert list(result.rows.columns) == list(performance_table(table).columns)


def test_limits_stop_with_progress_and_a_way_out() -> None:
    table = TwoTaskTable(tuple("abcdef"), np.zeros((6, 6, 6)))  # every layout ties: nothing prunes
    with pytest.raises(TreeMTLError, match=r"stopped at the node limit \(2,000 nodes\) after .* --top-k|none of"):
        search_top_k(table, 10, parse_budget("3"), limits=SearchLimits(max_nodes=2_000))
    with pytest.raises(TreeMTLError, match=r"time limit \(0 s\)"):
        search_top_k(table, 10, limits=SearchLimits(max_seconds=0.0))


def test_bad_input_is_one_clear_error() -> None:
    with pytest.raises(TreeMTLError, match=f"at most {MAX_TASKS} tasks"):
        search_top_k(TwoTaskTable(tuple(f"t{i}" for i in range(MAX_TASKS + 1)), np.zeros((MAX_TASKS + 1,) * 2 + (3,))), 1)
    with pytest.raises(TreeMTLError, match=f"at most {MAX_BLOCKS} blocks"):
        search_top_k(TwoTaskTable(("a", "b"), np.zeros((2, 2, MAX_BLOCKS + 2))), 1)
    table = walk_table(3, 4, seed=0)
    with pytest.raises(TreeMTLError, match="profile has 5 blocks but walk seed 0 has 4"):
        search_top_k(table, 1, profile=BlockProfile.uniform(5))
    with pytest.raises(TreeMTLError, match="task weights: expected 3 finite numbers"):
        search_top_k(table, 1, weights=np.ones(4))
    with pytest.raises(TreeMTLError, match="--top-k must be >= 1"):
        search_top_k(table, 0)
