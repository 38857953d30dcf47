"""Layout cost and budgets: exact comparisons, profiles, budget strings."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from treemtl.core.cost import BlockProfile, Budget, layout_costs, parse_budget
from treemtl.errors import TreeMTLError
from treemtl.core.layout import enumerate_layouts, layout_space

PAPER_FRACTIONS = (0.0057, 0.0404, 0.0507, 0.3093, 0.5939)


def test_cost_is_copies_times_block_cost() -> None:
    profile = BlockProfile((10, 20, 30, 40, 50), (1, 2, 3, 4, 5))
    costs = layout_costs(layout_space(3, 5).copies(), profile, 3)
    for index, layout in enumerate(enumerate_layouts(3, 5)):
        assert costs.flops[index] == sum(c * f for c, f in zip(layout.copies(), profile.flops))
    assert costs.flops.dtype == np.int64
    assert costs.flops_pct[0] == pytest.approx(100 / 3)
    independent = enumerate_layouts(3, 5).index(enumerate_layouts(3, 5)[2])
    assert costs.flops_pct[independent] == pytest.approx(100.0)


def test_all_shared_fits_one_model_with_rounded_fractions() -> None:
    fractions = (0.3334, 0.3333, 0.3334)  # sums to 1.0001
    costs = layout_costs(layout_space(3, 3).copies(), BlockProfile(fractions, fractions), 3)
    mask = parse_budget("1").mask(costs)
    assert mask[0] and mask.sum() == 1


def test_integer_budget_is_exact() -> None:
    profile = BlockProfile((1, 1, 1), (1, 1, 1))
    costs = layout_costs(layout_space(2, 3).copies(), profile, 2)  # flops 3..6
    fits = parse_budget("1.5models").mask(costs)
    assert set(costs.flops[fits].tolist()) <= {3, 4} and 4 in costs.flops[fits]
    assert not parse_budget("1.5models").mask(costs)[costs.flops == 5].any()
    assert parse_budget("4flops").mask(costs).tolist() == (costs.flops <= 4).tolist()
    assert parse_budget("50%").mask(costs).tolist() == (costs.flops <= 3).tolist()


def test_parse_budget_forms() -> None:
    assert parse_budget("2") == Budget("models", Fraction(2))
    assert parse_budget("1.5models") == Budget("models", Fraction(3, 2))
    assert parse_budget("1.5e9flops") == Budget("flops", Fraction(1_500_000_000))
    assert parse_budget("3e6params") == Budget("params", Fraction(3_000_000))
    assert parse_budget("60%") == Budget("percent", Fraction(60))
    for bad in ("", "two", "-1", "0", "3gb"):
        with pytest.raises(TreeMTLError):
            parse_budget(bad)


def test_profile_from_blocks_json(tmp_path: Path) -> None:
    path = tmp_path / "blocks.json"
    path.write_text(json.dumps({"backbone": "x", "coarse_blocks": [
        {"index": 0, "fine_blocks": [0], "flops": 100, "params": 5},
        {"index": 1, "fine_blocks": [1, 2], "flops": 300, "params": 7}]}))
    profile = BlockProfile.from_json(path)
    assert profile.flops == (100, 300) and profile.params == (5, 7)
    path.write_text(json.dumps({"coarse_blocks": [{"flops": 1}]}))
    with pytest.raises(TreeMTLError, match=r"coarse_blocks\[0\] needs"):
        BlockProfile.from_json(path)
    with pytest.raises(TreeMTLError, match="not found"):
        BlockProfile.from_json(tmp_path / "missing.json")


def test_profile_for_an_experiment_checks_the_block_count(tmp_path: Path) -> None:
    assert BlockProfile.for_blocks(None, 3) == BlockProfile.uniform(3)
    path = tmp_path / "blocks.json"
    path.write_text(json.dumps({"coarse_blocks": [{"flops": 2, "params": 1}, {"flops": 6, "params": 3}]}))
    assert BlockProfile.for_blocks(path, 2).flops == (2, 6)
    with pytest.raises(TreeMTLError, match="2 coarse blocks but backbone.blocks = 5"):
        BlockProfile.for_blocks(path, 5)


def test_profile_validation() -> None:
    with pytest.raises(TreeMTLError, match="one per block"):
        BlockProfile((1, 2), (1,))
    with pytest.raises(TreeMTLError, match=">= 0"):
        BlockProfile((1, -2), (1, 1))
    with pytest.raises(TreeMTLError, match="expected 5 values"):
        BlockProfile.from_strings("1,2", None, 5)
    assert BlockProfile.from_strings(",".join(map(str, PAPER_FRACTIONS)), None, 5).flops == PAPER_FRACTIONS


@pytest.mark.parametrize("text", ["1e400", "1e400flops", "2e308params", "1e309%"])
def test_budget_beyond_float_range_is_rejected(text: str) -> None:
    with pytest.raises(TreeMTLError, match=f"budget '{text}': must be a finite number"):
        parse_budget(text)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "-1", "-1models", "0", "1e-5000"])
def test_budget_that_is_not_positive_and_finite_is_rejected(text: str) -> None:
    with pytest.raises(TreeMTLError, match=f"budget '{text}'"):
        parse_budget(text)


def test_huge_budget_admits_every_layout() -> None:
    """The largest float budget times a large backbone total must not overflow the comparison."""
    space = layout_space(3, 5)
    for profile in (BlockProfile((10**9,) * 5, (1,) * 5), BlockProfile((1e300,) * 5, (0.5,) * 5)):
        costs = layout_costs(space.copies(), profile, 3)
        assert parse_budget("1e308").mask(costs).all()
        assert parse_budget("1.7e308flops").mask(costs).sum() == (costs.flops <= 1.7e308).sum()


def test_nothing_fits_names_budget_and_cheapest_cost() -> None:
    space = layout_space(3, 5)
    costs = layout_costs(space.copies(), BlockProfile((1, 2, 3, 4, 10), (5, 5, 5, 5, 5)), 3)
    assert parse_budget("0.5").nothing_fits(costs) == "no layout within budget 0.5 models (cheapest: 1 models)"
    assert parse_budget("10%").nothing_fits(costs) == (
        "no layout within budget 10% of independent FLOPs (cheapest: 33.3333% of independent FLOPs)"
    )
    assert parse_budget("19flops").nothing_fits(costs) == "no layout within budget 19 FLOPs (cheapest: 20 FLOPs)"
    assert parse_budget("3params").nothing_fits(costs) == "no layout within budget 3 params (cheapest: 25 params)"
    for text in ("0.5", "10%", "19flops", "3params"):
        assert not parse_budget(text).mask(costs).any()
