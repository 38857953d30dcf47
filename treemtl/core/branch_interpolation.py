"""A task's two-task curve from a few trained branch points (``pairs.branches``).

Training every pair at every branch point costs C(T,2)·B runs. A task's relative performance
changes smoothly as the branch point moves (more shared blocks, more transfer or more
interference), so a subset of branch points per pair, linearly interpolated along the branch axis,
gives the rest. Branch 0 (independent models) is 0 by definition and anchors the curve; the last
branch point (all blocks shared) must be trained so nothing is extrapolated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from treemtl.errors import TreeMTLError


def check_branches(branches: Sequence[int], num_blocks: int, where: str = "branches") -> tuple[int, ...]:
    """The trained branch points, sorted: distinct, in 1..B, including B."""
    points = tuple(sorted(int(k) for k in branches))
    if (not points or len(set(points)) != len(points) or points[0] < 1 or points[-1] != num_blocks):
        raise TreeMTLError(f"{where}: expected distinct branch points in 1..{num_blocks} including {num_blocks} "
                           f"(all shared), got {list(branches)}")
    return points


def interpolate_branches(known: Mapping[int, float], num_blocks: int) -> np.ndarray:
    """Values at branches 0..B from the trained ones: linear between neighbours, 0 at branch 0."""
    points = check_branches(list(known), num_blocks)
    xs = np.array((0, *points), dtype=np.float64)
    ys = np.array((0.0, *(float(known[k]) for k in points)))
    return np.interp(np.arange(num_blocks + 1, dtype=np.float64), xs, ys)
