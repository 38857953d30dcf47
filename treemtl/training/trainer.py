"""Training and evaluation of single-, two- and multi-task tree models (paper App. G).

One loop serves every model of an experiment so that their relative performance compares
recipes that differ only in the layout. Design points:

* Iteration-based: the paper counts iterations, not epochs. Batches come from an endless
  sampler whose order within epoch ``e`` is a pure function of ``(seed, e)`` and the
  iteration number alone fixes the position, so a resumed job continues with exactly the
  batches an uninterrupted one would have seen.
* Resume: every ``checkpoint_every`` iterations the full training state (weights, optimizer,
  LR scheduler, RNG states, data position, evaluation history, early-stop monitor) is written
  atomically to ``DIR/resume.pt``; when that file exists (and belongs to the same
  config/tasks/layout/seed) training continues from it. On CPU a killed and restarted run
  ends with exactly the metrics of an uninterrupted one. ``resume.pt`` is deleted once
  ``model.pt`` and ``metrics.json`` are written.
* Validation score (early-stop monitor and ``best_iteration``): mean over tasks of the relative
  performance (%) against ``reference`` (e.g. the single-task metrics) when given, otherwise
  against the first evaluation. Metrics whose reference value is 0 are skipped by the monitor.
* Final metrics: with ``early_stop_patience == 0`` (the default) the evaluation at the last
  iteration, and ``model.pt`` holds the last weights. With patience > 0 training stops after
  that many evaluations without improvement, and both the final metrics and ``model.pt``
  are those of the best evaluation (``best_iteration``).
* A non-finite loss stops training with an error naming the task and the iteration.
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Sampler

from treemtl.atomic import write_json_atomic
from treemtl.training.checkpoint import (
    capture_rng_state,
    load_model_file,
    load_resume,
    restore_rng_state,
    save_model,
    save_resume,
)
from treemtl.training.config import ExperimentConfig, config_from_dict
from treemtl.errors import TreeMTLError
from treemtl.core.relative_performance import overall_relative_performance
from treemtl.training.tasks import get_task, task_directions

if TYPE_CHECKING:
    from treemtl.core.layout import Layout

Metrics = dict[str, dict[str, float]]
IterationCallback = Callable[[int], None]


# ----------------------------------------------------------------------------------------------
# data order


def epoch_order(num_items: int, seed: int, epoch: int) -> Tensor:
    """The permutation of epoch ``epoch``: a pure function of (seed, epoch), for exact resume."""
    entropy = np.random.SeedSequence([int(seed), int(epoch), 0x7EE]).generate_state(2, dtype=np.uint32)
    generator = torch.Generator().manual_seed(int(entropy[0]) << 32 | int(entropy[1]))
    return torch.randperm(num_items, generator=generator)


class EpochBatchSampler(Sampler[list[int]]):
    """Endless batches: epoch after epoch of seeded permutations, starting at global batch ``start``.

    Every epoch has the same number of full batches (the remainder is dropped, as usual for
    iteration-based training), so global batch ``k`` is batch ``k % per_epoch`` of epoch
    ``k // per_epoch``. A dataset smaller than one batch yields all of it per batch.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, start: int = 0) -> None:
        if num_items < 1:
            raise TreeMTLError("the training split is empty")
        self.num_items = num_items
        self.batch_size = min(batch_size, num_items)
        self.seed = seed
        self.start = start

    @property
    def batches_per_epoch(self) -> int:
        return self.num_items // self.batch_size

    def position(self, batch: int) -> tuple[int, int]:
        """(epoch, batch index inside the epoch) of global batch ``batch``."""
        return divmod(batch, self.batches_per_epoch)

    def __iter__(self) -> Iterator[list[int]]:
        batch = self.start
        epoch, index = self.position(batch)
        order = epoch_order(self.num_items, self.seed, epoch)
        while True:
            new_epoch, index = self.position(batch)
            if new_epoch != epoch:
                epoch = new_epoch
                order = epoch_order(self.num_items, self.seed, epoch)
            yield order[index * self.batch_size : (index + 1) * self.batch_size].tolist()
            batch += 1


# ----------------------------------------------------------------------------------------------
# devices


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> the first visible CUDA device if any (honours CUDA_VISIBLE_DEVICES), else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TreeMTLError(f"--device {name}: no CUDA device is available")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise TreeMTLError(f"--device: expected auto, cpu or cuda, got {name!r}")


