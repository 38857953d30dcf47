"""Layout cost from a per-block profile, and computation budgets (paper 4.1-4.2).

Block b of a layout is instantiated once per group of its partition at b, so a layout costs
``sum_b copies_b * cost_b`` (backbone only; heads are the same for every layout of a task set and
are left out, as in the paper's tables).  Costs are also given relative to T independent backbones
in % (the all-shared layout of 3 tasks is 33.33 %; the paper's tables print that minus 100).

Budgets (``parse_budget``):

* ``2`` or ``2models`` -- FLOPs at most 2 backbones' worth (``1.5``, ``1.5models`` likewise);
* ``1.5e9flops`` -- absolute FLOPs; ``3e6params`` -- absolute parameters;
* ``60%`` -- FLOPs at most 60 % of the T independent backbones.

Comparisons are exact: integer profiles are compared in integers against the exact (rational)
limit, and fractional profiles (e.g. the paper's rounded FLOPs fractions) with a relative
tolerance of 1e-9.  "N models" is N times the *profile's own* backbone total, so the all-shared
layout always fits a budget of 1 model even when rounded fractions sum to 1.0001.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np

from treemtl.errors import TreeMTLError

BudgetKind = Literal["models", "flops", "params", "percent"]
_TOLERANCE = 1e-9
#: The largest budget: limits are compared as floats, so ``1e400`` would overflow.
_LARGEST = Fraction(sys.float_info.max)


@dataclass(frozen=True)
class BlockProfile:
    """FLOPs and parameters of each of the B backbone blocks (integers, or fractions of the total)."""

    flops: tuple[float, ...]
    params: tuple[float, ...]
    source: str = "<profile>"

    def __post_init__(self) -> None:
        flops = _clean(self.flops, self.source, "flops")
        params = _clean(self.params, self.source, "params")
        if len(flops) != len(params):
            raise TreeMTLError(
                f"{self.source}: {len(flops)} block FLOPs but {len(params)} block params (one per block)"
            )
        object.__setattr__(self, "flops", flops)
        object.__setattr__(self, "params", params)

    @property
    def num_blocks(self) -> int:
        return len(self.flops)

    @classmethod
    def uniform(cls, num_blocks: int) -> BlockProfile:
        """Every block costs 1: with no profile, cost counts block instances."""
        return cls((1,) * num_blocks, (1,) * num_blocks, "uniform blocks")

    @classmethod
    def from_json(cls, path: str | Path) -> BlockProfile:
        """Read ``coarse_blocks[*].flops/params`` from a ``blocks.json`` (``treemtl detect``)."""
        path = Path(path)
        source = str(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as error:
            raise TreeMTLError(f"{source}: profile not found") from error
        except (OSError, ValueError) as error:
            raise TreeMTLError(f"{source}: cannot read JSON profile ({error})") from error
        blocks = data.get("coarse_blocks") if isinstance(data, dict) else None
        if not isinstance(blocks, list) or not blocks:
            raise TreeMTLError(f"{source}: expected a non-empty list 'coarse_blocks'")
        flops, params = [], []
        for index, block in enumerate(blocks):
            if not isinstance(block, dict) or "flops" not in block or "params" not in block:
                raise TreeMTLError(f"{source}: coarse_blocks[{index}] needs 'flops' and 'params'")
            flops.append(block["flops"])
            params.append(block["params"])
        return cls(tuple(flops), tuple(params), source)

    @classmethod
    def for_blocks(cls, path: str | Path | None, num_blocks: int) -> BlockProfile:
        """The profile of an experiment with ``num_blocks`` blocks: from ``path``, or uniform blocks."""
        if path is None:
            return cls.uniform(num_blocks)
        profile = cls.from_json(path)
        if profile.num_blocks != num_blocks:
            raise TreeMTLError(f"{path}: {profile.num_blocks} coarse blocks but backbone.blocks = {num_blocks}")
        return profile

    @classmethod
    def from_strings(cls, flops: str | None, params: str | None, num_blocks: int) -> BlockProfile:
        """From comma-separated CLI values; a missing list means uniform blocks for that quantity."""
        f = _parse_list(flops, "--block-flops", num_blocks) if flops else (1,) * num_blocks
        p = _parse_list(params, "--block-params", num_blocks) if params else (1,) * num_blocks
        return cls(f, p, "command line")

    @property
    def backbone_flops(self) -> float:
        return _total(self.flops)

    @property
    def backbone_params(self) -> float:
        return _total(self.params)


def _total(values: tuple[float, ...]) -> float:
    return sum(values) if all(isinstance(v, int) for v in values) else math.fsum(values)


def _clean(values: Sequence[object], source: str, what: str) -> tuple[float, ...]:
    result: list[float] = []
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TreeMTLError(f"{source}: {what}[{index}] must be a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise TreeMTLError(f"{source}: {what}[{index}] must be a finite number >= 0, got {value!r}")
        result.append(int(value) if isinstance(value, (int, np.integer)) or number.is_integer() else number)
    if not result:
        raise TreeMTLError(f"{source}: {what}: at least one block needed")
    if sum(result) <= 0:
        raise TreeMTLError(f"{source}: {what} of the blocks sum to 0")
    return tuple(result)


def _parse_list(text: str, flag: str, num_blocks: int) -> tuple[float, ...]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as error:
        raise TreeMTLError(f"{flag}: expected {num_blocks} comma-separated numbers, got {text!r}") from error
    if len(values) != num_blocks:
        raise TreeMTLError(f"{flag}: expected {num_blocks} values (one per block), got {len(values)}")
    return tuple(int(v) if v.is_integer() and "." not in p and "e" not in p.lower() else v
                 for v, p in zip(values, text.split(",")))


# --------------------------------------------------------------------------- layout costs
@dataclass(frozen=True)
class LayoutCosts:
    """FLOPs and params of every layout (arrays over layout ids) and the single-backbone totals."""

    flops: np.ndarray
    params: np.ndarray
    backbone_flops: float
    backbone_params: float
    num_tasks: int

    @property
    def flops_pct(self) -> np.ndarray:
        """FLOPs in % of T independent backbones."""
        return 100.0 * self.flops / (self.num_tasks * self.backbone_flops)

    @property
    def params_pct(self) -> np.ndarray:
        return 100.0 * self.params / (self.num_tasks * self.backbone_params)


def layout_costs(copies: np.ndarray, profile: BlockProfile, num_tasks: int) -> LayoutCosts:
    """Cost of every layout from its copies per block (``LayoutSpace.copies()``), one matmul each."""
    copies = np.asarray(copies)
    if copies.ndim != 2 or copies.shape[1] != profile.num_blocks:
        raise TreeMTLError(
            f"{profile.source}: profile has {profile.num_blocks} blocks but layouts have "
            f"{copies.shape[-1]} blocks"
        )
    return LayoutCosts(
        _weighted(copies, profile.flops),
        _weighted(copies, profile.params),
        profile.backbone_flops,
        profile.backbone_params,
        num_tasks,
    )


def _weighted(copies: np.ndarray, values: tuple[float, ...]) -> np.ndarray:
    if all(isinstance(v, int) for v in values):
        if sum(values) * int(copies.max(initial=1)) < 2**62:
            return copies.astype(np.int64) @ np.array(values, dtype=np.int64)
    return copies.astype(np.float64) @ np.array(values, dtype=np.float64)


# --------------------------------------------------------------------------- budgets
@dataclass(frozen=True)
class Budget:
    """A computation budget: ``kind`` says what ``value`` counts (see the module docstring)."""

    kind: BudgetKind
    value: Fraction

    def describe(self) -> str:
        return self._amount(float(self.value))

    def _amount(self, number: float) -> str:
        """``number`` in this budget's unit, as text."""
        text = f"{number:g}"
        return {"models": f"{text} models", "flops": f"{text} FLOPs",
                "params": f"{text} params", "percent": f"{text}% of independent FLOPs"}[self.kind]

    def cheapest(self, costs: LayoutCosts) -> float:
        """The cost of the cheapest layout in this budget's unit (models, FLOPs, params or %)."""
        if self.kind == "params":
            return float(costs.params.min())
        flops = float(costs.flops.min())
        if self.kind == "models":
            return flops / costs.backbone_flops
        if self.kind == "percent":
            return 100.0 * flops / (costs.num_tasks * costs.backbone_flops)
        return flops

    def nothing_fits(self, costs: LayoutCosts) -> str:
        """What a budget below every layout's cost is told: the budget and the cheapest cost."""
        return f"no layout within budget {self.describe()} (cheapest: {self._amount(self.cheapest(costs))})"

    def limit(self, costs: LayoutCosts) -> tuple[str, Fraction | float]:
        """Which cost array is bounded (``flops``/``params``) and the exact limit."""
        if self.kind == "models":
            return "flops", self.value * _exact(costs.backbone_flops)
        if self.kind == "percent":
            return "flops", self.value / 100 * costs.num_tasks * _exact(costs.backbone_flops)
        return self.kind, self.value

    def mask(self, costs: LayoutCosts) -> np.ndarray:
        """Boolean array over layouts: True where the layout fits the budget."""
        which, limit = self.limit(costs)
        return within(costs.flops if which == "flops" else costs.params, limit)


