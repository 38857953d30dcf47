"""A task plugin: counting objects, a task none of the built-in types expresses exactly.

The config names it as ``{name: objects, spec: "examples.own_data.scene_tasks:object_count"}``;
TreeMTL calls ``object_count("objects")`` and trains and measures the task with what it returns.
A count is an image-level value (pooled head, ``scalar`` target: a ``stem,label`` CSV in the
folder dataset), trained with a Huber loss, which is less thrown by the rare crowded scene than
L1 is by every small error, and measured by its absolute error (lower is better) and by the share
of images whose rounded prediction is exactly right (higher is better).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from treemtl.errors import TreeMTLError
from treemtl.training.tasks import MetricSpec, TaskSpec


def count_loss(prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Huber loss of per-image predictions [B,1] against counts [B,1] on labelled images."""
    valid = torch.ones_like(target, dtype=torch.bool) if mask is None else mask.to(torch.bool).reshape(target.shape)
    if not bool(valid.any()):
        return prediction.float().sum() * 0.0
    return F.huber_loss(prediction.float()[valid], target.float()[valid])


class CountAccumulator:
    """Absolute error and exact-count rate over the labelled images of a split."""

    def __init__(self) -> None:
        self.count = 0
        self.abs_sum = 0.0
        self.exact = 0

    def update(self, prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> None:
        valid = torch.ones_like(target, dtype=torch.bool) if mask is None else mask.to(torch.bool).reshape(target.shape)
        predicted, wanted = prediction.detach().double()[valid], target.double()[valid]
        self.count += int(wanted.numel())
        self.abs_sum += float((predicted - wanted).abs().sum())
        self.exact += int((predicted.round() == wanted).sum())

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            raise TreeMTLError("objects: no labelled images in the evaluation split")
        return {"abs_err": self.abs_sum / self.count, "exact": self.exact / self.count}


def object_count(name: str) -> TaskSpec:
    """The specification of an object-counting task called ``name``."""
    return TaskSpec(
        name=name,
        channels=lambda num_classes: 1,
        loss=count_loss,
        metrics=(MetricSpec("abs_err", higher_is_better=False), MetricSpec("exact", higher_is_better=True)),
        accumulator=lambda num_classes: CountAccumulator(),
        head="pooled",
        target="scalar",
    )
