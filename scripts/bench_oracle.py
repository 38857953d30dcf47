"""Timings and sanity figures of the oracle and baseline code on the 5-task design space.

Prints: the stratified sample of 40 of the 7,556 layouts (T=5, B=5) and its strata; the What-to-
Share cost of every layout; the exact Task-Grouping searches (partitions and covers); and the
bootstrap correlation (2,000 resamples, three coefficients) on 40 and on 7,556 points.  None of it
trains a model: the figures say what the oracle/baseline steps cost on top of the trainings.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import numpy as np

from treemtl.evaluation.baselines.task_grouping import best_cover, best_partition
from treemtl.evaluation.baselines.what_to_share import dissimilarity_costs
from treemtl.core.cost import BlockProfile, layout_costs as cost_arrays
from treemtl.core.layout import enumerate_layouts, layout_space
from treemtl.evaluation.oracle import correlation_report, layout_strata, stratified_sample


def timed(label: str, action: Callable[[], object]) -> object:
    start = time.perf_counter()
    result = action()
    print(f"{label}: {time.perf_counter() - start:.3f} s")
    return result


def main() -> None:
    tasks, blocks = 5, 5
    space = layout_space(tasks, blocks)
    layouts = enumerate_layouts(tasks, blocks)
    copies = space.copies()
    flops = cost_arrays(copies, BlockProfile.uniform(blocks), tasks).flops_pct
    strata = layout_strata(copies[:, -1].tolist(), flops.tolist())
    independent = len(layouts) - 1 if layouts[-1].copies() == (tasks,) * blocks else next(
        i for i, l in enumerate(layouts) if l.copies() == (tasks,) * blocks)
    sample = timed("stratified sample 40 of 7556", lambda: stratified_sample(strata, 40, seed=0, always=[0, independent]))
    counts = Counter(strata[i] for i in sample)  # type: ignore[union-attr]
    print(f"  strata covered: {len(counts)} of {len(set(strata))}; sizes {dict(sorted(counts.items()))}")

    rng = np.random.default_rng(0)
    diss = rng.uniform(0, 1, size=(blocks, tasks, tasks))
    diss = (diss + diss.transpose(0, 2, 1)) / 2
    timed("What-to-Share cost of 7556 layouts", lambda: dissimilarity_costs(layouts, diss))

    gains = rng.normal(size=(tasks, tasks))
    np.fill_diagonal(gains, 0.0)
    for k in (1, 2, 3, 5):
        part = timed(f"Task-Grouping partitions, {k} backbones", lambda: best_partition(gains, k))
        cover = timed(f"Task-Grouping covers, {k} backbones", lambda: best_cover(gains, k))
        print(f"  partition {part.grouping} {part.score:.3f}; cover {cover.grouping} {cover.score:.3f}")  # type: ignore[union-attr]

    for n in (40, len(layouts)):
        x = rng.normal(size=n)
        y = 0.6 * x + rng.normal(scale=0.8, size=n)
        report = timed(f"correlation + 2000 bootstrap resamples, {n} points", lambda: correlation_report(x, y, resamples=2000, seed=0))
        pearson = report["pearson"]  # type: ignore[index]
        print(f"  pearson {pearson['value']:.3f} [{pearson['ci_low']:.3f}, {pearson['ci_high']:.3f}]")


if __name__ == "__main__":
    main()
