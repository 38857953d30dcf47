"""Oracle statistics: stratified sampling, correlations with bootstrap intervals, regret, seed spread."""

from __future__ import annotations

import numpy as np
import pytest

from treemtl.errors import TreeMTLError
from treemtl.evaluation.oracle import (
    correlation,
    correlation_report,
    layout_strata,
    per_task_agreement,
    real_deltas,
    regret,
    regret_report,
    seed_spread,
    stratified_sample,
)


def test_perfect_and_reversed_correlation() -> None:
    x = np.arange(10.0)
    report = correlation_report(x, 2 * x + 1, resamples=200, seed=1)
    for method in ("pearson", "spearman", "kendall"):
        assert report[method]["value"] == pytest.approx(1.0)
    reverse = correlation_report(x, -x**3, resamples=200, seed=1)
    for method in ("spearman", "kendall"):
        assert reverse[method]["value"] == pytest.approx(-1.0)
    assert reverse["pearson"]["value"] < -0.9


def test_bootstrap_interval_contains_estimate_and_is_seeded() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    y = x + rng.normal(scale=1.0, size=30)
    first = correlation(x, y, "pearson", resamples=500, seed=7)
    again = correlation(x, y, "pearson", resamples=500, seed=7)
    assert first == again
    assert first.ci_low <= first.value <= first.ci_high
    assert first.ci_high - first.ci_low > 0.01
    assert first.value == pytest.approx(np.corrcoef(x, y)[0, 1])


def test_degenerate_correlation_is_none() -> None:
    assert correlation([1.0, 2.0], [3.0, 4.0]).value is None
    assert correlation([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]).value is None


def test_regret_zero_when_top1_is_best() -> None:
    ids = [0, 1, 2, 3]
    real = [1.0, 3.0, 2.0, 0.0]
    result = regret(ids, predicted=real, real=real, feasible=[True] * 4, budget=1.0, k=2)
    assert result.regret_top1 == 0.0 and result.top1_id == 1 and result.best_id == 1
    assert result.topk_ids == (1, 2)


def test_regret_with_wrong_prediction_and_budget() -> None:
    ids = [0, 1, 2, 3]
    real = [1.0, 3.0, 2.0, 0.0]
    predicted = [0.0, 1.0, 2.0, 3.0]  # ranks 3, 2, 1, 0
    result = regret(ids, predicted, real, feasible=[True] * 4, budget=2.0, k=2)
    assert result.top1_id == 3 and result.regret_top1 == pytest.approx(3.0)
    assert result.topk_ids == (3, 2) and result.regret_topk == pytest.approx(1.0)
    limited = regret(ids, predicted, real, feasible=[True, False, True, False], budget=1.0, k=1)
    assert limited.candidates == 2 and limited.best_id == 2 and limited.regret_top1 == 0.0
    empty = regret(ids, predicted, real, feasible=[False] * 4, budget=0.5)
    assert empty.candidates == 0 and empty.regret_top1 is None


def test_regret_report_uses_flops_budgets() -> None:
    masks = {1.0: [True, False], 2.0: [True, True]}  # layouts of 1 and 2 backbones of FLOPs
    rows = regret_report([0, 1], [1.0, 2.0], [5.0, 1.0], masks, k=1)
    assert rows[0]["candidates"] == 1 and rows[0]["top1_id"] == 0
    assert rows[1]["top1_id"] == 1 and rows[1]["regret_top1"] == pytest.approx(4.0)


def test_stratified_sample_seeded_with_references() -> None:
    groups = [1] * 10 + [2] * 20 + [3] * 30
    flops = list(np.linspace(1, 3, 60))
    strata = layout_strata(groups, flops, flops_bins=3)
    sample = stratified_sample(strata, 12, seed=5, always=[0, 59])
    assert len(sample) == 12 and len(set(sample)) == 12
    assert 0 in sample and 59 in sample
    assert sample == stratified_sample(strata, 12, seed=5, always=[0, 59])
    assert sample != stratified_sample(strata, 12, seed=6, always=[0, 59])
    # proportional allocation: every group count is represented
    assert {groups[i] for i in sample} == {1, 2, 3}
    assert stratified_sample(strata, None, seed=0) == list(range(60))
    assert stratified_sample(strata, 100, seed=0) == list(range(60))
    with pytest.raises(TreeMTLError):
        stratified_sample(strata, 1, seed=0, always=[0, 59])