def available_cpus() -> int:
    """CPUs this process may run on (respects taskset/cpusets, unlike ``os.cpu_count``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def autocast_context(device: torch.device, amp: str) -> AbstractContextManager[Any]:
    """bf16 autocast on CUDA when ``amp`` is ``auto`` (no loss scaling needed for bf16)."""
    if amp == "auto" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _to_device(batch: Mapping[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}


# ----------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset[Any],
    tasks: Sequence[str],
    num_classes: int,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
    workers: int = 0,
    amp: str = "auto",
) -> Metrics:
    """Metrics of every task over the whole split, accumulated across batches."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    accumulators = {task: get_task(task).new_accumulator(num_classes) for task in tasks}
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        pin_memory=device.type == "cuda")
    for batch in loader:
        batch = _to_device(batch, device)
        with autocast_context(device, amp):
            outputs = model(batch["image"])
        for task in tasks:
            accumulators[task].update(outputs[task].float(), batch[task], batch.get(f"{task}_mask"))
    model.train(was_training)
    return {task: accumulators[task].compute() for task in tasks}


def validation_score(metrics: Metrics, reference: Metrics) -> float:
    """Mean over tasks of the relative performance Δ (%) against ``reference``: the monitor's score."""
    total, _ = overall_relative_performance(list(metrics), metrics, reference, task_directions(list(metrics)), "validation")
    return total


# ----------------------------------------------------------------------------------------------
# training


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced; ``summary`` is the content of ``metrics.json``."""

    model: nn.Module
    summary: dict[str, Any]

    @property
    def metrics(self) -> Metrics:
        return self.summary["metrics"]


def _fingerprint(config: ExperimentConfig, tasks: Sequence[str], layout: str, seed: int) -> dict[str, Any]:
    """Identity of a run: a snapshot from a different run must not be resumed."""
    return {"config": config.to_dict(), "tasks": list(tasks), "layout": layout, "seed": int(seed)}


class _Log:
    """Append-only ``train.log`` (kept across resumes, so a restart is visible in it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {message}\n")


def _make_optimizer(model: nn.Module, config: ExperimentConfig) -> torch.optim.Optimizer:
    train = config.train
    if train.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=train.lr, momentum=train.momentum,
                               weight_decay=train.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)


def _progress(total: int, initial: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, file=sys.stderr, disable=not sys.stderr.isatty(),
                desc="train", unit="it", dynamic_ncols=True)


