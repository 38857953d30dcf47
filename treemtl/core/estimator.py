"""Two-task tables, SVD-entropy task weights, and the estimate of every layout (paper 3.1, App. A).

The recommender never trains the trees it ranks: it trains every two-task model (each task pair,
branching after each block) and estimates a tree from the two-task models *associated* with it.
Task i's estimate in a layout is the mean over j != i of task i's relative performance in the
(i, j) model branching where the layout separates i and j.  Tasks whose two-task curves are
irregular (high SVD entropy) are less predictable, so they weigh less in the ranking score.

Two table formats are read (auto-detected):

* the authors' *wide* table (CSV or XLSX): one row per branch 0..B (column ``branch``, or the
  first column, or the row order), columns ``"(a, b)-0"`` (task a) and ``"(a, b)-1"`` (task b);
* the *tidy* CSV: columns ``task_a,task_b,branch,delta_a,delta_b``, tasks as names or 0-based
  indices.  Task order = ``task_names`` when given, else order of first appearance.

Branch 0 (independent models) must be 0 for both tasks; every pair needs every branch 0..B.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from treemtl.errors import TreeMTLError
from treemtl.core.layout import LayoutSpace

TIDY_COLUMNS = ("task_a", "task_b", "branch", "delta_a", "delta_b")
_WIDE_COLUMN = re.compile(r"^\(\s*(\d+)\s*,\s*(\d+)\s*\)-([01])$")
SVD_ORDER = 3
SVD_DELAY = 1


@dataclass(frozen=True)
class TwoTaskTable:
    """Relative performance (%) of every task in every two-task model.

    ``delta[i, j, k]`` is task i's relative performance in the (i, j) two-task model branching at
    block k (k = 0..B; 0 = independent models, B = all blocks shared).  The diagonal is unused (0).
    """

    tasks: tuple[str, ...]
    delta: np.ndarray
    source: str = "<table>"

    def __post_init__(self) -> None:
        delta = np.asarray(self.delta, dtype=np.float64)
        t = len(self.tasks)
        if delta.ndim != 3 or delta.shape[0] != t or delta.shape[1] != t or delta.shape[2] < 2:
            raise TreeMTLError(
                f"{self.source}: delta must have shape [{t}, {t}, B+1] with B >= 1, got {delta.shape}"
            )
        if len(set(self.tasks)) != t:
            raise TreeMTLError(f"{self.source}: task names must be unique, got {list(self.tasks)}")
        delta = delta.copy()
        delta.setflags(write=False)
        object.__setattr__(self, "delta", delta)

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    @property
    def num_blocks(self) -> int:
        return int(self.delta.shape[2]) - 1

    def renamed(self, task_names: Sequence[str]) -> TwoTaskTable:
        """Same numbers, new task names (in task-index order)."""
        names = tuple(task_names)
        if len(names) != self.num_tasks:
            raise TreeMTLError(
                f"{self.source}: {len(names)} task names given ({','.join(names)}) "
                f"but the table has {self.num_tasks} tasks"
            )
        return TwoTaskTable(names, self.delta, self.source)

    def to_tidy(self) -> pd.DataFrame:
        """The tidy form (one row per pair a < b and branch), task names as written."""
        rows = []
        for a, b in itertools.combinations(range(self.num_tasks), 2):
            for k in range(self.num_blocks + 1):
                rows.append((self.tasks[a], self.tasks[b], k, self.delta[a, b, k], self.delta[b, a, k]))
        return pd.DataFrame(rows, columns=list(TIDY_COLUMNS))


# --------------------------------------------------------------------------- loading
def load_two_task_table(
    path: str | Path,
    task_names: Sequence[str] | None = None,
    num_blocks: int | None = None,
) -> TwoTaskTable:
    """Read a wide (CSV/XLSX) or tidy (CSV) two-task table and validate it.

    ``num_blocks``, when given, must equal the table's number of branches minus one.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise TreeMTLError(f"{source}: two-task table not found")
    try:
        if path.suffix.lower() in (".xlsx", ".xls"):
            frame = pd.read_excel(path, sheet_name=0)
        else:
            frame = pd.read_csv(path, skipinitialspace=True)
    except Exception as error:  # pandas raises many types for unreadable files
        raise TreeMTLError(f"{source}: cannot read two-task table ({error})") from error
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_duplicate_columns(list(frame.columns), source)
    if set(TIDY_COLUMNS) <= set(frame.columns):
        table = from_tidy_frame(frame, source, task_names)
    elif any(_WIDE_COLUMN.match(c) for c in frame.columns):
        table = _from_wide(frame, source, task_names)
    else:
        raise TreeMTLError(
            f"{source}: unrecognized two-task table: expected tidy columns {','.join(TIDY_COLUMNS)} "
            f"or wide columns like \"(0, 1)-0\", got {list(frame.columns)}"
        )
    if num_blocks is not None and table.num_blocks != num_blocks:
        raise TreeMTLError(
            f"{source}: table has branches 0..{table.num_blocks} ({table.num_blocks} blocks) "
            f"but {num_blocks} blocks were requested"
        )
    return table


