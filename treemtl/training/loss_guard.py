"""Stopping a run whose loss is non-finite or explodes, before it writes metrics for garbage.

A learning rate far too high does not always produce NaN: the loss can grow to 1e12 and stay
finite, and the run would otherwise end normally with meaningless metrics. The guard compares an
exponential moving average of the total loss with the loss of the first iteration (the
initialised network) and stops the run once the average exceeds :data:`DIVERGENCE_FACTOR` times
that start. The factor is far above anything a converging run shows (the occasional spike of a
high but workable learning rate stays within ~100x), and the average keeps a single odd batch from
tripping it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The smoothed loss may grow to this many times the start loss before the run counts as diverged.
DIVERGENCE_FACTOR = 1e4
#: Weight of the previous average in the exponential moving average of the loss.
SMOOTHING = 0.9
#: Lower bound of the start loss in the comparison, so a run starting near zero loss is not
#: stopped by ordinary noise.
START_FLOOR = 1e-3


@dataclass
class LossGuard:
    """The start loss and the running average it is compared with (part of the training state)."""

    start_loss: float | None = None
    smoothed_loss: float | None = None

    def check(self, iteration: int, losses: Mapping[str, float], total: float) -> str | None:
        """Record the losses of ``iteration``; a description of the problem when training must stop."""
        if not math.isfinite(total):
            bad = next((task for task, value in losses.items() if not math.isfinite(value)), next(iter(losses)))
            return f"loss of task {bad} is not finite at iteration {iteration} (value {losses[bad]})"
        if self.start_loss is None or self.smoothed_loss is None:
            self.start_loss = self.smoothed_loss = total
            return None
        self.smoothed_loss = SMOOTHING * self.smoothed_loss + (1.0 - SMOOTHING) * total
        if self.smoothed_loss > DIVERGENCE_FACTOR * max(self.start_loss, START_FLOOR):
            return (f"training diverged at iteration {iteration}: the smoothed loss {self.smoothed_loss:.4g} "
                    f"(this iteration {total:.4g}) exceeds {DIVERGENCE_FACTOR:g} times the start loss "
                    f"{self.start_loss:.4g} of iteration 1")
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"start_loss": self.start_loss, "smoothed_loss": self.smoothed_loss}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LossGuard:
        start, smoothed = data["start_loss"], data["smoothed_loss"]
        return cls(start_loss=None if start is None else float(start),
                   smoothed_loss=None if smoothed is None else float(smoothed))
