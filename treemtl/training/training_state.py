"""The state of a training run and its snapshot ``resume.pt``, written and read only here.

A snapshot holds exactly what continuing needs: the weights, the optimizer and LR-scheduler
states, the RNG states, the data position and the :class:`Progress` (evaluation history,
early-stop monitor, clocks, the running loss window and the loss guard). It is written atomically,
so a kill during the save keeps the previous one. On CPU a killed and restarted run ends with
exactly the metrics of an uninterrupted one.

A snapshot is resumed only when it is this run's: one written for another config, task list,
layout or seed, by another treemtl version, or for a training split of another size is ignored
(and overwritten by the next snapshot). A damaged one (truncated, garbage, malformed) is moved to
``resume.pt.corrupt`` and the run starts over with a warning in ``train.log`` and on stderr:
under a scheduler that retries failed jobs automatically, failing instead would fail every retry
the same way, while starting over costs at most one run's time and the moved file stays for
inspection.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from treemtl.errors import TreeMTLError
from treemtl.training.checkpoint import RESUME_VERSION, capture_rng_state, load_resume, restore_rng_state, save_resume
from treemtl.training.loss_guard import LossGuard
from treemtl.training.metrics_file import Metrics
from treemtl.training.sampling import EpochBatchSampler
from treemtl.training.train_log import TrainLog


RESUME_FILE = "resume.pt"
CORRUPT_SUFFIX = ".corrupt"

#: What putting a malformed snapshot into the live model, optimizer, scheduler and RNGs raises.
_MALFORMED = (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError)


@dataclass
class Progress:
    """Where a run stands, beyond its weights and optimizer: everything the loop updates."""

    iteration: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    #: Metrics the validation score is relative to: the given reference, else the first evaluation.
    monitor_reference: Metrics | None = None
    best_score: float = -math.inf
    best_iteration: int = 0
    #: Weights of the best evaluation, kept only with early stopping (they become ``model.pt``).
    best_weights: dict[str, Tensor] | None = None
    bad_evals: int = 0
    wall_time_s: float = 0.0
    train_time_s: float = 0.0
    images_seen: int = 0
    #: Sums of the task losses since the last evaluation (its ``train_loss``).
    loss_sums: dict[str, float] = field(default_factory=dict)
    loss_count: int = 0
    guard: LossGuard = field(default_factory=LossGuard)

    @classmethod
    def start(cls, tasks: list[str], reference: Metrics | None) -> Progress:
        return cls(monitor_reference=reference, loss_sums={task: 0.0 for task in tasks})

    def record_step(self, losses: Mapping[str, float], images: int, seconds: float) -> None:
        """Count one finished optimisation step."""
        self.iteration += 1
        self.images_seen += images
        for task, value in losses.items():
            self.loss_sums[task] += value
        self.loss_count += 1
        self.train_time_s += seconds

    def record_evaluation(self, metrics: Metrics, score: float, lr: float, model: nn.Module | None) -> dict[str, Any]:
        """Append an evaluation to the history and update the monitor; ``model`` given = keep best weights."""
        train_loss = {task: total / max(self.loss_count, 1) for task, total in self.loss_sums.items()}
        self.loss_sums = {task: 0.0 for task in self.loss_sums}
        self.loss_count = 0
        entry = {"iteration": self.iteration, "score": score, "train_loss": train_loss, "lr": lr, "metrics": metrics}
        self.history.append(entry)
        if score > self.best_score:
            self.best_score, self.best_iteration, self.bad_evals = score, self.iteration, 0
            if model is not None:
                self.best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            self.bad_evals += 1
        return entry

    def stopped_early(self, patience: int) -> bool:
        return patience > 0 and self.bad_evals >= patience

    def to_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "history": self.history,
            "monitor_reference": self.monitor_reference,
            "best_score": self.best_score,
            "best_iteration": self.best_iteration,
            "best_weights": self.best_weights,
            "bad_evals": self.bad_evals,
            "wall_time_s": self.wall_time_s,
            "train_time_s": self.train_time_s,
            "images_seen": self.images_seen,
            "loss_sums": self.loss_sums,
            "loss_count": self.loss_count,
            "guard": self.guard.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Progress:
        """Inverse of :meth:`to_dict`; a missing or mistyped field raises KeyError/TypeError/ValueError."""
        best_weights = data["best_weights"]
        if best_weights is not None and not isinstance(best_weights, dict):
            raise TypeError(f"best_weights is a {type(best_weights).__name__}")
        return cls(
            iteration=int(data["iteration"]),
            history=list(data["history"]),
            monitor_reference=data["monitor_reference"],
            best_score=float(data["best_score"]),
            best_iteration=int(data["best_iteration"]),
            best_weights=best_weights,
            bad_evals=int(data["bad_evals"]),
            wall_time_s=float(data["wall_time_s"]),
            train_time_s=float(data["train_time_s"]),
            images_seen=int(data["images_seen"]),
            loss_sums={str(task): float(value) for task, value in data["loss_sums"].items()},
            loss_count=int(data["loss_count"]),
            guard=LossGuard.from_dict(data["guard"]),
        )


@dataclass
class TrainingState:
    """The objects a run trains and its progress; :meth:`save` and :func:`start_or_resume` are the
    one writer and the one reader of ``resume.pt``."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: EpochBatchSampler
    progress: Progress

    def save(self, path: Path, fingerprint: Mapping[str, Any]) -> None:
        """Snapshot the whole state to ``path`` (atomically)."""
        epoch, position = self.sampler.position(self.progress.iteration)
        save_resume(path, {
            "fingerprint": dict(fingerprint),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": capture_rng_state(),
            "epoch": epoch,
            "position": position,
            **self.progress.to_dict(),
        })

    def load(self, payload: Mapping[str, Any], progress: Progress) -> None:
        """Put a snapshot's weights, optimizer, scheduler and RNG states in place; raises on a malformed one."""
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        restore_rng_state(payload["rng"])
        self.progress = progress


