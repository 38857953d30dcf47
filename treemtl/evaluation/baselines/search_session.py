"""What an architecture search shares with the training of every other model of the experiment.

The searched baselines (Learn-to-Branch, AutoMTL) train a supernet on the same data, tasks,
loss weights and seed as the recommender's models, so a :class:`SearchSession` builds those from
the config with the trainer's parts (datasets, multi-task objective, device, seeded batch order)
and adds only what a search needs: an endless stream of batches and a timer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from treemtl.errors import TreeMTLError
from treemtl.training.config import ExperimentConfig
from treemtl.training.devices import resolve_device, to_device, use_threads
from treemtl.training.sampling import EpochBatchSampler
from treemtl.training.tasks import head_channels, pooled_tasks
from treemtl.training.trainer import Objective


@dataclass
class SearchSession:
    """Data, loss and device of a search, built like every training run of the experiment."""

    config: ExperimentConfig
    tasks: tuple[str, ...]
    device: torch.device
    train_set: Dataset[Any]
    objective: Objective
    num_classes: int
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def open(cls, config: ExperimentConfig, device: str = "auto", threads: int | None = None,
             train_set: Dataset[Any] | None = None) -> SearchSession:
        use_threads(threads)
        tasks = tuple(config.tasks)
        if train_set is None:
            from treemtl.training.data import build_dataset

            train_set = build_dataset(config, "train", list(tasks))
        return cls(config=config, tasks=tasks, device=resolve_device(device), train_set=train_set,
                   objective=Objective.of(tasks, config.train, config),
                   num_classes=int(getattr(train_set, "num_classes", 0)))

    @property
    def out_channels(self) -> dict[str, int]:
        """Head output channels of each task, declared tasks included (as the trainer builds them)."""
        return head_channels(list(self.tasks), self.num_classes, self.config)

    @property
    def pooled(self) -> frozenset[str]:
        """The image-level tasks, whose heads pool (as in the trainer's models)."""
        return pooled_tasks(list(self.tasks), self.config)

    @property
    def iterations_per_epoch(self) -> int:
        return max(1, len(self.train_set) // min(self.config.train.batch_size, len(self.train_set)))  # type: ignore[arg-type]

    def batches(self) -> Iterator[dict[str, Tensor]]:
        """Endless seeded batches on the device, in the order every training run of the seed sees."""
        sampler = EpochBatchSampler(len(self.train_set), self.config.train.batch_size, self.config.seed,  # type: ignore[arg-type]
                                    keyed=bool(getattr(self.train_set, "keyed_draws", False)))
        loader = DataLoader(self.train_set, batch_sampler=sampler, num_workers=self.config.train.workers,
                            pin_memory=self.device.type == "cuda")
        for batch in loader:
            yield to_device(batch, self.device)

    def losses(self, model: torch.nn.Module, batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
        """Task losses of ``model`` on ``batch`` and their weighted sum (``train.loss_weights``)."""
        outputs = model(batch["image"])
        losses = self.objective.losses(outputs, batch)
        total = self.objective.total(losses)
        if not torch.isfinite(total):
            raise TreeMTLError("search: the loss is not finite; lower train.lr or check the data")
        return losses, total

    def elapsed(self) -> float:
        return round(time.perf_counter() - self.started, 3)


def scaled_iterations(config: ExperimentConfig, fraction: float, what: str) -> int:
    """``fraction`` of the recipe's ``train.iters`` (at least 1): how long a search stage runs."""
    if fraction <= 0:
        raise TreeMTLError(f"{what}: expected a fraction > 0, got {fraction}")
    return max(1, int(round(fraction * config.train.iters)))


def mean_values(entries: Sequence[dict[str, float]]) -> dict[str, float]:
    """Mean of each key over ``entries`` (the losses logged since the last record)."""
    if not entries:
        return {}
    return {key: float(np.mean([entry[key] for entry in entries])) for key in entries[0]}
