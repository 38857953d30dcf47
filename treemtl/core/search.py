"""Exact top-k layouts within a budget by branch and bound, for spaces too large to enumerate.

The performance table scores every layout; at T=8 and beyond there are too many (45.6 million at
T=8, B=5; 2.7·10^10 at T=10).  The score is a sum over task pairs of a term that depends only on the
pair's branch point, and telescoping that term over the blocks turns a layout's score into a sum
over blocks b of ``within_b(G)`` over the groups G of block b, where ``within_b(G)`` adds, for every
pair inside G, how much the pair's term gains by sharing block b too.  A layout is then a chain of
partitions whose block-b groups each earn ``within_b`` and cost ``cost_b`` (FLOPs or params).

The search builds a layout block by block and, inside a block, group by group, taking at each step
the part of the next group that holds its first task (every layout is built exactly once).  Its
bound is exact when there is no budget: the best completion of each open group is a subset dynamic
program over all 2^T task sets (``value_b(S) = max over partitions of S of the sum of within_b(part)
+ value_{b+1}(part)``), computed once in O(B·3^T).  With a budget it is the Lagrangian bound
``min over λ of [λ·(limit - cost) + best completion of score - λ·cost]``, which the same program
computes for a few multipliers λ around the best one for the whole space; the cost of the open groups
(one instance per group from here on) prunes what cannot fit.  Children are visited best bound
first and the k-th best score found so far is the pruning threshold.

Scores and costs of the answer come from the performance table's own code
(:func:`treemtl.core.recommend.performance_rows` of the found layouts) and its budget check,
so they agree with the table; layout ids are the paper's ids (:func:`treemtl.core.layout.layout_id`).
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from treemtl.core.cost import _TOLERANCE, BlockProfile, Budget, LayoutCosts, layout_costs
from treemtl.core.estimator import TwoTaskTable, task_weights
from treemtl.core.layout import Layout, count_chains, layout_id, mask_tasks
from treemtl.core.recommend import costs_of, performance_rows
from treemtl.errors import TreeMTLError

#: The subset tables hold 3^T/2 (subset, part) pairs: 2.4 million at T=14.
MAX_TASKS = 14
MAX_BLOCKS = 32
#: Relative slack on scores (search sums vs. the table's sums) and on fractional costs.
_SLACK = 1e-9
#: Scores closer than this (relative to the largest) are equal: the rounding of a sum of <= 91 terms.
_TIE = 1e-12


@dataclass(frozen=True)
class SearchLimits:
    """When an unfinished search gives up (with a message saying how far it got)."""

    max_nodes: int = 20_000_000
    max_seconds: float = 600.0


@dataclass(frozen=True)
class SearchStats:
    """How much of the space the search looked at."""

    nodes_visited: int  # partial and complete layouts built
    nodes_pruned: int  # partial layouts never built: bound below the k-th best, or over budget
    layouts_scored: int  # complete layouts reached
    space_size: int  # every layout of (T, B)
    seconds: float

    @property
    def pruning_rate(self) -> float:
        """Share of the generated nodes cut by a bound or the budget."""
        generated = self.nodes_visited + self.nodes_pruned
        return self.nodes_pruned / generated if generated else 0.0

    def describe(self) -> str:
        return (f"{self.nodes_visited:,} nodes visited, {self.nodes_pruned:,} pruned "
                f"({100 * self.pruning_rate:.1f} %), {self.layouts_scored:,} of {self.space_size:,} "
                f"layouts scored, {self.seconds:.2f} s")


@dataclass(frozen=True)
class SearchResult:
    """The exact top-k: ``rows`` has the performance table's columns, best first."""

    rows: pd.DataFrame
    layouts: tuple[Layout, ...]
    stats: SearchStats


