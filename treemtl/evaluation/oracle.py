"""Oracle evaluation: how well does a predicted ranking of layouts match the ranking after training?

The recommender (and each baseline) scores every layout without training it.  The oracle trains
a set of layouts (all of them for small design spaces, a seeded stratified sample otherwise) and
measures the real overall relative performance Δt.  This module holds the pure statistics:

* :func:`stratified_sample` — which layouts to train, spread over the number of branches and the
  cost range so a sample of 40 out of 7,556 still covers cheap and expensive trees alike;
* :func:`correlation_report` — Pearson / Spearman / Kendall with seeded bootstrap intervals
  (paper Table 3 reports Pearson only; the rank correlations say whether the *order* is right);
* :func:`regret` — the Δt lost by trusting the predicted top-k instead of the best trained layout
  within a budget, which is what a user of the recommender actually pays;
* :func:`real_deltas` / :func:`seed_spread` — Δt averaged over oracle seeds and its noise level,
  the yardstick for how large a correlation the data can support;
* :func:`per_task_agreement` — each task's estimate against that task's own real Δ, which tells
  a weak estimate apart from tasks whose gains and losses cancel in the overall Δt.

Everything here is numpy/scipy only (no torch), so it is testable in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from treemtl.errors import TreeMTLError
from treemtl.results_tree import ResultsTree
from treemtl.training.metrics_file import Metrics, mean_metrics, read_metrics

METHODS: tuple[str, ...] = ("pearson", "spearman", "kendall")


# --------------------------------------------------------------------------- sampling
def layout_strata(num_groups: Sequence[int], relative_flops: Sequence[float], flops_bins: int = 3) -> list[tuple[int, int]]:
    """Stratum key of each layout: (groups in its last block, relative-FLOPs quantile bin).

    The number of leaf branches and the cost are the two axes along which layouts differ most in
    accuracy, so a sample balanced over both avoids over-representing the many mid-cost trees.
    """
    if len(num_groups) != len(relative_flops):
        raise TreeMTLError("layout_strata: num_groups and relative_flops differ in length")
    flops = np.asarray(relative_flops, dtype=float)
    if flops.size == 0:
        return []
    bins = max(1, int(flops_bins))
    edges = np.quantile(flops, np.linspace(0.0, 1.0, bins + 1)[1:-1]) if bins > 1 else np.array([])
    flops_bin = np.searchsorted(edges, flops, side="right")
    return [(int(g), int(b)) for g, b in zip(num_groups, flops_bin)]


def stratified_sample(strata: Sequence[Hashable], n: int | None, seed: int, always: Sequence[int] = ()) -> list[int]:
    """Seeded stratified sample of ``n`` indices into ``strata``, always containing ``always``.

    ``n`` None (or >= the number of layouts) returns every index.  The slots left after the forced
    indices first give every stratum one layout (rare shapes, e.g. two branches among thousands of
    trees, would otherwise vanish), then the rest are allocated in proportion to stratum size
    (largest remainder, ties by the stratum's first index; with fewer slots than strata, purely in
    proportion).  Inside a stratum the picks are uniform at random, so the same seed always gives
    the same sample.  Returned sorted.
    """
    total = len(strata)
    forced = sorted(set(int(i) for i in always))
    for index in forced:
        if not 0 <= index < total:
            raise TreeMTLError(f"oracle sample: forced layout id {index} out of range 0..{total - 1}")
    if n is None or n >= total:
        return list(range(total))
    if n < len(forced):
        raise TreeMTLError(f"oracle.sample: expected at least {len(forced)} layouts (the references), got {n}")
    rng = np.random.default_rng(seed)
    taken = set(forced)
    members: dict[Hashable, list[int]] = {}
    for index, key in enumerate(strata):
        if index not in taken:
            members.setdefault(key, []).append(index)
    keys = list(members)
    pool = sum(len(members[k]) for k in keys)
    slots = n - len(forced)
    if slots == 0 or pool == 0:
        return forced
    counts = [0] * len(keys)
    if slots >= len(keys):
        # every stratum is represented once, the rest goes in proportion to what remains
        counts = [1] * len(keys)
        spare, rest = slots - len(keys), pool - len(keys)
        quotas = [spare * (len(members[k]) - 1) / rest if rest else 0.0 for k in keys]
    else:
        quotas = [slots * len(members[k]) / pool for k in keys]
    floors = [int(math.floor(q)) for q in quotas]
    counts = [c + f for c, f in zip(counts, floors)]
    order = sorted(range(len(keys)), key=lambda i: (-(quotas[i] - floors[i]), members[keys[i]][0]))
    for i in order[: slots - sum(counts)]:
        counts[i] += 1
    chosen = list(forced)
    for key, count in zip(keys, counts):
        if count:
            picks = rng.choice(len(members[key]), size=count, replace=False)
            chosen.extend(members[key][int(p)] for p in picks)
    return sorted(chosen)


# --------------------------------------------------------------------------- real Δt
def real_deltas(per_seed: Mapping[int, Mapping[int, float]]) -> dict[int, float]:
    """Mean Δt over seeds per layout id: ``per_seed[id][seed] -> Δt``."""
    return {layout: float(np.mean(list(seeds.values()))) for layout, seeds in per_seed.items() if seeds}


@dataclass(frozen=True)
class SeedSpread:
    """Seed-to-seed noise of Δt: per-layout std (ddof=1) over seeds, summarised."""

    layouts: int
    seeds: int
    mean_std: float | None
    max_std: float | None
    max_std_id: int | None


def seed_spread(per_seed: Mapping[int, Mapping[int, float]]) -> SeedSpread:
    """Mean and max over layouts of the std of Δt across seeds (layouts with >= 2 seeds)."""
    stds = {lid: float(np.std(list(v.values()), ddof=1)) for lid, v in per_seed.items() if len(v) >= 2}
    seeds = max((len(v) for v in per_seed.values()), default=0)
    if not stds:
        return SeedSpread(len(per_seed), seeds, None, None, None)
    worst = max(stds, key=lambda k: (stds[k], -k))
    return SeedSpread(len(per_seed), seeds, float(np.mean(list(stds.values()))), stds[worst], worst)


# --------------------------------------------------------------------------- correlation
@dataclass(frozen=True)
class Correlation:
    """One correlation coefficient with its p-value and a bootstrap confidence interval."""

    value: float | None
    p_value: float | None
    ci_low: float | None
    ci_high: float | None


def _coefficient(method: str, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if method == "pearson":
        result = stats.pearsonr(x, y)
    elif method == "spearman":
        result = stats.spearmanr(x, y)
    elif method == "kendall":
        result = stats.kendalltau(x, y)
    else:
        raise TreeMTLError(f"unknown correlation method {method!r}; expected one of {', '.join(METHODS)}")
    return float(result.statistic), float(result.pvalue)


def _row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row pair of two [R, n] arrays (NaN where a row is constant)."""
    ac = a - a.mean(axis=1, keepdims=True)
    bc = b - b.mean(axis=1, keepdims=True)
    denom = np.sqrt((ac * ac).sum(axis=1) * (bc * bc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (ac * bc).sum(axis=1) / np.where(denom > 0, denom, 1.0), np.nan)


def _row_kendall(a: np.ndarray, b: np.ndarray, max_elements: int = 4_000_000) -> np.ndarray:
    """Kendall's tau-b of each row pair: Σ sign(Δx)·sign(Δy) / sqrt(#untied-x · #untied-y pairs)."""
    rows, n = a.shape
    if n * n > max_elements:  # pairwise sign matrices would not fit: one O(n log n) call per row
        return np.array([stats.kendalltau(a[r], b[r]).statistic for r in range(rows)], dtype=float)
    out = np.empty(rows)
    chunk = max(1, max_elements // (n * n))
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    for start in range(0, rows, chunk):
        sa = np.sign(a[start : start + chunk, :, None] - a[start : start + chunk, None, :])[:, upper]
        sb = np.sign(b[start : start + chunk, :, None] - b[start : start + chunk, None, :])[:, upper]
        denom = np.sqrt(np.abs(sa).sum(axis=1) * np.abs(sb).sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + chunk] = np.where(denom > 0, (sa * sb).sum(axis=1) / np.where(denom > 0, denom, 1.0), np.nan)
    return out


def bootstrap_statistics(method: str, x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The coefficient on each resample ``idx[r]`` of the pairs, vectorized over resamples.

    Gives the same numbers as scipy's pearsonr / spearmanr / kendalltau (tau-b) per resample, NaN
    where a resample is constant on either side, without 2,000 Python-level scipy calls.
    """
    a, b = x[idx], y[idx]
    if method == "pearson":
        return _row_pearson(a, b)
    if method == "spearman":
        return _row_pearson(stats.rankdata(a, axis=1), stats.rankdata(b, axis=1))
    if method == "kendall":
        return _row_kendall(a, b)
    raise TreeMTLError(f"unknown correlation method {method!r}; expected one of {', '.join(METHODS)}")


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def correlation(
    predicted: Sequence[float],
    real: Sequence[float],
    method: str = "pearson",
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Correlation:
    """Correlation of ``predicted`` with ``real`` plus a seeded percentile bootstrap interval.

    Pairs are resampled with replacement; resamples where either side is constant have no
    coefficient and are dropped.  With fewer than 3 points (or a constant side) everything is None.
    """
    x = np.asarray(predicted, dtype=float)
    y = np.asarray(real, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise TreeMTLError(f"correlation: expected two equal-length vectors, got {x.shape} and {y.shape}")
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Correlation(None, None, None, None)
    value, p_value = _coefficient(method, x, y)
    low = high = None
    if resamples > 0:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, x.size, size=(resamples, x.size))
        boot = bootstrap_statistics(method, x, y, idx)
        finite = boot[np.isfinite(boot)]
        if finite.size:
            alpha = (1.0 - confidence) / 2.0
            low, high = (float(v) for v in np.quantile(finite, [alpha, 1.0 - alpha]))
            # The percentile interval of a skewed statistic can miss the point estimate by rounding;
            # widen to include it so the interval always brackets what is reported.
            low, high = min(low, value), max(high, value)
    return Correlation(_clean(value), _clean(p_value), low, high)


def correlation_report(
    predicted: Sequence[float], real: Sequence[float], resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> dict[str, dict[str, float | None]]:
    """All three coefficients as plain dicts (JSON-ready), same bootstrap seed for each."""
    return {
        method: asdict(correlation(predicted, real, method, resamples, seed, confidence)) for method in METHODS
    }


def per_task_agreement(
    estimates: Mapping[str, Sequence[float]], real: Mapping[str, Sequence[float]]
) -> dict[str, dict[str, float | None]]:
    """Pearson / Spearman / Kendall (no intervals) of each task's estimated vs real Δ, same layouts."""
    missing = sorted(set(estimates) ^ set(real))
    if missing:
        raise TreeMTLError(f"per-task agreement: tasks {missing} are not on both sides")
    return {
        task: {method: correlation(estimates[task], real[task], method, resamples=0).value for method in METHODS}
        for task in estimates
    }


# --------------------------------------------------------------------------- regret
@dataclass(frozen=True)
class Regret:
    """Δt lost within one budget by trusting the predicted ranking (0 = picked the best)."""

    budget: float
    candidates: int
    best_id: int | None
    best_real: float | None
    top1_id: int | None
    top1_real: float | None
    regret_top1: float | None
    topk_ids: tuple[int, ...]
    topk_best_real: float | None
    regret_topk: float | None


def regret(
    ids: Sequence[int],
    predicted: Sequence[float],
    real: Sequence[float],
    feasible: Sequence[bool],
    budget: float,
    k: int = 5,
) -> Regret:
    """Regret of the predicted top-1 and top-k among the feasible (within-budget) trained layouts.

    Top-k regret is measured on the best real Δt among the predicted top-k: a user who trains the k
    suggestions keeps the best of them.  Predicted ties are broken by the smaller id, as in ranking.
    """
    rows = [(int(i), float(p), float(r)) for i, p, r, f in zip(ids, predicted, real, feasible) if f]
    if not rows:
        return Regret(budget, 0, None, None, None, None, None, (), None, None)
    best = max(rows, key=lambda row: (row[2], -row[0]))
    ranked = sorted(rows, key=lambda row: (-row[1], row[0]))
    top = ranked[: max(1, k)]
    top_best = max(row[2] for row in top)
    return Regret(
        budget=budget,
        candidates=len(rows),
        best_id=best[0],
        best_real=best[2],
        top1_id=top[0][0],
        top1_real=top[0][2],
        regret_top1=best[2] - top[0][2],
        topk_ids=tuple(row[0] for row in top),
        topk_best_real=top_best,
        regret_topk=best[2] - top_best,
    )


def regret_report(
    ids: Sequence[int],
    predicted: Sequence[float],
    real: Sequence[float],
    feasible_by_budget: Mapping[float, Sequence[bool]],
    k: int = 5,
) -> list[dict[str, object]]:
    """:func:`regret` for every budget; ``feasible_by_budget[b]`` marks the ids that fit budget b."""
    out: list[dict[str, object]] = []
    for budget, feasible in feasible_by_budget.items():
        entry = asdict(regret(ids, predicted, real, feasible, budget, k))
        entry["topk_ids"] = list(entry["topk_ids"])
        out.append(entry)
    return out


# --------------------------------------------------------------------------- trained results
def single_reference(results: str | Path, tasks: Sequence[str]) -> Metrics:
    """Metrics of each task's single-task model (``single/<task>/metrics.json``), the Δ reference."""
    tree = ResultsTree(Path(results))
    return {task: read_metrics(tree.single_metrics(task))[task] for task in tasks}


def oracle_runs(results: str | Path, ids: Sequence[int], seeds: Sequence[int], allow_missing: bool = False) -> dict[int, dict[int, Metrics]]:
    """Metrics of every (layout, seed) oracle run; missing runs are an error unless allowed."""
    runs: dict[int, dict[int, Metrics]] = {}
    missing: list[str] = []
    tree = ResultsTree(Path(results))
    for layout in ids:
        for seed in seeds:
            path = tree.oracle_metrics(layout, seed)
            if path.is_file():
                runs.setdefault(int(layout), {})[int(seed)] = read_metrics(path)
            else:
                missing.append(str(path))
    if missing and not allow_missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise TreeMTLError(f"oracle runs missing: {shown}")
    return runs


def trained_metrics(results: str | Path, layout_id: int, seeds: Sequence[int]) -> tuple[Metrics, str] | None:
    """Metrics of a trained layout and where they come from, or None if it was never trained.

    Oracle runs (mean over the seeds found) come first because they average out seed noise; then
    the recommender's final model.
    """
    tree = ResultsTree(Path(results))
    runs = [read_metrics(p) for s in seeds if (p := tree.oracle_metrics(layout_id, s)).is_file()]
    if runs:
        return mean_metrics(runs), f"oracle ({len(runs)} seed{'s' if len(runs) > 1 else ''})"
    path = tree.final_metrics(layout_id)
    if path.is_file():
        return read_metrics(path), "final"
    return None