def train(
    config: ExperimentConfig,
    tasks: Sequence[str],
    layout: Layout | str,
    out_dir: str | Path,
    *,
    seed: int | None = None,
    iters: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    reference: Metrics | None = None,
    train_set: Dataset[Any] | None = None,
    val_set: Dataset[Any] | None = None,
    model_factory: Callable[[int], nn.Module] | None = None,
    on_iteration: IterationCallback | None = None,
) -> TrainResult:
    """Train ``layout`` for ``tasks`` and write ``metrics.json``, ``model.pt``, ``train.log`` to ``out_dir``.

    ``seed``/``iters`` override the config. ``train_set``/``val_set`` default to
    ``treemtl.training.data.build_dataset``; ``model_factory(num_classes)`` defaults to
    ``treemtl.nets.model.build_model``. ``on_iteration(k)`` runs after iteration ``k`` (and its
    evaluation/snapshot) — a hook for progress reporting or for simulating a kill in tests.
    """
    tasks = list(tasks)
    for task in tasks:
        get_task(task)
    seed = config.seed if seed is None else int(seed)
    if iters is not None:
        if iters < 1:
            raise TreeMTLError(f"--iters: expected a positive integer, got {iters}")
        config = replace(config, train=replace(config.train, iters=int(iters)))
    recipe = config.train
    layout_text = layout if isinstance(layout, str) else layout.format()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = _Log(out / "train.log")
    torch.set_num_threads(max(1, threads if threads is not None else available_cpus()))
    dev = resolve_device(device)

    if train_set is None or val_set is None:
        from treemtl.training.data import build_dataset

        train_set = train_set if train_set is not None else build_dataset(config, "train", tasks)
        val_set = val_set if val_set is not None else build_dataset(config, "val", tasks)
    num_classes = int(getattr(train_set, "num_classes", 0))

    # Model initialisation consumes the global RNGs: seed them first.
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
    if model_factory is None:
        from treemtl.core.layout import Layout
        from treemtl.nets.model import build_model

        layout_obj = Layout.parse(layout_text) if isinstance(layout, str) else layout
        model = build_model(config, tasks, layout_obj, num_classes)
    else:
        model = model_factory(num_classes)
    model.to(dev)
    model.train()
    optimizer = _make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=recipe.lr_step, gamma=recipe.lr_gamma)
    weights = {task: float(recipe.loss_weights.get(task, 1.0)) for task in tasks}
    specs = {task: get_task(task) for task in tasks}

    iteration = 0
    history: list[dict[str, Any]] = []
    monitor_reference: Metrics | None = reference
    best_score = -math.inf
    best_iteration = 0
    best_state: dict[str, Tensor] | None = None
    bad_evals = 0
    elapsed_wall = 0.0
    elapsed_train = 0.0
    images_seen = 0
    loss_sums = {task: 0.0 for task in tasks}
    loss_count = 0
    fingerprint = _fingerprint(config, tasks, layout_text, seed)

    resume_path = out / "resume.pt"
    if resume_path.exists():
        state = load_resume(resume_path)
        if state.get("fingerprint") != fingerprint:
            log(f"ignoring {resume_path.name}: it belongs to a different config/tasks/layout/seed")
        else:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            restore_rng_state(state["rng"])
            iteration = int(state["iteration"])
            history = list(state["history"])
            monitor_reference = state["monitor_reference"]
            best_score = float(state["best_score"])
            best_iteration = int(state["best_iteration"])
            best_state = state.get("best_state")
            bad_evals = int(state["bad_evals"])
            elapsed_wall = float(state["wall_time_s"])
            elapsed_train = float(state["train_time_s"])
            images_seen = int(state["images_seen"])
            loss_sums = {task: float(state["loss_sums"][task]) for task in tasks}
            loss_count = int(state["loss_count"])
            log(f"resumed at iteration {iteration} from {resume_path.name}")
    if iteration == 0:
        log(f"start: tasks={','.join(tasks)} layout={layout_text} seed={seed} iters={recipe.iters} "
            f"device={dev} threads={torch.get_num_threads()}")

    sampler = EpochBatchSampler(len(train_set), recipe.batch_size, seed, start=iteration)  # type: ignore[arg-type]
    loader = DataLoader(train_set, batch_sampler=sampler, num_workers=recipe.workers,
                        pin_memory=dev.type == "cuda", persistent_workers=recipe.workers > 0)
    batches = iter(loader)
    stopped_early = False
    start_wall = time.perf_counter()

    def snapshot() -> None:
        save_resume(resume_path, {
            "fingerprint": fingerprint,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": capture_rng_state(),
            "iteration": iteration,
            "epoch": sampler.position(iteration)[0],
            "position": sampler.position(iteration)[1],
            "history": history,
            "monitor_reference": monitor_reference,
            "best_score": best_score,
            "best_iteration": best_iteration,
            "best_state": best_state,
            "bad_evals": bad_evals,
            "wall_time_s": elapsed_wall + time.perf_counter() - start_wall,
            "train_time_s": elapsed_train,
            "images_seen": images_seen,
            "loss_sums": loss_sums,
            "loss_count": loss_count,
        })

    progress = _progress(recipe.iters, iteration)
    try:
        while iteration < recipe.iters and not stopped_early:
            tick = time.perf_counter()
            batch = _to_device(next(batches), dev)
            with autocast_context(dev, recipe.amp):
                outputs = model(batch["image"])
            losses = {
                task: specs[task].loss(outputs[task], batch[task], batch.get(f"{task}_mask")) for task in tasks
            }
            total = sum(weights[task] * losses[task] for task in tasks)
            assert isinstance(total, Tensor)
            if not math.isfinite(float(total.detach())):
                bad = [task for task in tasks if not math.isfinite(float(losses[task].detach()))] or tasks
                raise TreeMTLError(
                    f"{out}: loss of task {bad[0]} is not finite at iteration {iteration + 1} "
                    f"(value {float(losses[bad[0]].detach())}); lower train.lr or check the data"
                )
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            scheduler.step()
            iteration += 1
            images_seen += int(batch["image"].shape[0])
            for task in tasks:
                loss_sums[task] += float(losses[task].detach())
            loss_count += 1
            elapsed_train += time.perf_counter() - tick
            progress.update(1)
            progress.set_postfix(loss=f"{float(total.detach()):.4f}", refresh=False)

            if iteration % recipe.eval_every == 0 or iteration == recipe.iters:
                metrics = evaluate(model, val_set, tasks, num_classes, device=dev,  # type: ignore[arg-type]
                                   batch_size=recipe.batch_size, workers=recipe.workers, amp=recipe.amp)
                if monitor_reference is None:
                    monitor_reference = metrics
                score = validation_score(metrics, monitor_reference)
                train_loss = {task: loss_sums[task] / max(loss_count, 1) for task in tasks}
                loss_sums = {task: 0.0 for task in tasks}
                loss_count = 0
                history.append({"iteration": iteration, "score": score, "train_loss": train_loss,
                                "lr": optimizer.param_groups[0]["lr"], "metrics": metrics})
                if score > best_score:
                    best_score, best_iteration, bad_evals = score, iteration, 0
                    if recipe.early_stop_patience > 0:
                        best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                else:
                    bad_evals += 1
                log(f"iter {iteration}: score {score:+.3f} loss "
                    + " ".join(f"{t}={v:.4f}" for t, v in train_loss.items())
                    + " | " + "; ".join(f"{t}: " + ", ".join(f"{k}={v:.4g}" for k, v in m.items())
                                        for t, m in metrics.items()))
                if recipe.early_stop_patience > 0 and bad_evals >= recipe.early_stop_patience:
                    stopped_early = True
                    log(f"early stop at iteration {iteration}: best iteration {best_iteration}")
            if iteration % recipe.checkpoint_every == 0 and iteration < recipe.iters and not stopped_early:
                snapshot()
            if on_iteration is not None:
                on_iteration(iteration)
    finally:
        progress.close()
        del batches

    if best_state is not None and recipe.early_stop_patience > 0:
        model.load_state_dict(best_state)
        final = next(entry for entry in history if entry["iteration"] == best_iteration)
    else:
        final = history[-1]
    wall_time = elapsed_wall + time.perf_counter() - start_wall
    summary: dict[str, Any] = {
        "tasks": tasks,
        "layout": layout_text,
        "seed": seed,
        "metrics": final["metrics"],
        "iterations": iteration,
        "final": "best" if recipe.early_stop_patience > 0 else "last",
        "best_iteration": best_iteration,
        "early_stopped": stopped_early,
        "wall_time_s": round(wall_time, 3),
        "images_per_s": round(images_seen / elapsed_train, 2) if elapsed_train > 0 else 0.0,
        "device": dev.type,
        "threads": torch.get_num_threads(),
        "num_classes": num_classes,
        "history": history,
    }
    save_model(out / "model.pt", state_dict=model.state_dict(), config=config.to_dict(), tasks=tasks,
               layout=layout_text, num_classes=num_classes,
               extra={"seed": seed, "iteration": final["iteration"]})
    write_json_atomic(out / "metrics.json", summary)
    log(f"done: {iteration} iterations in {wall_time:.1f} s; final metrics from iteration {final['iteration']}")
    resume_path.unlink(missing_ok=True)
    return TrainResult(model=model, summary=summary)


# ----------------------------------------------------------------------------------------------
# loading trained models


@dataclass(frozen=True)
class TrainedModel:
    """A trained network rebuilt from ``model.pt``, in eval mode."""

    model: nn.Module
    tasks: tuple[str, ...]
    layout: Layout
    config: ExperimentConfig
    num_classes: int
    seed: int | None = None


def load_trained(checkpoint_path: str | Path, device: str = "cpu") -> TrainedModel:
    """Rebuild the model saved by :func:`train` for evaluation or feature extraction."""
    from treemtl.core.layout import Layout
    from treemtl.nets.model import build_model

    payload = load_model_file(checkpoint_path)
    config = config_from_dict(payload["config"], source=f"{checkpoint_path} (stored config)")
    tasks = tuple(payload["tasks"])
    layout = Layout.parse(payload["layout"])
    num_classes = int(payload["num_classes"])
    model = build_model(config, tasks, layout, num_classes)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise TreeMTLError(f"{checkpoint_path}: weights do not match the stored architecture: {error}") from error
    model.to(resolve_device(device))
    model.eval()
    seed = payload.get("seed")
    return TrainedModel(model=model, tasks=tasks, layout=layout, config=config, num_classes=num_classes,
                        seed=None if seed is None else int(seed))

