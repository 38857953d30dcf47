"""Reading a trained model's ``metrics.json``: the one reader every later step uses.

The trainer writes ``{"metrics": {task: {metric: value}}, ...}``. Everything downstream (the
two-task table, the training monitor's references, the oracle, the reports) reads it through
:func:`read_metrics`, which validates the file and names it, and says how to regenerate it,
when it is missing, truncated or not a metrics file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from treemtl.errors import TreeMTLError

Metrics = dict[str, dict[str, float]]

REGENERATE = "delete it and rerun the workflow (snakemake regenerates missing files)"


def read_metrics(path: str | Path, tasks: Sequence[str] | None = None) -> Metrics:
    """Task -> metric -> value of a metrics.json, checked to hold every task of ``tasks``."""
    path = Path(path)
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TreeMTLError(f"{path}: missing (train that model first)") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise TreeMTLError(f"{path}: not a readable metrics.json ({error}); {REGENERATE}") from None
    metrics = data.get("metrics") if isinstance(data, Mapping) else None
    if not isinstance(metrics, Mapping) or not metrics:
        raise TreeMTLError(f"{path}: expected a metrics.json with a non-empty 'metrics' mapping; {REGENERATE}")
    result: Metrics = {}
    for task, values in metrics.items():
        if not isinstance(values, Mapping):
            raise TreeMTLError(f"{path}: metrics of task {task!r} are not a mapping; {REGENERATE}")
        result[str(task)] = {str(name): _number(path, task, name, value) for name, value in values.items()}
    for task in tasks or ():
        if task not in result:
            raise TreeMTLError(f"{path}: no metrics for task {task!r} (has {', '.join(sorted(result))})")
    return result


def _number(path: Path, task: object, name: object, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TreeMTLError(f"{path}: {task}.{name} is {value!r}, expected a number; {REGENERATE}")
    return float(value)


def mean_metrics(runs: Sequence[Metrics]) -> Metrics:
    """Per-metric mean over runs (seeds) of the same model."""
    if not runs:
        raise TreeMTLError("no runs to average")
    try:
        return {
            task: {metric: sum(run[task][metric] for run in runs) / len(runs) for metric in runs[0][task]}
            for task in runs[0]
        }
    except KeyError as error:
        raise TreeMTLError(f"runs to average do not all have metric/task {error}") from None


def read_mean_metrics(paths: Sequence[str | Path], tasks: Sequence[str] | None = None) -> Metrics:
    """Per-metric mean over the metrics.json files of several runs (seeds) of one model."""
    runs = [read_metrics(path, tasks) for path in paths]
    for path, run in zip(paths[1:], runs[1:]):
        for task in runs[0]:
            if set(run.get(task, {})) != set(runs[0][task]):
                raise TreeMTLError(f"{path}: metrics of {task} differ from those of {paths[0]}")
    return mean_metrics(runs)
