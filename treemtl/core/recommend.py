"""Performance table of every layout, budget filter, top-k and Pareto front (paper 3, 4.2).

The performance table is computed once (estimates, score and cost of every layout) so that any
budget query afterwards is a lookup: filter by cost, sort by score (descending, ties by id).
Columns: ``id, layout, est_<task>..., score, flops, params, flops_pct, params_pct``.

It is stored twice by the same writer: as CSV for people, and as an ``.npz`` of the same columns
(:class:`PerformanceLookup`) that loads in milliseconds, for budget queries over 10^5 layouts.
The layouts themselves can come from a stored ``layouts.csv`` (:func:`read_layouts`) instead of
being enumerated again.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from treemtl.atomic import write_bytes_atomic, write_text_atomic
from treemtl.core.cost import BlockProfile, Budget, LayoutCosts, layout_costs
from treemtl.errors import TreeMTLError
from treemtl.core.estimator import TwoTaskTable, estimate_tasks, scores, task_weights
from treemtl.core.layout import Layout, LayoutSpace, chain_branch_points, chain_copies, layout_space

ATTRS = ("num_tasks", "num_blocks", "backbone_flops", "backbone_params")


def performance_table(
    table: TwoTaskTable,
    profile: BlockProfile | None = None,
    weights: np.ndarray | None = None,
    space: LayoutSpace | None = None,
) -> pd.DataFrame:
    """One row per layout id with estimates, score and cost (uniform blocks when no profile).

    ``space`` defaults to the enumeration of (T, B); pass :func:`read_layouts` of a stored
    layouts.csv to reuse it. The frame's ``attrs`` keep the backbone totals, so budgets can be
    applied to it later.
    """
    space = space if space is not None else layout_space(table.num_tasks, table.num_blocks)
    profile = profile if profile is not None else BlockProfile.uniform(table.num_blocks)
    if profile.num_blocks != table.num_blocks:
        raise TreeMTLError(
            f"{profile.source}: profile has {profile.num_blocks} blocks but {table.source} has "
            f"{table.num_blocks}"
        )
    weights = task_weights(table) if weights is None else np.asarray(weights, dtype=np.float64)
    estimates = estimate_tasks(table, space)
    costs = layout_costs(space.copies(), profile, table.num_tasks)
    columns: dict[str, object] = {"id": np.arange(len(space), dtype=np.int64), "layout": space.texts()}
    for i, task in enumerate(table.tasks):
        columns[f"est_{task}"] = estimates[:, i]
    columns["score"] = scores(estimates, weights)
    columns.update(flops=costs.flops, params=costs.params,
                   flops_pct=costs.flops_pct, params_pct=costs.params_pct)
    frame = pd.DataFrame(columns)
    _set_attrs(frame, table.num_tasks, table.num_blocks, costs.backbone_flops, costs.backbone_params)
    return frame


def performance_rows(
    table: TwoTaskTable,
    layouts: Sequence[Layout],
    ids: Sequence[int] | np.ndarray,
    profile: BlockProfile | None = None,
    weights: np.ndarray | None = None,
) -> pd.DataFrame:
    """The performance table's rows of ``layouts`` (in that order, with ``ids``), by the table's own code.

    What the search and the sampled score landscape use where the whole table is too large.
    """
    index: dict[tuple[int, ...], int] = {}
    chains = []
    for layout in layouts:
        chain = []
        for block in layout.blocks:
            masks = tuple(sum(1 << t for t in group) for group in block)
            chain.append(index.setdefault(masks, len(index)))
        chains.append(chain)
    array = np.asarray(chains, dtype=np.int32).reshape(len(layouts), table.num_blocks)
    space = StoredLayoutSpace(table.num_tasks, table.num_blocks, tuple(index), array,
                              tuple(layout.format() for layout in layouts))
    frame = performance_table(table, profile, weights, space=space)
    ids = list(ids)
    frame["id"] = np.asarray(ids, dtype=np.int64) if all(0 <= i < 2**63 for i in ids) else pd.Series(ids, dtype=object)
    return frame


def _set_attrs(frame: pd.DataFrame, num_tasks: int, num_blocks: int,
               backbone_flops: float, backbone_params: float) -> None:
    frame.attrs.update(num_tasks=num_tasks, num_blocks=num_blocks,
                       backbone_flops=backbone_flops, backbone_params=backbone_params)


def task_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("est_")]


def costs_of(frame: pd.DataFrame) -> LayoutCosts:
    """The cost arrays of a performance table (rows in frame order)."""
    missing = [a for a in ATTRS if a not in frame.attrs]
    if missing:
        raise TreeMTLError(f"performance table lacks backbone totals ({', '.join(missing)}); "
                           "build it with performance_table or load_performance_table")
    return LayoutCosts(frame["flops"].to_numpy(), frame["params"].to_numpy(),
                       frame.attrs["backbone_flops"], frame.attrs["backbone_params"],
                       frame.attrs["num_tasks"])


def top_k(frame: pd.DataFrame, k: int, budget: Budget | None = None) -> pd.DataFrame:
    """The k best layouts within the budget, best first.

    Uses a partial selection (``argpartition``) so a query over 10^5 layouts stays fast; ties at
    the cut are resolved by id like a full sort.
    """
    mask = None if budget is None else budget.mask(costs_of(frame))
    rows = top_rows(frame["id"].to_numpy(), frame["score"].to_numpy(), k, mask)
    result = frame.iloc[rows]
    result.attrs.update(frame.attrs)
    return result


def top_rows(ids: np.ndarray, score: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Row positions of the k best rows where ``mask`` holds: score descending, ties by id ascending."""
    if k < 1:
        raise TreeMTLError(f"--top-k must be >= 1, got {k}")
    rows = np.arange(len(score)) if mask is None else np.flatnonzero(mask)
    chosen = score[rows]
    if len(rows) > 4 * k:
        threshold = np.partition(chosen, len(chosen) - k)[len(chosen) - k]
        keep = chosen >= threshold
        rows, chosen = rows[keep], chosen[keep]
    return rows[np.lexsort((ids[rows], -chosen))[:k]]