def search_top_k(
    table: TwoTaskTable,
    k: int,
    budget: Budget | None = None,
    profile: BlockProfile | None = None,
    weights: np.ndarray | None = None,
    limits: SearchLimits = SearchLimits(),
) -> SearchResult:
    """The k best layouts within ``budget`` (score descending, ties by id), exactly.

    The same rows, in the same order, as ``top_k(performance_table(table, profile, weights), k,
    budget)``, without scoring every layout.  Raises :class:`TreeMTLError` for sizes beyond
    :data:`MAX_TASKS`/:data:`MAX_BLOCKS`, a profile or weights that do not match the table, and a
    search that hits ``limits`` (saying how many of the k it had proven and what would finish).
    """
    started = time.perf_counter()
    num_tasks, num_blocks = table.num_tasks, table.num_blocks
    _check_inputs(table, k, profile, weights)
    profile = profile if profile is not None else BlockProfile.uniform(num_blocks)
    weights = task_weights(table) if weights is None else np.asarray(weights, dtype=np.float64)
    space_size = count_chains(num_tasks, num_blocks)
    cap = _Cap.of(budget, profile, num_tasks)
    if not cap.fits_loose(cap.block_suffix[0]):  # not even the all-shared layout fits
        return SearchResult(_no_rows(table, profile, weights), (), SearchStats(0, 0, 0, space_size, time.perf_counter() - started))
    bounds = _Bounds(table, weights, cap)
    run = _Run(bounds, cap, k, limits, started, budget)
    leaves = run.search()
    rows, layouts = _answer(table, profile, weights, budget, k, leaves)
    stats = SearchStats(run.visited, run.pruned, run.scored, space_size, time.perf_counter() - started)
    return SearchResult(rows, layouts, stats)


def _check_inputs(table: TwoTaskTable, k: int, profile: BlockProfile | None, weights: np.ndarray | None) -> None:
    num_tasks, num_blocks = table.num_tasks, table.num_blocks
    if num_tasks > MAX_TASKS:
        raise TreeMTLError(f"{table.source}: the search supports at most {MAX_TASKS} tasks, the table has {num_tasks}")
    if num_blocks > MAX_BLOCKS:
        raise TreeMTLError(f"{table.source}: the search supports at most {MAX_BLOCKS} blocks, the table has "
                           f"{num_blocks}")
    if k < 1:
        raise TreeMTLError(f"--top-k must be >= 1, got {k}")
    if profile is not None and profile.num_blocks != num_blocks:
        raise TreeMTLError(f"{profile.source}: profile has {profile.num_blocks} blocks but {table.source} has "
                           f"{num_blocks}")
    if weights is not None:
        shape = np.shape(weights)
        if shape != (num_tasks,) or not np.all(np.isfinite(weights)):
            raise TreeMTLError(f"task weights: expected {num_tasks} finite numbers (one per task of "
                               f"{table.source}), got shape {shape}")


# --------------------------------------------------------------------------- budget
@dataclass(frozen=True)
class _Cap:
    """The bounded cost per block and its limit, compared as :mod:`treemtl.core.cost` compares them.

    Integer profiles give integer costs compared exactly with ``floor(limit)``; fractional ones are
    compared with the cost module's relative tolerance, widened (``fits_loose``, for pruning) or
    narrowed (``fits_strict``, for the k-th best threshold) by far more than the rounding of a sum
    of B terms, so a layout at the edge is neither pruned nor allowed to push others out; the
    answer's rows are then checked with the cost module itself.
    """

    block: tuple[float, ...]  # bounded cost of one instance of each block
    block_suffix: tuple[float, ...]  # cost of one instance of blocks b..B-1 (index B: 0)
    normalized: tuple[float, ...]  # block cost / one backbone's total (the Lagrangian's unit)
    limit_normalized: float  # the limit in backbones (inf without a budget)
    exact: bool  # integer costs, compared exactly
    floor: int | None  # exact integer limit
    bound: float  # fractional limit

    @classmethod
    def of(cls, budget: Budget | None, profile: BlockProfile, num_tasks: int) -> _Cap:
        probe = layout_costs(np.full((1, profile.num_blocks), num_tasks), profile, num_tasks)
        if budget is None:
            which, limit = "flops", math.inf
        else:
            which, limit = budget.limit(LayoutCosts(probe.flops[:0], probe.params[:0], probe.backbone_flops,
                                                    probe.backbone_params, num_tasks))
        values = profile.flops if which == "flops" else profile.params
        total = probe.backbone_flops if which == "flops" else probe.backbone_params
        exact = np.issubdtype((probe.flops if which == "flops" else probe.params).dtype, np.integer)
        block = tuple(int(v) if exact else float(v) for v in values)
        suffix = tuple(sum(block[b:]) for b in range(len(block))) + (0,)
        if limit == math.inf:
            return cls(block, suffix, tuple(float(v) / total for v in values), math.inf, False, None, math.inf)
        limit = Fraction(limit)
        return cls(block, suffix, tuple(float(v) / total for v in values), float(limit) / total, exact,
                   math.floor(limit) if exact else None, float(limit))

    def _fits(self, cost: float, slack: float) -> bool:
        if self.exact:
            return cost <= self.floor  # type: ignore[operator]
        return cost <= self.bound + slack * max(abs(self.bound), 1e-300)

    def fits_loose(self, cost: float) -> bool:
        return self.bound == math.inf or self._fits(cost, 2 * _TOLERANCE)

    def fits_strict(self, cost: float) -> bool:
        return self.bound == math.inf or self._fits(cost, 0.5 * _TOLERANCE)