_MANGLED = re.compile(r"^(.*)\.\d+$")


def _check_duplicate_columns(columns: Sequence[str], source: str) -> None:
    """A column given twice must not silently lose to its twin (pandas renames the second ``X`` ``X.1``)."""
    seen: set[str] = set()
    for column in columns:
        renamed = _MANGLED.match(column)
        twin = renamed[1] if renamed is not None and renamed[1] in seen else column
        if twin in seen:
            raise TreeMTLError(f"{source}: duplicate column {twin!r}")
        seen.add(column)


def _numeric(values: pd.Series, source: str, what: str) -> np.ndarray:
    converted = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(converted))
    if bad.size:
        raise TreeMTLError(f"{source}: {what}: missing or non-numeric value at row {int(bad[0])}")
    return converted


def _branches(values: pd.Series, source: str) -> np.ndarray:
    numbers = _numeric(values, source, "branch")
    if np.any(numbers != np.round(numbers)) or np.any(numbers < 0):
        raise TreeMTLError(f"{source}: branch values must be non-negative integers")
    return numbers.astype(np.int64)


def _from_wide(frame: pd.DataFrame, source: str, task_names: Sequence[str] | None) -> TwoTaskTable:
    pair_columns = {c: _WIDE_COLUMN.match(c) for c in frame.columns}
    other = [c for c, m in pair_columns.items() if m is None]
    branch_column = "branch" if "branch" in other else (other[0] if other and other[0] == frame.columns[0] else None)
    unknown = [c for c in other if c != branch_column]
    if unknown:
        raise TreeMTLError(
            f"{source}: unknown column {unknown[0]!r}; a wide table holds a 'branch' column and "
            f"pair columns like \"(0, 1)-0\" and \"(0, 1)-1\""
        )
    if branch_column is not None:
        branches = _branches(frame[branch_column], source)
    else:
        branches = np.arange(len(frame), dtype=np.int64)
    if len(set(branches.tolist())) != len(branches):
        dup = sorted(k for k in set(branches.tolist()) if (branches == k).sum() > 1)
        raise TreeMTLError(f"{source}: duplicate rows for branch {dup[0]}")
    num_blocks = int(branches.max()) if len(branches) else -1
    missing = sorted(set(range(num_blocks + 1)) - set(branches.tolist()))
    if num_blocks < 1 or missing:
        raise TreeMTLError(
            f"{source}: rows must cover branches 0..B with B >= 1; missing branch "
            f"{missing[0] if missing else 1}"
        )
    columns: dict[tuple[int, int, int], str] = {}
    for column, match in pair_columns.items():
        if match is None:
            continue
        a, b, side = int(match[1]), int(match[2]), int(match[3])
        if a == b:
            raise TreeMTLError(f"{source}: column {column!r} pairs a task with itself")
        key = (min(a, b), max(a, b), side if a < b else 1 - side)
        if key in columns:
            raise TreeMTLError(f"{source}: duplicate column for pair ({key[0]}, {key[1]}): {column!r}")
        columns[key] = column
    num_tasks = max(max(a, b) for a, b, _ in columns) + 1
    order = np.argsort(branches)
    delta = np.zeros((num_tasks, num_tasks, num_blocks + 1))
    for a, b in itertools.combinations(range(num_tasks), 2):
        for side, task, other_task in ((0, a, b), (1, b, a)):
            column = columns.get((a, b, side))
            if column is None:
                raise TreeMTLError(f"{source}: missing column \"({a}, {b})-{side}\" for pair ({a}, {b})")
            values = _numeric(frame[column], source, f"pair ({a}, {b}) column {column!r}")
            delta[task, other_task] = values[order]
    default = tuple(f"task{i}" for i in range(num_tasks))
    _check_branch_zero(delta, default, source)
    table = TwoTaskTable(default, delta, source)
    return table if task_names is None else table.renamed(task_names)