def start_or_resume(build: Callable[[], TrainingState], path: Path, fingerprint: Mapping[str, Any],
                    log: TrainLog) -> TrainingState:
    """A fresh state from ``build`` (which seeds and initialises), continued from the snapshot at
    ``path`` when that snapshot is this run's and intact."""
    state = build()
    if not path.exists():
        return state
    try:
        payload = load_resume(path)
    except TreeMTLError as error:
        _set_aside(path, str(error), log)
        return state
    if payload.get("version") != RESUME_VERSION:
        log(f"ignoring {path.name}: it was written by another treemtl version")
        return state
    if payload.get("fingerprint") != dict(fingerprint):
        log(f"ignoring {path.name}: it belongs to a different config/tasks/layout/seed")
        return state
    try:
        progress = Progress.from_dict(payload)
        cursor = (int(payload["epoch"]), int(payload["position"]))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        _set_aside(path, f"{path}: malformed training state ({_short(error)})", log)
        return state
    if cursor != state.sampler.position(progress.iteration):
        log(f"ignoring {path.name}: its data position (epoch {cursor[0]}, batch {cursor[1]} at iteration "
            f"{progress.iteration}) does not fit the training split's {state.sampler.batches_per_epoch} batches "
            f"per epoch; the split changed since it was written")
        return state
    try:
        state.load(payload, progress)
    except _MALFORMED as error:
        _set_aside(path, f"{path}: malformed training state ({_short(error)})", log)
        return build()  # the failed load may have changed some weights: initialise again
    log(f"resumed at iteration {progress.iteration} from {path.name}")
    return state


def _set_aside(path: Path, reason: str, log: TrainLog) -> None:
    """Move a damaged snapshot to ``<name>.corrupt`` and say so; the run then starts from scratch."""
    aside = path.with_name(path.name + CORRUPT_SUFFIX)
    try:
        path.replace(aside)
    except OSError as error:
        raise TreeMTLError(f"{reason}; it cannot be moved to {aside.name} ({error.strerror or error}): "
                           f"delete {path} and run again") from error
    log.warn(f"{reason}; moved it to {aside} and started training from iteration 0")


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text if len(text) <= 160 else text[:157] + '...'}"