def pareto_front(frame: pd.DataFrame, cost: str = "flops") -> pd.DataFrame:
    """Layouts no other layout beats on both cost (lower) and score (higher), by increasing cost.

    Among layouts of equal cost only the best score (lowest id on ties) is kept.
    """
    order = np.lexsort((frame["id"].to_numpy(), -frame["score"].to_numpy(), frame[cost].to_numpy()))
    score = frame["score"].to_numpy()[order]
    best = np.maximum.accumulate(score)
    previous = np.concatenate(([-np.inf], best[:-1]))
    keep = order[score > previous]
    result = frame.iloc[keep]
    result.attrs.update(frame.attrs)
    return result


# --------------------------------------------------------------------------- files
def write_performance_table(frame: pd.DataFrame, path: str | Path, lookup: str | Path | None = None) -> None:
    """The CSV at ``path`` and, when ``lookup`` is given, the same table as ``.npz`` there (both atomic)."""
    write_text_atomic(path, frame.to_csv(index=False))
    if lookup is not None:
        buffer = io.BytesIO()
        np.savez(buffer, **_lookup_arrays(frame))
        write_bytes_atomic(lookup, buffer.getvalue())


def load_performance_table(path: str | Path) -> pd.DataFrame:
    """Read a performance_table.csv back, recovering backbone totals from the all-shared row (id 0)."""
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as error:
        raise TreeMTLError(f"{path}: performance table not found") from error
    except Exception as error:
        raise TreeMTLError(f"{path}: cannot read performance table ({error})") from error
    required = ["id", "layout", "score", "flops", "params", "flops_pct", "params_pct"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise TreeMTLError(f"{path}: missing columns {', '.join(missing)}")
    shared = frame[frame["id"] == 0]
    if len(shared) != 1:
        raise TreeMTLError(f"{path}: needs exactly one row with id 0 (the all-shared layout)")
    num_tasks = len(task_columns(frame))
    num_blocks = str(shared["layout"].iloc[0]).count("|") + 1
    _set_attrs(frame, num_tasks, num_blocks,
               shared["flops"].iloc[0].item(), shared["params"].iloc[0].item())
    return frame


# --------------------------------------------------------------------------- fast lookups
LOOKUP_COLUMNS = ("id", "layout", "estimates", "score", "flops", "params", "flops_pct", "params_pct",
                  "tasks", "num_blocks", "backbone_flops", "backbone_params")


def _lookup_arrays(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns and backbone totals of a performance table as arrays for ``np.savez``."""
    costs = costs_of(frame)
    estimates = task_columns(frame)
    return {
        "id": frame["id"].to_numpy(np.int64),
        "layout": np.array(frame["layout"].astype(str).tolist(), dtype=np.bytes_),
        "estimates": frame[estimates].to_numpy(np.float64).reshape(len(frame), len(estimates)),
        "score": frame["score"].to_numpy(np.float64),
        "flops": costs.flops,
        "params": costs.params,
        "flops_pct": frame["flops_pct"].to_numpy(np.float64),
        "params_pct": frame["params_pct"].to_numpy(np.float64),
        "tasks": np.array([column[len("est_"):] for column in estimates], dtype=np.str_),
        "num_blocks": np.asarray(frame.attrs["num_blocks"], dtype=np.int64),
        "backbone_flops": np.asarray(costs.backbone_flops),
        "backbone_params": np.asarray(costs.backbone_params),
    }


@dataclass(frozen=True)
class PerformanceLookup:
    """A stored performance table as arrays: a budget query filters and ranks without a DataFrame."""

    source: Path
    tasks: tuple[str, ...]
    num_blocks: int
    ids: np.ndarray
    layouts: np.ndarray
    estimates: np.ndarray
    score: np.ndarray
    costs: LayoutCosts
    flops_pct: np.ndarray
    params_pct: np.ndarray

    def top_k(self, k: int, budget: Budget | None = None) -> pd.DataFrame:
        """The k best layouts within the budget, best first, as rows of the performance table."""
        mask = None if budget is None else budget.mask(self.costs)
        return self.rows(top_rows(self.ids, self.score, k, mask))

    def rows(self, positions: np.ndarray) -> pd.DataFrame:
        """Rows of the performance table (its columns and ``attrs``) at ``positions``."""
        columns: dict[str, object] = {
            "id": self.ids[positions],
            "layout": [text.decode("ascii") for text in self.layouts[positions]],
        }
        for i, task in enumerate(self.tasks):
            columns[f"est_{task}"] = self.estimates[positions, i]
        columns.update(score=self.score[positions], flops=self.costs.flops[positions],
                       params=self.costs.params[positions], flops_pct=self.flops_pct[positions],
                       params_pct=self.params_pct[positions])
        frame = pd.DataFrame(columns)
        _set_attrs(frame, len(self.tasks), self.num_blocks, self.costs.backbone_flops, self.costs.backbone_params)
        return frame


def load_performance_lookup(path: str | Path) -> PerformanceLookup:
    """Read the ``.npz`` that ``write_performance_table(..., lookup=path)`` wrote."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as stored:
            missing = [name for name in LOOKUP_COLUMNS if name not in stored.files]
            if missing:
                raise TreeMTLError(f"{path}: not a performance table lookup (no {', '.join(missing)}); "
                                   "write it with `treemtl performance-table --npz`")
            arrays = {name: stored[name] for name in LOOKUP_COLUMNS}
    except FileNotFoundError:
        raise TreeMTLError(f"{path}: performance table not found") from None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise TreeMTLError(f"{path}: cannot read performance table lookup ({error})") from None
    tasks = tuple(str(task) for task in arrays["tasks"])
    length = len(arrays["id"])
    if any(len(arrays[name]) != length for name in LOOKUP_COLUMNS[:8]) or arrays["estimates"].shape[1:] != (len(tasks),):
        raise TreeMTLError(f"{path}: columns of different lengths; write it again with `treemtl performance-table`")
    costs = LayoutCosts(arrays["flops"], arrays["params"], arrays["backbone_flops"].item(),
                        arrays["backbone_params"].item(), len(tasks))
    return PerformanceLookup(path, tasks, int(arrays["num_blocks"]), arrays["id"], arrays["layout"],
                             arrays["estimates"], arrays["score"], costs, arrays["flops_pct"], arrays["params_pct"])


# --------------------------------------------------------------------------- stored layouts
@dataclass(frozen=True, eq=False)
class StoredLayoutSpace(LayoutSpace):
    """The layouts of a layouts.csv, in file order; branch points and copies come from its own rows."""

    layout_texts: tuple[str, ...]

    def branch_points(self) -> np.ndarray:
        return chain_branch_points(self.partitions, self.chains, self.pairs)

    def copies(self) -> np.ndarray:
        return chain_copies(self.partitions, self.chains)

    def texts(self) -> list[str]:
        return list(self.layout_texts)


def read_layouts(path: str | Path, num_tasks: int, num_blocks: int) -> StoredLayoutSpace:
    """Layouts of a ``treemtl enumerate --format csv`` file (``id,layout``, ids 0..L-1 in order).

    Each distinct block text is parsed once and each distinct pair of consecutive blocks is checked
    to refine, so 10^5 layouts read in well under a second.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TreeMTLError(f"{path}: layouts file not found (write it with `treemtl enumerate --format csv`)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TreeMTLError(f"{path}: cannot read layouts ({error})") from None
    reader = csv.reader(io.StringIO(text))
    if next(reader, None) != ["id", "layout"]:
        raise TreeMTLError(f"{path}: expected the header 'id,layout' of `treemtl enumerate --format csv`")
    index: dict[str, int] = {}
    partitions: list[tuple[int, ...]] = []
    texts: list[str] = []
    chains: list[list[int]] = []
    for row in reader:
        if len(row) != 2 or row[0] != str(len(texts)):
            raise TreeMTLError(f"{path}: line {len(texts) + 2}: expected '{len(texts)},<layout>' (ids 0.. in order)")
        blocks = row[1].split("|")
        if len(blocks) != num_blocks:
            raise TreeMTLError(f"{path}: layout {row[0]} has {len(blocks)} blocks, expected {num_blocks}")
        chain = []
        for block in blocks:
            found = index.get(block)
            if found is None:
                found = index[block] = len(partitions)
                partitions.append(_partition(path, row[0], block, num_tasks))
            chain.append(found)
        texts.append(row[1])
        chains.append(chain)
    if not texts:
        raise TreeMTLError(f"{path}: no layouts")
    array = np.asarray(chains, dtype=np.int32).reshape(len(chains), num_blocks)
    groups = [tuple(tuple(t for t in range(num_tasks) if m >> t & 1) for m in p) for p in partitions]
    for b in range(num_blocks - 1):
        for first, second in np.unique(array[:, b:b + 2], axis=0).tolist():
            try:
                Layout((groups[first], groups[second]))
            except TreeMTLError:
                bad = int(np.flatnonzero((array[:, b] == first) & (array[:, b + 1] == second))[0])
                raise TreeMTLError(f"{path}: layout {bad} ({texts[bad]}): block {b + 1} does not refine "
                                   f"block {b}") from None
    array.setflags(write=False)
    return StoredLayoutSpace(num_tasks, num_blocks, tuple(partitions), array, tuple(texts))


def _partition(path: Path, layout_id: str, block: str, num_tasks: int) -> tuple[int, ...]:
    """Group bitmasks (ordered by smallest task) of one block's text, checked to cover 0..T-1."""
    try:
        parsed = Layout.parse(block)
    except TreeMTLError as error:
        raise TreeMTLError(f"{path}: layout {layout_id}: {error}") from None
    if parsed.num_tasks != num_tasks:
        raise TreeMTLError(f"{path}: layout {layout_id}: block {block!r} has {parsed.num_tasks} tasks, "
                           f"expected {num_tasks}")
    return tuple(sum(1 << t for t in group) for group in parsed.blocks[0])