def from_tidy_frame(frame: pd.DataFrame, source: str, task_names: Sequence[str] | None) -> TwoTaskTable:
    """A tidy table (columns :data:`TIDY_COLUMNS`) already in memory, validated as a file's would be."""
    unknown = [c for c in frame.columns if c not in TIDY_COLUMNS]
    if unknown:
        raise TreeMTLError(f"{source}: unknown column {unknown[0]!r}; a tidy table has exactly {','.join(TIDY_COLUMNS)}")
    if len(frame) == 0:
        raise TreeMTLError(f"{source}: the table has no rows")
    raw_a = frame["task_a"].astype(str).str.strip().tolist()
    raw_b = frame["task_b"].astype(str).str.strip().tolist()
    branches = _branches(frame["branch"], source)
    delta_a = _numeric(frame["delta_a"], source, "delta_a")
    delta_b = _numeric(frame["delta_b"], source, "delta_b")
    labels = list(dict.fromkeys(itertools.chain.from_iterable(zip(raw_a, raw_b))))
    all_indices = all(label.isdigit() for label in labels)
    if all_indices:
        indices = sorted({int(x) for x in labels})
        if indices != list(range(len(indices))):
            raise TreeMTLError(f"{source}: task indices must be 0..T-1, got {indices}")
        num_tasks = len(indices)
        index_of = {str(i): i for i in range(num_tasks)}
        names = tuple(task_names) if task_names is not None else tuple(f"task{i}" for i in range(num_tasks))
        if len(names) != num_tasks:
            raise TreeMTLError(
                f"{source}: {len(names)} task names given but the table has {num_tasks} tasks"
            )
    else:
        if task_names is not None:
            names = tuple(task_names)
            unknown = sorted(set(labels) - set(names))
            if unknown:
                raise TreeMTLError(
                    f"{source}: task {unknown[0]!r} is not one of the given task names {list(names)}"
                )
        else:
            names = tuple(labels)
        num_tasks = len(names)
        index_of = {name: i for i, name in enumerate(names)}
    if num_tasks < 2:
        raise TreeMTLError(f"{source}: a two-task table needs at least 2 tasks")
    num_blocks = int(branches.max())
    if num_blocks < 1:
        raise TreeMTLError(f"{source}: branches must go from 0 to B >= 1")
    delta = np.zeros((num_tasks, num_tasks, num_blocks + 1))
    filled = np.zeros((num_tasks, num_tasks, num_blocks + 1), dtype=bool)
    for row, (la, lb, k) in enumerate(zip(raw_a, raw_b, branches.tolist())):
        a, b = index_of[la], index_of[lb]
        if a == b:
            raise TreeMTLError(f"{source}: row {row} pairs task {la!r} with itself")
        if filled[a, b, k]:
            raise TreeMTLError(f"{source}: duplicate row for pair ({names[a]}, {names[b]}) branch {k}")
        filled[a, b, k] = filled[b, a, k] = True
        delta[a, b, k] = delta_a[row]
        delta[b, a, k] = delta_b[row]
    for a, b in itertools.combinations(range(num_tasks), 2):
        for k in range(num_blocks + 1):
            if not filled[a, b, k]:
                raise TreeMTLError(f"{source}: missing row for pair ({names[a]}, {names[b]}) branch {k}")
    _check_branch_zero(delta, names, source)
    return TwoTaskTable(names, delta, source)


def _check_branch_zero(delta: np.ndarray, names: Sequence[str], source: str) -> None:
    """Branch 0 is the independent models themselves: their relative performance is 0 by definition."""
    nonzero = np.argwhere(np.abs(delta[:, :, 0]) > 1e-9)
    if nonzero.size:
        a, b = (int(x) for x in nonzero[0])
        raise TreeMTLError(
            f"{source}: branch 0 must be 0 (independent models) but task {names[a]} in pair "
            f"({names[min(a, b)]}, {names[max(a, b)]}) is {delta[a, b, 0]:g}"
        )


