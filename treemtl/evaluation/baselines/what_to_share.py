"""What-to-Share (Vandenhende et al., 2019): task affinity from representation similarity analysis.

The baseline decides sharing from the *single-task* models alone: two tasks may share a block if
their single-task networks compute similar representations there.

* Locations.  The paper measures affinity at the D locations where the encoder may branch and
  builds a tree whose node at depth l holds layer f_l, with the same granularity.  Here a layout's
  block b (0-based) is shared by the tasks of a group, so the affinity that governs block b is
  measured on **the output of coarse block b** of each single-task model, for every b = 0..B-1
  (B locations; the last one is the features the heads read).
* RDM.  On K held-out (validation) images, the features of one location are flattened per image;
  RDM[i, j] = 1 - Pearson(feature_i, feature_j)  (K x K, zero diagonal).
* Affinity.  A[d, s, t] = Spearman correlation of the upper triangles (diagonal excluded) of task
  s's and task t's RDMs at location d; dissimilarity = 1 - A.
* Layout cost.  C = sum over blocks b of the mean over the groups of block b of the maximum
  pairwise dissimilarity inside the group (a group of one task costs 0).  Lower is better; the
  method picks the cheapest-dissimilarity layout that fits the budget.

The numerical parts are pure numpy/scipy; only :func:`extract_block_features` touches torch.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from treemtl.errors import TreeMTLError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

Blocks = Sequence[Sequence[Sequence[int]]]


def rdm(features: np.ndarray) -> np.ndarray:
    """Representation dissimilarity matrix of K images: 1 - Pearson correlation of their features.

    ``features`` is [K, ...] (flattened per image).  An image whose features are constant has no
    defined correlation; it is treated as uncorrelated with every other image (dissimilarity 1).
    """
    x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    if x.shape[0] < 2:
        raise TreeMTLError(f"RDM needs at least 2 images, got {x.shape[0]}")
    centered = x - x.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centered, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    unit = centered / safe[:, None]
    corr = unit @ unit.T
    constant = norms == 0
    corr[constant, :] = 0.0
    corr[:, constant] = 0.0
    out = 1.0 - np.clip(corr, -1.0, 1.0)
    np.fill_diagonal(out, 0.0)
    return out


def upper_triangle(matrix: np.ndarray) -> np.ndarray:
    """Entries above the diagonal, row-major (the part of a symmetric RDM that carries information)."""
    m = np.asarray(matrix)
    rows, cols = np.triu_indices(m.shape[0], k=1)
    return m[rows, cols]


def rdm_affinity(rdm_a: np.ndarray, rdm_b: np.ndarray) -> float:
    """Spearman correlation between two RDMs' upper triangles (1 = same representational geometry)."""
    a, b = upper_triangle(rdm_a), upper_triangle(rdm_b)
    if a.shape != b.shape:
        raise TreeMTLError(f"RDMs of different sizes: {rdm_a.shape} vs {rdm_b.shape}")
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(stats.spearmanr(a, b).statistic)


def affinity_tensor(rdms: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """A[d, s, t] from ``rdms[task][location]`` (all tasks with the same number of locations)."""
    num_tasks = len(rdms)
    if num_tasks == 0:
        raise TreeMTLError("affinity needs at least one task")
    locations = len(rdms[0])
    if any(len(r) != locations for r in rdms):
        raise TreeMTLError("every task needs an RDM at every location")
    out = np.ones((locations, num_tasks, num_tasks))
    for d in range(locations):
        for s, t in itertools.combinations(range(num_tasks), 2):
            out[d, s, t] = out[d, t, s] = rdm_affinity(rdms[s][d], rdms[t][d])
    return out


def dissimilarity_cost(blocks: Blocks, dissimilarity: np.ndarray) -> float:
    """Σ_b mean over groups of block b of the max pairwise dissimilarity in the group (paper 3.2).

    ``blocks`` is a layout's ``blocks`` (partitions per block); ``dissimilarity`` is [B, T, T].
    """
    diss = np.asarray(dissimilarity, dtype=float)
    if diss.ndim != 3 or diss.shape[0] != len(blocks):
        raise TreeMTLError(f"dissimilarity must be [B={len(blocks)}, T, T], got shape {diss.shape}")
    total = 0.0
    for b, partition in enumerate(blocks):
        costs = []
        for group in partition:
            members = list(group)
            costs.append(max((diss[b, s, t] for s, t in itertools.combinations(members, 2)), default=0.0))
        total += float(np.mean(costs))
    return total


def dissimilarity_costs(layouts: Sequence[Any], dissimilarity: np.ndarray) -> np.ndarray:
    """:func:`dissimilarity_cost` of every layout (objects with ``.blocks``), in input order."""
    return np.array([dissimilarity_cost(layout.blocks, dissimilarity) for layout in layouts], dtype=float)


@dataclass(frozen=True)
class Choice:
    """The layout What-to-Share picks within one budget."""

    budget: float
    layout_id: int | None
    cost: float | None


def best_within_budget(costs: Sequence[float], feasible: Sequence[bool], budget: float) -> Choice:
    """Lowest-cost feasible layout (ties by smaller id, i.e. the cheaper/more shared one first)."""
    best: tuple[float, int] | None = None
    for index, (cost, ok) in enumerate(zip(costs, feasible)):
        if ok and (best is None or (float(cost), index) < best):
            best = (float(cost), index)
    if best is None:
        return Choice(budget, None, None)
    return Choice(budget, best[1], best[0])


# --------------------------------------------------------------------------- torch side
def extract_block_features(model: "torch.nn.Module", images: "torch.Tensor", batch_size: int = 16) -> list[np.ndarray]:
    """Outputs of every coarse block of a single-task TreeMTLModel on ``images`` ([K,C,H,W]).

    Forward hooks on each block's (only) copy collect the activations, so the model's own forward
    runs unchanged.  Returns one float64 array [K, features] per block, in block order.
    """
    import torch

    blocks = getattr(model, "blocks", None)
    if blocks is None:
        raise TreeMTLError("What-to-Share needs a TreeMTLModel (with .blocks) for the single-task model")
    modules = []
    for b, copies in enumerate(blocks):
        values = list(copies.values()) if hasattr(copies, "values") else [copies]
        if len(values) != 1:
            raise TreeMTLError(f"single-task model has {len(values)} copies of block {b}, expected 1")
        modules.append(values[0])
    collected: list[list[np.ndarray]] = [[] for _ in modules]
    handles = []
    for b, module in enumerate(modules):
        def hook(_module: Any, _inputs: Any, output: Any, b: int = b) -> None:
            tensor = output[0] if isinstance(output, (tuple, list)) else output
            collected[b].append(tensor.detach().float().flatten(1).cpu().numpy().astype(np.float64))
        handles.append(module.register_forward_hook(hook))
    try:
        model.eval()
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                model(images[start : start + batch_size])
    finally:
        for handle in handles:
            handle.remove()
    return [np.concatenate(parts, axis=0) for parts in collected]


def affinity_from_features(features: Mapping[str, Sequence[np.ndarray]], tasks: Sequence[str]) -> np.ndarray:
    """Affinity tensor [B, T, T] from per-task block features, tasks in layout index order."""
    missing = [t for t in tasks if t not in features]
    if missing:
        raise TreeMTLError(f"no single-task features for tasks {missing}")
    return affinity_tensor([[rdm(f) for f in features[t]] for t in tasks])
