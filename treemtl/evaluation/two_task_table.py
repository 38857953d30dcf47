"""Build the tidy two-task table from the metrics of trained single- and two-task models.

This is where measurements become the estimator's input: for every pair (a, b) of the config's
tasks and every branch point k = 1..B, the relative performance (%) of a and of b in the
two-task model sharing blocks < k, against the single-task model of the same task and recipe.
Branch 0 (independent models) is 0 by definition and written explicitly, so the table is
complete as the estimator expects. Files are read from the workflow's results layout:
``single/<task>/metrics.json`` and ``pairs/<a>__<b>/branch<k>/metrics.json``, plus
``seed<s>/metrics.json`` inside each of those folders for every repeat seed.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd

from treemtl.core.relative_performance import relative_performance, skipped_note
from treemtl.errors import TreeMTLError
from treemtl.training.metrics_file import read_mean_metrics
from treemtl.training.tasks import get_task

COLUMNS: tuple[str, ...] = ("task_a", "task_b", "branch", "delta_a", "delta_b")


def _run_folder(folder: Path, repeat_seed: int | None) -> Path:
    """The main run lives in ``folder``; a repeat with another seed in ``folder/seed<s>``."""
    return (folder if repeat_seed is None else folder / f"seed{repeat_seed}") / "metrics.json"


def single_path(results: str | Path, task: str, repeat_seed: int | None = None) -> Path:
    """Metrics of the single-task model of ``task`` (main seed, or one of the repeat seeds)."""
    return _run_folder(Path(results) / "single" / task, repeat_seed)


def pair_path(results: str | Path, task_a: str, task_b: str, branch: int, repeat_seed: int | None = None) -> Path:
    """Metrics of the two-task model of (a, b) branching at ``branch`` (main seed or a repeat)."""
    return _run_folder(Path(results) / "pairs" / f"{task_a}__{task_b}" / f"branch{branch}", repeat_seed)


def _delta(source: Path, task: str, metrics: Mapping[str, float], reference: Mapping[str, float]) -> float:
    delta = relative_performance(task, metrics, reference, get_task(task).directions, str(source))
    if note := skipped_note(task, delta, str(source)):
        print(note, file=sys.stderr)
    return delta.percent


def build_two_task_table(
    results: str | Path, tasks: Sequence[str], num_blocks: int, repeat_seeds: Sequence[int] = ()
) -> pd.DataFrame:
    """Tidy table (columns :data:`COLUMNS`) for every pair of ``tasks`` in their given order.

    With ``repeat_seeds``, every single- and two-task metric is the mean over the main run and the
    repeats before Δ is taken: one seed's luck would otherwise shift a whole task's column.
    """
    if len(tasks) < 2:
        raise TreeMTLError(f"a two-task table needs at least two tasks, got {list(tasks)}")
    if num_blocks < 1:
        raise TreeMTLError(f"--blocks must be >= 1, got {num_blocks}")
    runs: list[int | None] = [None, *repeat_seeds]
    singles = {task: read_mean_metrics([single_path(results, task, r) for r in runs], [task])[task] for task in tasks}
    rows: list[tuple[str, str, int, float, float]] = []
    for task_a, task_b in combinations(tasks, 2):
        rows.append((task_a, task_b, 0, 0.0, 0.0))
        for branch in range(1, num_blocks + 1):
            path = pair_path(results, task_a, task_b, branch)
            metrics = read_mean_metrics([pair_path(results, task_a, task_b, branch, r) for r in runs], [task_a, task_b])
            rows.append(
                (
                    task_a,
                    task_b,
                    branch,
                    _delta(path, task_a, metrics[task_a], singles[task_a]),
                    _delta(path, task_b, metrics[task_b], singles[task_b]),
                )
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))