def _exact(value: float) -> Fraction:
    return Fraction(value)


def within(values: np.ndarray, limit: Fraction | float) -> np.ndarray:
    """``values <= limit`` exactly for integer arrays, with a 1e-9 relative tolerance otherwise."""
    limit = Fraction(limit)
    if np.issubdtype(values.dtype, np.integer):
        return values <= math.floor(limit)
    bound = float(limit) if limit <= _LARGEST else math.inf
    return values <= bound + _TOLERANCE * max(abs(bound), 1e-300)


_BUDGET = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(models?|flops|params|%)?\s*$", re.IGNORECASE)


def parse_budget(text: str | float | int) -> Budget:
    """Read ``2``, ``2models``, ``1.5e9flops``, ``3e6params`` or ``60%`` (module docstring)."""
    match = _BUDGET.match(str(text))
    if match is None:
        raise TreeMTLError(
            f"budget {text!r}: expected a positive finite N (models), Nmodels, Nflops, Nparams or N% (e.g. 2, 1.5e9flops, 60%)"
        )
    value = Fraction(match[1])
    unit = (match[2] or "models").lower()
    kind: BudgetKind = {"model": "models", "models": "models", "flops": "flops",
                        "params": "params", "%": "percent"}[unit]  # type: ignore[assignment]
    if value > _LARGEST:
        raise TreeMTLError(f"budget {text!r}: must be a finite number, at most {float(_LARGEST):g}")
    if value <= 0 or float(value) == 0:  # a value too small for a float would read as 0
        raise TreeMTLError(f"budget {text!r}: must be > 0")
    return Budget(kind, value)
