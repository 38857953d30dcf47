"""How the ranking score weighs the tasks: the paper's SVD-entropy weights, equal weights, or priorities.

The score of a layout is ``weights · estimates``. The paper weighs each task by the regularity of
its two-task curves (``svde``, :func:`treemtl.core.estimator.task_weights`); ``equal`` weighs
every task alike, which is what the overall relative performance Δt averages; user priorities
(``{task: priority}``, normalised to sum 1) state the objective a user actually has, and the
reports' Δt then uses the same priorities. Text form (the ``--weighting`` flag): ``svde``,
``equal`` or ``task=priority,...``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from treemtl.core.estimator import TwoTaskTable, task_weights
from treemtl.errors import TreeMTLError

SVDE = "svde"
EQUAL = "equal"
PRIORITIES = "priorities"


@dataclass(frozen=True)
class Weighting:
    """One way of weighing tasks: ``kind`` is svde, equal or priorities (then ``priorities`` is set)."""

    kind: str
    priorities: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in (SVDE, EQUAL, PRIORITIES):
            raise TreeMTLError(f"weighting: expected {SVDE}, {EQUAL} or task priorities, got {self.kind!r}")
        if (self.kind == PRIORITIES) != bool(self.priorities):
            raise TreeMTLError("weighting: priorities are given exactly when the kind is 'priorities'")
        object.__setattr__(self, "priorities", dict(self.priorities))

    @property
    def name(self) -> str:
        """``svde``, ``equal`` or ``priorities``: the label of this weighting in tables."""
        return self.kind

    def text(self) -> str:
        """The ``--weighting`` flag's form: ``svde``, ``equal`` or ``a=2,b=1``."""
        if self.kind != PRIORITIES:
            return self.kind
        return ",".join(f"{task}={value:g}" for task, value in self.priorities.items())

    def to_config(self) -> str | dict[str, float]:
        """The ``estimator.weights`` config value."""
        return self.kind if self.kind != PRIORITIES else dict(self.priorities)

    def weights(self, table: TwoTaskTable) -> np.ndarray:
        """Weight of every task of ``table`` (in its task order), summing to 1."""
        if self.kind == SVDE:
            return task_weights(table)
        return self.normalised(table.tasks)

    def normalised(self, tasks: Sequence[str]) -> np.ndarray:
        """Equal or priority weights of ``tasks`` (no two-task table needed), summing to 1."""
        if self.kind == SVDE:
            raise TreeMTLError("svde weights need the two-task table")
        if self.kind == EQUAL:
            return np.full(len(tasks), 1.0 / len(tasks))
        unknown = sorted(set(self.priorities) - set(tasks))
        missing = [task for task in tasks if task not in self.priorities]
        if unknown or missing:
            raise TreeMTLError(
                f"weighting {self.text()}: expected a priority for each task of {', '.join(tasks)}"
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
                + (f"; missing {', '.join(missing)}" if missing else "")
            )
        values = np.array([self.priorities[task] for task in tasks], dtype=np.float64)
        return values / values.sum()

    def delta_weights(self, tasks: Sequence[str]) -> dict[str, float] | None:
        """Task weights of the overall Δt: the priorities when given, else None (the plain mean)."""
        if self.kind != PRIORITIES:
            return None
        return {task: float(w) for task, w in zip(tasks, self.normalised(tasks))}


def parse_weighting(value: Any, where: str = "--weighting") -> Weighting:
    """A weighting from its text (``svde``, ``equal``, ``a=2,b=1``) or config value (a mapping)."""
    if isinstance(value, Weighting):
        return value
    if isinstance(value, Mapping):
        pairs = [(str(task), priority) for task, priority in value.items()]
    elif isinstance(value, str) and value.strip() in (SVDE, EQUAL):
        return Weighting(value.strip())
    elif isinstance(value, str) and "=" in value:
        pairs = []
        for item in value.split(","):
            task, sep, number = item.partition("=")
            if not sep or not task.strip():
                raise TreeMTLError(f"{where}: expected task=priority, got {item!r}")
            pairs.append((task.strip(), number.strip()))
    else:
        raise TreeMTLError(f"{where}: expected {SVDE}, {EQUAL} or task=priority,... got {value!r}")
    priorities: dict[str, float] = {}
    for task, raw in pairs:
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise TreeMTLError(f"{where}: priority of {task} must be a number, got {raw!r}") from None
        if isinstance(raw, bool) or not math.isfinite(number) or number < 0:
            raise TreeMTLError(f"{where}: priority of {task} must be a finite number >= 0, got {raw!r}")
        if task in priorities:
            raise TreeMTLError(f"{where}: task {task} given twice")
        priorities[task] = number
    if not priorities or sum(priorities.values()) <= 0:
        raise TreeMTLError(f"{where}: at least one task priority must be > 0, got {value!r}")
    return Weighting(PRIORITIES, priorities)


def compared_weightings(configured: Weighting) -> list[Weighting]:
    """The weightings an oracle compares side by side: svde, equal and the configured priorities."""
    chosen = [Weighting(SVDE), Weighting(EQUAL)]
    if configured.kind == PRIORITIES:
        chosen.append(configured)
    return chosen