def write_tidy_csv(table: TwoTaskTable, path: str | Path) -> None:
    """Write the tidy CSV atomically (temp file in the same folder, then rename)."""
    from treemtl.atomic import write_text_atomic

    write_text_atomic(path, table.to_tidy().to_csv(index=False))


# --------------------------------------------------------------------------- weights
def svd_entropy(series: Sequence[float], order: int = SVD_ORDER, delay: int = SVD_DELAY) -> float:
    """Normalized SVD entropy of a 1-D series (0 = regular, 1 = as irregular as possible).

    Rows of the delay-embedded matrix are ``series[i : i + order*delay : delay]``; its singular
    values, normalized to sum 1, are a distribution whose Shannon entropy (bits) is divided by
    ``log2(order)``.  A series that is all zeros has no singular value mass: entropy 0.
    """
    x = np.asarray(series, dtype=np.float64)
    rows = len(x) - (order - 1) * delay
    if order < 2 or rows < 1:
        raise ValueError(f"series of length {len(x)} too short for order {order}, delay {delay}")
    embedded = np.stack([x[i: i + rows] for i in range(0, order * delay, delay)], axis=1)
    singular = np.linalg.svd(embedded, compute_uv=False)
    total = singular.sum()
    if total <= 0:
        return 0.0
    p = singular / total
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum() / math.log2(order))


def pair_entropies(table: TwoTaskTable) -> np.ndarray:
    """[T, T] normalized SVD entropy of task i's curve over branches 1..B in the (i, j) model."""
    t = table.num_tasks
    result = np.zeros((t, t))
    for i in range(t):
        for j in range(t):
            if i != j:
                result[i, j] = svd_entropy(table.delta[i, j, 1:])
    return result


def task_weights(table: TwoTaskTable) -> np.ndarray:
    """Weight per task: 1 - mean_j entropy(i, j), normalized to sum 1.

    Needs B >= 3 (one embedding row); with fewer blocks, or when every weight is 0, the curves
    say nothing about regularity and the weights are uniform.
    """
    t = table.num_tasks
    if t < 2 or table.num_blocks < SVD_ORDER:
        return np.full(t, 1.0 / t)
    entropies = pair_entropies(table)
    raw = 1.0 - entropies.sum(axis=1) / (t - 1)
    total = raw.sum()
    if total <= 0:
        return np.full(t, 1.0 / t)
    return raw / total


# --------------------------------------------------------------------------- estimates
def estimate_tasks(table: TwoTaskTable, space: LayoutSpace) -> np.ndarray:
    """[L, T] estimated relative performance of each task in every layout, fully vectorized.

    A gather of ``delta[a, b, branch_point]`` per (layout, pair) followed by a matrix product with
    the pair-task incidence matrix averages each task over its T-1 partners.
    """
    _check_space(table, space)
    t = table.num_tasks
    if t < 2:
        return np.zeros((len(space), t))
    pairs = np.array(space.pairs, dtype=np.int64)
    branch = space.branch_points()  # [L, P]
    p_index = np.arange(len(pairs))
    side_a = table.delta[pairs[:, 0], pairs[:, 1]]  # [P, B+1]
    side_b = table.delta[pairs[:, 1], pairs[:, 0]]
    values_a = side_a[p_index, branch]  # [L, P]
    values_b = side_b[p_index, branch]
    incidence_a = np.zeros((len(pairs), t))
    incidence_b = np.zeros((len(pairs), t))
    incidence_a[p_index, pairs[:, 0]] = 1.0
    incidence_b[p_index, pairs[:, 1]] = 1.0
    return (values_a @ incidence_a + values_b @ incidence_b) / (t - 1)


def scores(estimates: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Ranking score of every layout: weighted sum of its task estimates."""
    return estimates @ np.asarray(weights, dtype=np.float64)


def _check_space(table: TwoTaskTable, space: LayoutSpace) -> None:
    if space.num_tasks != table.num_tasks or space.num_blocks != table.num_blocks:
        raise TreeMTLError(
            f"{table.source}: table has {table.num_tasks} tasks and {table.num_blocks} blocks but the "
            f"layouts are for {space.num_tasks} tasks and {space.num_blocks} blocks"
        )