# --------------------------------------------------------------------------- bounds
@dataclass(frozen=True)
class _Subsets:
    """Every (set S, part A of S holding S's lowest task) pair, grouped by S in order of |S|.

    ``part[start[S]:stop[S]]`` are the parts of S and ``rest`` the matching ``S \\ A``.
    """

    part: np.ndarray
    rest: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray, int, int], ...]  # (sets, segment starts, lo, hi) per |S|

    @classmethod
    def of(cls, num_tasks: int) -> _Subsets:
        size = 1 << num_tasks
        masks = np.arange(1, size, dtype=np.int64)
        popcount = np.array([int(m).bit_count() for m in masks.tolist()], dtype=np.int64)
        order = masks[np.lexsort((masks, popcount))]
        patterns = [((np.arange(1 << n)[:, None] >> np.arange(n)) & 1).astype(np.int64) for n in range(num_tasks)]
        parts, rests = [], []
        start = np.zeros(size, dtype=np.int64)
        stop = np.zeros(size, dtype=np.int64)
        offset = 0
        for s in order.tolist():
            low = s & -s
            others = s ^ low
            bits = np.array([1 << t for t in range(num_tasks) if others >> t & 1], dtype=np.int64)
            subs = patterns[len(bits)] @ bits if len(bits) else np.zeros(1, dtype=np.int64)
            parts.append(low + subs)
            rests.append(others - subs)
            start[s], stop[s] = offset, offset + len(subs)
            offset += len(subs)
        part = np.concatenate(parts)
        rest = np.concatenate(rests)
        layers = []
        for n in range(1, num_tasks + 1):
            sets = order[popcount[order - 1] == n]
            lo, hi = int(start[sets[0]]), int(stop[sets[-1]])
            layers.append((sets, start[sets] - lo, lo, hi))
        return cls(part, rest, start, stop, tuple(layers))


