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


#: ``pairs.branches`` value for every other branch point ending at B (B, B-2, ... >= 1): half the
#: pairs' runs on any backbone, with B and, for odd B, branch 1 trained.
EVERY_OTHER = "every_other"


def trained_branches(spec: Sequence[int] | str | None, num_blocks: int, where: str = "pairs.branches") -> tuple[int, ...]:
    """The branch points a ``pairs.branches`` value trains: all (None), every other, or those listed."""
    if spec is None:
        return tuple(range(1, num_blocks + 1))
    if isinstance(spec, str):
        if spec != EVERY_OTHER:
            raise TreeMTLError(f"{where}: expected a list of branch points, null or {EVERY_OTHER!r}, got {spec!r}")
        return tuple(sorted(range(num_blocks, 0, -2)))
    return check_branches(spec, num_blocks, where)


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
