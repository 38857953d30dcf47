"""Build the tidy two-task table from the metrics of trained single- and two-task models.

This is where measurements become the estimator's input: for every pair (a, b) of the config's
tasks and every branch point k = 1..B, the relative performance (%) of a and of b in the
two-task model sharing blocks < k, against the single-task model of the same task and recipe.
Branch 0 (independent models) is 0 by definition and written explicitly, so the table is
complete as the estimator expects. Files are read from a results tree
(:class:`treemtl.results_tree.ResultsTree`): ``single/<task>/metrics.json`` and
``pairs/<a>__<b>/branch<k>/metrics.json``, plus ``seed<s>/metrics.json`` inside each of those
folders for every repeat seed. With a subset of branch points per pair (``pairs.branches``), the
others are interpolated along the branch axis (:mod:`treemtl.core.branch_interpolation`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from treemtl.core.branch_interpolation import check_branches, interpolate_branches
from treemtl.core.relative_performance import relative_performance, skipped_note
from treemtl.errors import TreeMTLError
from treemtl.results_tree import ResultsTree, pair_name
from treemtl.training.metrics_file import read_mean_metrics
from treemtl.training.tasks import get_task

if TYPE_CHECKING:
    from treemtl.training.config import ExperimentConfig

COLUMNS: tuple[str, ...] = ("task_a", "task_b", "branch", "delta_a", "delta_b")


def _delta(source: Path, task: str, metrics: Mapping[str, float], reference: Mapping[str, float],
           directions: Mapping[str, bool]) -> float:
    delta = relative_performance(task, metrics, reference, directions, str(source))
    if note := skipped_note(task, delta, str(source)):
        print(note, file=sys.stderr)
    return delta.percent


def build_two_task_table(
    results: str | Path, tasks: Sequence[str], num_blocks: int, repeat_seeds: Sequence[int] = (),
    config: ExperimentConfig | None = None, branches: Sequence[int] | None = None, repeat_pairs: bool = True,
) -> pd.DataFrame:
    """Tidy table (columns :data:`COLUMNS`) for every pair of ``tasks`` in their given order.

    Metric directions come from the tasks of ``config`` (needed for tasks declared by type or
    plugin), or from the built-in tasks without one.

    With ``repeat_seeds``, every single- and two-task metric is the mean over the main run and the
    repeats before Δ is taken: one seed's luck would otherwise shift a whole task's column
    (``repeat_pairs`` False: the repeats are of the singles only).

    ``branches`` (default 1..B) are the trained branch points of every pair; Δ at the others is
    interpolated linearly between them (branch 0 = 0).
    """
    runs: list[int | None] = [None, *repeat_seeds]
    return table_from_runs(results, tasks, num_blocks, runs, runs if repeat_pairs else [None], config, branches)


def table_from_runs(
    results: str | Path, tasks: Sequence[str], num_blocks: int, single_runs: Sequence[int | None],
    pair_runs: Sequence[int | None], config: ExperimentConfig | None = None, branches: Sequence[int] | None = None,
) -> pd.DataFrame:
    """The table from the chosen runs of each model (``None`` = the main run, else a repeat seed).

    :func:`build_two_task_table` chooses what the workflow trained; choosing subsets of the runs
    of one fully trained experiment shows what a table with fewer seeds would have ranked.
    """
    if len(tasks) < 2:
        raise TreeMTLError(f"a two-task table needs at least two tasks, got {list(tasks)}")
    if num_blocks < 1:
        raise TreeMTLError(f"--blocks must be >= 1, got {num_blocks}")
    if not single_runs or not pair_runs:
        raise TreeMTLError(f"a two-task table needs at least one run of each model, got singles {list(single_runs)}, "
                           f"pairs {list(pair_runs)}")
    directions = {task: get_task(task, config).directions for task in tasks}
    points = check_branches(range(1, num_blocks + 1) if branches is None else branches, num_blocks, "--branches")
    tree = ResultsTree(Path(results))
    singles = {task: read_mean_metrics([tree.single_metrics(task, r) for r in single_runs], [task])[task]
               for task in tasks}
    rows: list[tuple[str, str, int, float, float]] = []
    for task_a, task_b in combinations(tasks, 2):
        pair = pair_name(task_a, task_b)
        side_a: dict[int, float] = {}
        side_b: dict[int, float] = {}
        for branch in points:
            path = tree.pair_metrics(pair, branch)
            metrics = read_mean_metrics([tree.pair_metrics(pair, branch, r) for r in pair_runs], [task_a, task_b])
            side_a[branch] = _delta(path, task_a, metrics[task_a], singles[task_a], directions[task_a])
            side_b[branch] = _delta(path, task_b, metrics[task_b], singles[task_b], directions[task_b])
        curve_a = interpolate_branches(side_a, num_blocks)
        curve_b = interpolate_branches(side_b, num_blocks)
        rows += [(task_a, task_b, k, float(curve_a[k]), float(curve_b[k])) for k in range(num_blocks + 1)]
    return pd.DataFrame(rows, columns=list(COLUMNS))