class _Bounds:
    """Per-block gains ``within_b`` and best completions ``value_b`` for every task set and multiplier."""

    def __init__(self, table: TwoTaskTable, weights: np.ndarray, cap: _Cap) -> None:
        num_tasks, num_blocks = table.num_tasks, table.num_blocks
        self.num_tasks, self.num_blocks = num_tasks, num_blocks
        pairs = list(itertools.combinations(range(num_tasks), 2))
        delta = table.delta
        term = np.zeros((len(pairs), num_blocks + 1))
        for p, (i, j) in enumerate(pairs):
            term[p] = (weights[i] * delta[i, j] + weights[j] * delta[j, i]) / (num_tasks - 1)
        gain = np.diff(term, axis=1)  # gain[p, b]: what pair p earns by also sharing block b
        self.constant = float(term[:, 0].sum())
        bits = ((np.arange(1 << num_tasks)[:, None] >> np.arange(num_tasks)) & 1).astype(np.float64)
        self.within = np.zeros((num_blocks, 1 << num_tasks))
        for b in range(num_blocks):
            matrix = np.zeros((num_tasks, num_tasks))
            for p, (i, j) in enumerate(pairs):
                matrix[i, j] = gain[p, b]
            self.within[b] = np.einsum("mi,ij,mj->m", bits, matrix, bits)
        self.subsets = _Subsets.of(num_tasks)
        spread = float(np.ptp(term, axis=1).sum()) if len(pairs) else 0.0
        self.multipliers = self._multipliers(cap, max(spread, 1e-12))
        self.part_value, self.value = self._completions(self.multipliers, cap)
        largest = float(self.multipliers.max()) * (min(cap.limit_normalized, 1e300) + num_tasks * num_blocks)
        self.slack = _SLACK * (1.0 + abs(self.constant) + float(np.abs(term).sum()) + largest)

    def _completions(self, multipliers: np.ndarray, cap: _Cap) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``part_value[b][λ, A]``: what part A earns from block b on (λ-priced); ``value[b][λ, S]``: best partition of S."""
        count = len(multipliers)
        size = 1 << self.num_tasks
        nxt = np.zeros((count, size))
        part_value: list[np.ndarray] = [np.zeros(0)] * self.num_blocks
        value: list[np.ndarray] = [np.zeros(0)] * self.num_blocks
        subsets = self.subsets
        for b in reversed(range(self.num_blocks)):
            part = self.within[b][None, :] - multipliers[:, None] * cap.normalized[b] + nxt
            best = np.zeros((count, size))
            for sets, segments, lo, hi in subsets.layers:
                candidates = part[:, subsets.part[lo:hi]] + best[:, subsets.rest[lo:hi]]
                best[:, sets] = np.maximum.reduceat(candidates, segments, axis=1)
            part_value[b], value[b] = part, best
            nxt = best
        return part_value, value

    def _multipliers(self, cap: _Cap, spread: float) -> np.ndarray:
        """λ = 0 alone without a budget; else a few around the λ with the lowest bound for the whole space."""
        if cap.limit_normalized == math.inf:
            return np.zeros(1)
        trial = np.concatenate(([0.0], spread * 2.0 ** np.arange(-14, 9)))
        _, value = self._completions(trial, cap)
        dual = trial * cap.limit_normalized + value[0][:, -1]
        best = float(trial[int(np.argmin(dual))])
        if best == 0.0:
            return np.zeros(1)
        return np.concatenate(([0.0], best * 2.0 ** (np.arange(-4, 5) / 2)))


# --------------------------------------------------------------------------- the search
@dataclass(slots=True)
class _Node:
    """A partial layout: blocks ``history``; at block ``block`` the parts chosen so far and the sets left.

    ``pending[0]`` is split next; ``total[λ]`` is the Lagrangian bound of the best completion per
    multiplier; ``cost`` counts one instance per open group from ``block`` on (the least it can cost).
    """

    block: int
    pending: tuple[int, ...]
    parts: tuple[int, ...]
    history: tuple[tuple[int, ...], ...]
    score: float
    cost: float
    total: np.ndarray


@dataclass(slots=True)
class _Leaf:
    score: float
    blocks: tuple[tuple[int, ...], ...]


class _Run:
    """One depth-first branch and bound; children are visited best bound first."""

    def __init__(self, bounds: _Bounds, cap: _Cap, k: int, limits: SearchLimits, started: float,
                 budget: Budget | None) -> None:
        self.bounds, self.cap, self.k, self.limits = bounds, cap, k, limits
        self.started, self.budget = started, budget
        self.visited = self.pruned = self.scored = 0
        self.best: list[float] = []  # min-heap of the k best strictly feasible scores
        self.pool: list[_Leaf] = []  # every complete layout that may still be in the answer
        self.threshold = -math.inf
        # frames: [node, child bounds (best first), child indices, parts, rests, child totals, next position]
        self.stack: list[list] = []

    def search(self) -> list[_Leaf]:
        bounds = self.bounds
        full = (1 << bounds.num_tasks) - 1
        root_total = self._root_total(full)
        root = _Node(0, (full,), (), (), bounds.constant, self.cap.block_suffix[0], root_total)
        if full & (full - 1) == 0:  # one task: the only layout
            self._leaf(_Leaf(bounds.constant, ((full,),) * bounds.num_blocks), self.cap.block_suffix[0])
            return self.pool
        self.visited = 1
        self._expand(root)
        self._loop()
        return [leaf for leaf in self.pool if leaf.score >= self.threshold]

    def _root_total(self, full: int) -> np.ndarray:
        bounds = self.bounds
        limit = self.cap.limit_normalized
        priced = bounds.multipliers * limit if limit != math.inf else np.zeros_like(bounds.multipliers)
        return priced + bounds.constant + bounds.value[0][:, full]

    def _expand(self, node: _Node) -> None:
        """Bound every child of ``node`` and push those that may still matter, best first."""
        bounds, subsets = self.bounds, self.bounds.subsets
        first = node.pending[0]
        lo, hi = int(subsets.start[first]), int(subsets.stop[first])
        part, rest = subsets.part[lo:hi], subsets.rest[lo:hi]
        value = bounds.value[node.block]
        totals = (node.total - value[:, first])[:, None] + bounds.part_value[node.block][:, part] + value[:, rest]
        bound = totals.min(axis=0) if len(totals) > 1 else totals[0]
        keep = bound >= self.threshold
        if not self.cap.fits_loose(node.cost + self.cap.block_suffix[node.block]):
            keep &= rest == 0  # splitting the group further adds an instance from this block on
        chosen = np.flatnonzero(keep)
        self.pruned += hi - lo - len(chosen)
        if len(chosen) == 0:
            return
        order = chosen[np.argsort(-bound[chosen], kind="stable")]
        self.stack.append([node, bound[order].tolist(), order.tolist(), part.tolist(), rest.tolist(), totals, 0])

    def _loop(self) -> None:
        stack = self.stack
        bounds, cap = self.bounds, self.cap
        num_blocks = bounds.num_blocks
        while stack:
            frame = stack[-1]
            node, child_bounds, order, parts, rests, totals, position = frame
            if position == len(order):
                stack.pop()
                continue
            if child_bounds[position] < self.threshold:
                self.pruned += len(order) - position
                stack.pop()
                continue
            frame[6] = position + 1
            index = order[position]
            part, rest = parts[index], rests[index]
            self.visited += 1
            if self.visited >= self.limits.max_nodes or self.visited & 1023 == 0:
                self._check_limits()
            block = node.block
            score = node.score + bounds.within[block][part]
            new_parts = node.parts + (part,)
            pending = node.pending[1:]
            cost = node.cost
            if rest:
                cost += cap.block_suffix[block]
                if rest & (rest - 1):
                    pending = (rest,) + pending
                else:
                    new_parts += (rest,)
            if pending:
                self._expand(_Node(block, pending, new_parts, node.history, score, cost, totals[:, index]))
                continue
            partition = tuple(sorted(new_parts, key=lambda m: m & -m))
            history = node.history + (partition,)
            groups = tuple(m for m in partition if m & (m - 1))
            if block + 1 == num_blocks or not groups:
                blocks = history + (partition,) * (num_blocks - block - 1)
                self._leaf(_Leaf(score, blocks), cost)
                continue
            singles = tuple(m for m in partition if not m & (m - 1))
            self._expand(_Node(block + 1, groups, singles, history, score, cost, totals[:, index]))

    def _leaf(self, leaf: _Leaf, cost: float) -> None:
        self.scored += 1
        if leaf.score < self.threshold:
            return
        self.pool.append(leaf)
        if self.cap.fits_strict(cost):
            if len(self.best) < self.k:
                heapq.heappush(self.best, leaf.score)
            elif leaf.score > self.best[0]:
                heapq.heapreplace(self.best, leaf.score)
            if len(self.best) == self.k:
                self.threshold = self.best[0] - 2 * self.bounds.slack
        if len(self.pool) > 4 * self.k + 1024:
            self.pool = [entry for entry in self.pool if entry.score >= self.threshold]

    def _check_limits(self) -> None:
        elapsed = time.perf_counter() - self.started
        if self.visited > self.limits.max_nodes:
            raise TreeMTLError(self._progress(f"the node limit ({self.limits.max_nodes:,} nodes)", elapsed))
        if elapsed >= self.limits.max_seconds:
            raise TreeMTLError(self._progress(f"the time limit ({self.limits.max_seconds:g} s)", elapsed))

    def _progress(self, which: str, elapsed: float) -> str:
        """How far an unfinished search got, and what would let it finish."""
        open_bound = max((frame[1][frame[6]] for frame in self.stack if frame[6] < len(frame[2])),
                         default=-math.inf)
        found = sorted((leaf.score for leaf in self.pool), reverse=True)[:self.k]
        proven = sum(1 for score in found if score > open_bound + 2 * self.bounds.slack)
        within = f" within {self.budget.describe()}" if self.budget is not None else ""
        head = (f"exact search for the top {self.k} layouts{within} stopped at {which} after "
                f"{self.visited - 1:,} nodes and {elapsed:.1f} s ({self.scored:,} layouts scored)")
        if proven:
            return (f"{head}: the top {proven} are proven (scores {found[0]:.6g} to {found[proven - 1]:.6g}), "
                    f"so --top-k {proven} finishes within this limit; or raise the limit")
        best = f"best found {found[0]:.6g}, " if found else ""
        return (f"{head}: none of the {self.k} is proven yet ({best}best still open {open_bound:.6g}): many "
                f"layouts score alike; ask for fewer (--top-k), a tighter budget, or raise the limit")


# --------------------------------------------------------------------------- the answer
def _answer(table: TwoTaskTable, profile: BlockProfile, weights: np.ndarray, budget: Budget | None, k: int,
            leaves: list[_Leaf]) -> tuple[pd.DataFrame, tuple[Layout, ...]]:
    """Score the candidate layouts as the table does, keep those within budget, rank, take k."""
    layouts = [Layout._trusted(tuple(tuple(tuple(mask_tasks(mask)) for mask in part) for part in leaf.blocks))
               for leaf in leaves]
    if not layouts:
        return _no_rows(table, profile, weights), ()
    frame = performance_rows(table, layouts, np.arange(len(layouts)), profile, weights)
    frame["position"] = np.arange(len(frame))
    if budget is not None:
        frame = frame[budget.mask(costs_of(frame))]
    score = frame["score"].to_numpy()
    if len(frame) > k:
        kth = np.partition(score, len(score) - k)[len(score) - k]
        frame = frame[score >= kth - _tie_tolerance(score)]
    frame = frame.assign(id=[layout_id(layouts[p]) for p in frame["position"].tolist()])
    best = _ranked(frame).head(k)
    chosen = tuple(layouts[p] for p in best["position"].tolist())
    result = best.drop(columns="position").reset_index(drop=True)
    result.attrs.update(frame.attrs)
    return result, chosen




def _no_rows(table: TwoTaskTable, profile: BlockProfile, weights: np.ndarray) -> pd.DataFrame:
    """The table's columns (and attrs) without rows: the answer when nothing fits the budget."""
    return performance_rows(table, [Layout.all_shared(table.num_tasks, table.num_blocks)], [0], profile,
                            weights).iloc[:0]


def _tie_tolerance(score: np.ndarray) -> float:
    return _TIE * max(1.0, float(np.abs(score).max(initial=0.0)))


def _ranked(frame: pd.DataFrame) -> pd.DataFrame:
    """Score descending, ties by id; scores that differ only by rounding (:data:`_TIE`) are ties.

    The table sums a layout's terms in an order that depends on how many rows it holds, so two
    layouts with the same exact score can differ in the last bits; they still rank by id here.
    """
    score = frame["score"].to_numpy()
    order = np.argsort(-score, kind="stable")
    group = np.empty(len(order), dtype=np.int64)
    group[order] = np.concatenate(([0], np.cumsum(np.diff(score[order]) < -_tie_tolerance(score))))
    return frame.iloc[np.lexsort((frame["id"].to_numpy(), group))]