def test_seed_spread_and_real_deltas() -> None:
    per_seed = {0: {0: 1.0, 1: 3.0}, 5: {0: 2.0, 1: 2.0}, 7: {0: 4.0}}
    assert real_deltas(per_seed) == {0: 2.0, 5: 2.0, 7: 4.0}
    spread = seed_spread(per_seed)
    assert spread.max_std == pytest.approx(np.sqrt(2.0)) and spread.max_std_id == 0
    assert spread.mean_std == pytest.approx(np.sqrt(2.0) / 2)
    assert spread.seeds == 2 and spread.layouts == 3


def test_stratified_sample_keeps_rare_strata() -> None:
    strata = ["common"] * 95 + ["rare"] * 2 + ["odd"] * 3
    for seed in range(5):
        sample = stratified_sample(strata, 6, seed=seed)
        assert len(sample) == 6
        assert {strata[i] for i in sample} == {"common", "rare", "odd"}


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_vectorized_bootstrap_matches_scipy(method: str) -> None:
    from scipy import stats

    from treemtl.evaluation.oracle import bootstrap_statistics

    rng = np.random.default_rng(4)
    x = np.round(rng.normal(size=12), 1)  # rounding creates ties, as duplicates in resamples do
    y = np.round(x + rng.normal(size=12), 1)
    idx = rng.integers(0, 12, size=(50, 12))
    fast = bootstrap_statistics(method, x, y, idx)
    scipy_fn = {"pearson": stats.pearsonr, "spearman": stats.spearmanr, "kendall": stats.kendalltau}[method]
    slow = np.array([scipy_fn(x[i], y[i]).statistic for i in idx])
    np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_trained_metrics_prefers_oracle_mean_then_final(tmp_path) -> None:
    import json

    from treemtl.evaluation.oracle import oracle_runs, trained_metrics
    from treemtl.results_tree import ResultsTree

    def write(path, value: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"metrics": {"normal": {"mean_angle": value}}}))

    tree = ResultsTree(tmp_path)
    write(tree.oracle_metrics(3, 0), 10.0)
    write(tree.oracle_metrics(3, 1), 20.0)
    write(tree.final_metrics(3), 99.0)
    write(tree.final_metrics(4), 7.0)
    metrics, source = trained_metrics(tmp_path, 3, [0, 1])
    assert metrics["normal"]["mean_angle"] == pytest.approx(15.0) and source.startswith("oracle")
    assert trained_metrics(tmp_path, 4, [0, 1]) == ({"normal": {"mean_angle": 7.0}}, "final")
    assert trained_metrics(tmp_path, 5, [0, 1]) is None
    with pytest.raises(TreeMTLError, match="missing"):
        oracle_runs(tmp_path, [3, 4], [0, 1])
    assert set(oracle_runs(tmp_path, [3, 4], [0, 1], allow_missing=True)) == {3}


def test_per_task_agreement_separates_tasks() -> None:
    real = {"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, 2.0, 3.0, 4.0]}
    estimates = {"a": [0.1, 0.2, 0.3, 0.5], "b": [4.0, 3.0, 2.0, 1.0]}
    agreement = per_task_agreement(estimates, real)
    assert agreement["a"]["spearman"] == pytest.approx(1.0) and agreement["a"]["kendall"] == pytest.approx(1.0)
    assert agreement["b"]["pearson"] == pytest.approx(-1.0)
    with pytest.raises(TreeMTLError, match=r"\['c'\]"):
        per_task_agreement({**estimates, "c": [1.0, 2.0, 3.0, 4.0]}, real)

