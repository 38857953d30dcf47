"""Performance table, budgets, top-k and Pareto front; the paper's Table 10 per-budget picks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from treemtl.core.cost import BlockProfile, parse_budget
from treemtl.core.estimator import TwoTaskTable, load_two_task_table
from treemtl.core.layout import layout_space
from treemtl.cli.enumerate import lines
from treemtl.core.recommend import (
    load_performance_lookup,
    load_performance_table,
    pareto_front,
    performance_table,
    read_layouts,
    top_k,
    write_performance_table,
)
from treemtl.errors import TreeMTLError

# Deeplab-ResNet34 FLOPs fractions per coarse block implied by Table 10 (docs/recommender.md).
RESNET34_FRACTIONS = (0.0057, 0.0404, 0.0507, 0.3093, 0.5939)

TABLE10 = {
    None: [353, 352, 958, 480, 360],
    "4": [958, 480, 360, 1037, 962],
    "3": [1037, 1046, 943, 1063, 479],
    "2": [817, 562, 4697, 6539, 1],
    "1": [0],
}


@pytest.fixture
def taskonomy(two_task_tables: Path) -> TwoTaskTable:
    return load_two_task_table(two_task_tables / "taskonomy_deeplab_resnet34.csv")


@pytest.mark.parametrize("budget", list(TABLE10))
def test_table10_picks_per_budget(taskonomy: TwoTaskTable, budget: str | None) -> None:
    profile = BlockProfile(RESNET34_FRACTIONS, RESNET34_FRACTIONS)
    frame = performance_table(taskonomy, profile)
    best = top_k(frame, 5, parse_budget(budget) if budget else None)
    assert set(best["id"]) == set(TABLE10[budget])


def test_table10_flops_of_budgeted_picks(taskonomy: TwoTaskTable) -> None:
    """Paper FLOPs change (%) of the budgeted picks, within the rounding of the fractions."""
    frame = performance_table(taskonomy, BlockProfile(RESNET34_FRACTIONS, RESNET34_FRACTIONS))
    paper = {958: -22.05, 480: -22.83, 360: -22.05, 1037: -41.93, 962: -28.24, 1046: -41.93,
             943: -40.13, 1063: -48.11, 479: -40.91, 817: -60.00, 562: -60.00, 4697: -60.13,
             6539: -60.91, 1: -60.00, 0: -80.00}
    for index, change in paper.items():
        assert frame.loc[index, "flops_pct"] - 100 == pytest.approx(change, abs=0.05)


def test_columns_and_ranking(taskonomy: TwoTaskTable) -> None:
    frame = performance_table(taskonomy)
    assert list(frame.columns) == ["id", "layout", *[f"est_task{i}" for i in range(5)], "score",
                                   "flops", "params", "flops_pct", "params_pct"]
    assert len(frame) == 7556 and frame["id"].tolist() == list(range(7556))
    order = np.lexsort((frame["id"].to_numpy(), -frame["score"].to_numpy()))  # a full sort: score, then id
    best = top_k(frame, 7)
    assert np.all(np.diff(best["score"].to_numpy()) <= 0)
    assert best["id"].tolist() == frame["id"].to_numpy()[order][:7].tolist()


def test_ties_sorted_by_id() -> None:
    table = TwoTaskTable(("a", "b", "c"), np.zeros((3, 3, 6)))
    frame = performance_table(table)
    assert top_k(frame, 10)["id"].tolist() == list(range(10))


def test_budget_filter_and_pareto(taskonomy: TwoTaskTable) -> None:
    frame = performance_table(taskonomy)
    fits = top_k(frame, len(frame), parse_budget("2"))
    assert (fits["flops"] <= 10).all() and len(fits) == (frame["flops"] <= 10).sum()
    front = pareto_front(frame)
    flops = front["flops"].to_numpy()
    score = front["score"].to_numpy()
    assert np.all(np.diff(flops) > 0) and np.all(np.diff(score) > 0)
    for _, row in frame.iterrows() if len(frame) < 200 else frame.sample(300, random_state=0).iterrows():
        dominated = front[(front["flops"] <= row["flops"]) & (front["score"] >= row["score"])]
        assert len(dominated) >= 1


def test_write_and_reload(taskonomy: TwoTaskTable, tmp_path: Path) -> None:
    profile = BlockProfile((10, 20, 30, 40, 50), (1, 1, 1, 1, 1))
    frame = performance_table(taskonomy, profile)
    write_performance_table(frame, tmp_path / "pt.csv")
    again = load_performance_table(tmp_path / "pt.csv")
    assert again.attrs["backbone_flops"] == 150 and again.attrs["num_tasks"] == 5
    budget = parse_budget("2")
    assert top_k(again, 5, budget)["id"].tolist() == top_k(frame, 5, budget)["id"].tolist()
    assert not list(tmp_path.glob(".*tmp"))


def test_layout_space_shared_with_estimator(taskonomy: TwoTaskTable) -> None:
    assert len(performance_table(taskonomy)) == len(layout_space(5, 5))


def test_table_from_stored_layouts_equals_the_enumerated_one(taskonomy: TwoTaskTable, tmp_path: Path) -> None:
    path = tmp_path / "layouts.csv"
    path.write_text("".join(lines(5, 5, "csv")))
    stored = read_layouts(path, 5, 5)
    assert len(stored) == 7556 and stored.texts()[:2] == layout_space(5, 5).texts()[:2]
    np.testing.assert_array_equal(stored.branch_points(), layout_space(5, 5).branch_points())
    profile = BlockProfile(RESNET34_FRACTIONS, RESNET34_FRACTIONS)
    expected = performance_table(taskonomy, profile)
    got = performance_table(taskonomy, profile, space=stored)
    assert got.equals(expected) and got.attrs == expected.attrs


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("id,text\n0,01|01\n", "expected the header 'id,layout'"),
        ("id,layout\n0,01|01\n2,0,1|0,1\n", "line 3: expected '1,<layout>'"),
        ("id,layout\n0,01|01|01\n", "has 3 blocks, expected 2"),
        ("id,layout\n0,012|012\n", "has 3 tasks, expected 2"),
        ('id,layout\n0,01|01\n1,"0,1|01"\n', "layout 1 (0,1|01): block 1 does not refine block 0"),
    ],
)
def test_bad_layouts_file_is_named(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "layouts.csv"
    path.write_text(text)
    with pytest.raises(TreeMTLError, match="layouts.csv") as error:
        read_layouts(path, 2, 2)
    assert fragment in str(error.value)


@pytest.mark.parametrize("budget", [None, "1", "2.5", "60%", "3e6params"])
def test_lookup_answers_like_the_table(taskonomy: TwoTaskTable, tmp_path: Path, budget: str | None) -> None:
    profile = BlockProfile((10, 20, 30, 40, 50), (1_000_000, 1_000_000, 1_000_000, 1_000_000, 1_000_000))
    frame = performance_table(taskonomy, profile)
    write_performance_table(frame, tmp_path / "pt.csv", tmp_path / "pt.npz")
    lookup = load_performance_lookup(tmp_path / "pt.npz")
    parsed = parse_budget(budget) if budget else None
    expected = top_k(frame, 7, parsed)
    got = lookup.top_k(7, parsed)
    assert got.to_csv(index=False) == expected.to_csv(index=False)
    assert got.attrs == expected.attrs
    assert not list(tmp_path.glob(".*tmp"))


def test_lookup_of_a_wrong_file_is_named(tmp_path: Path) -> None:
    np.savez(tmp_path / "other.npz", id=np.arange(3))
    with pytest.raises(TreeMTLError, match="other.npz: not a performance table lookup"):
        load_performance_lookup(tmp_path / "other.npz")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(TreeMTLError, match="broken.npz: cannot read"):
        load_performance_lookup(tmp_path / "broken.npz")
