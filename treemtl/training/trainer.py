"""Training and evaluation of single-, two- and multi-task tree models (paper App. G).

One loop serves every model of an experiment so that their relative performance compares
recipes that differ only in the layout. :func:`train` is made of parts:

* setup: :func:`set_up` (device, CPU threads, data splits, the multi-task loss) and
  :func:`build_state` (seeded: model, optimizer, LR schedule, data order);
* resume: :func:`~treemtl.training.training_state.start_or_resume` continues from ``DIR/resume.pt``
  when it is this run's; :class:`~treemtl.training.training_state.TrainingState` writes it every
  ``checkpoint_every`` iterations. On CPU a killed and restarted run ends with exactly the metrics
  of an uninterrupted one. ``resume.pt`` is deleted once ``model.pt`` and ``metrics.json`` exist;
* :func:`train_step`: one optimisation step. A non-finite loss, or a loss that explodes while
  staying finite (:mod:`~treemtl.training.loss_guard`), stops training with an error naming the
  iteration, and no metrics are written;
* :func:`validate`: evaluation on the validation split and the early-stop monitor;
* :func:`finish`: ``model.pt`` and ``metrics.json``.

Iterations, not epochs, as in the paper: batches come from
:class:`~treemtl.training.sampling.EpochBatchSampler`, whose order is a pure function of the seed
and the position, so a resumed run sees exactly the batches an uninterrupted one would have.

* Validation score (early-stop monitor and ``best_iteration``): mean over tasks of the relative
  performance (%) against ``reference`` (e.g. the single-task metrics) when given, otherwise
  against the first evaluation. Metrics whose reference value is 0 are skipped by the monitor.
* Final metrics: with ``early_stop_patience == 0`` (the default) the evaluation at the last
  iteration, and ``model.pt`` holds the last weights. With patience > 0 training stops after
  that many evaluations without improvement, and both the final metrics and ``model.pt``
  are those of the best evaluation (``best_iteration``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from treemtl.atomic import write_json_atomic
from treemtl.training.checkpoint import REGENERATE_MODEL, load_model_file, save_model, stored_layout
from treemtl.training.config import ExperimentConfig, TrainConfig, config_from_dict
from treemtl.training.devices import autocast_context, peak_gpu_memory_mib, resolve_device, to_device, use_threads
from treemtl.errors import TreeMTLError
from treemtl.core.relative_performance import overall_relative_performance
from treemtl.training.metrics_file import Metrics
from treemtl.training.sampling import EpochBatchSampler, seed_global_rngs
from treemtl.training.warm_start import ModelFactory
from treemtl.training.tasks import TaskSpec, get_task, head_channels, pooled_tasks, task_directions
from treemtl.training.train_log import TrainLog
from treemtl.training.training_state import RESUME_FILE, Progress, TrainingState, start_or_resume

if TYPE_CHECKING:
    from treemtl.core.layout import Layout

IterationCallback = Callable[[int], None]


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
    config: ExperimentConfig | None = None,
) -> Metrics:
    """Metrics of every task (of ``config``, or built-in) over the whole split, accumulated across batches."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    accumulators = {task: get_task(task, config).new_accumulator(num_classes) for task in tasks}
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        pin_memory=device.type == "cuda")
    for batch in loader:
        batch = to_device(batch, device)
        with autocast_context(device, amp):
            outputs = model(batch["image"])
        for task in tasks:
            accumulators[task].update(outputs[task].float(), batch[task], batch.get(f"{task}_mask"))
    model.train(was_training)
    return {task: accumulators[task].compute() for task in tasks}


def validation_score(metrics: Metrics, reference: Metrics, config: ExperimentConfig | None = None) -> float:
    """Mean over tasks of the relative performance Δ (%) against ``reference``: the monitor's score."""
    directions = task_directions(list(metrics), config)
    total, _ = overall_relative_performance(list(metrics), metrics, reference, directions, "validation")
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


@dataclass(frozen=True)
class RunSpec:
    """What one run trains and where; its fingerprint decides whether a snapshot may be resumed."""

    config: ExperimentConfig
    tasks: tuple[str, ...]
    layout: str
    seed: int
    out: Path
    #: The model.pt the weights start from (warm start), or None for a seeded random start.
    init: Path | None = None

    @property
    def recipe(self) -> TrainConfig:
        return self.config.train

    def fingerprint(self) -> dict[str, Any]:
        identity = {"config": self.config.to_dict(), "tasks": list(self.tasks), "layout": self.layout, "seed": self.seed}
        return identity if self.init is None else {**identity, "init": str(self.init)}


@dataclass(frozen=True)
class Objective:
    """The multi-task loss: every task's loss weighted by ``train.loss_weights`` (default 1), summed."""

    specs: dict[str, TaskSpec]
    weights: dict[str, float]

    @classmethod
    def of(cls, tasks: Sequence[str], recipe: TrainConfig, config: ExperimentConfig | None = None) -> Objective:
        return cls(specs={task: get_task(task, config) for task in tasks},
                   weights={task: float(recipe.loss_weights.get(task, 1.0)) for task in tasks})

    def losses(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {task: spec.loss(outputs[task], batch[task], batch.get(f"{task}_mask")) for task, spec in self.specs.items()}

    def total(self, losses: Mapping[str, Tensor]) -> Tensor:
        total = sum(self.weights[task] * losses[task] for task in self.specs)
        assert isinstance(total, Tensor)
        return total


@dataclass(frozen=True)
class Setup:
    """The fixed parts of a run, built once before training: where it runs, its data, its loss."""

    device: torch.device
    train_set: Dataset[Any]
    val_set: Dataset[Any]
    num_classes: int
    objective: Objective


def _run_spec(config: ExperimentConfig, tasks: Sequence[str], layout: Layout | str, out_dir: str | Path,
              seed: int | None, iters: int | None) -> RunSpec:
    """The run's identity with the ``seed``/``iters`` overrides applied; unknown tasks are rejected."""
    for task in tasks:
        get_task(task, config)
    if iters is not None:
        if iters < 1:
            raise TreeMTLError(f"--iters: expected a positive integer, got {iters}")
        config = replace(config, train=replace(config.train, iters=int(iters)))
    return RunSpec(config=config, tasks=tuple(tasks), layout=layout if isinstance(layout, str) else layout.format(),
                   seed=config.seed if seed is None else int(seed), out=Path(out_dir))


def set_up(run: RunSpec, device: str, threads: int | None, train_set: Dataset[Any] | None,
           val_set: Dataset[Any] | None) -> Setup:
    """CPU threads, the device, both data splits (built from the config unless given) and the loss."""
    use_threads(threads)
    dev = resolve_device(device)
    if train_set is None or val_set is None:
        from treemtl.training.data import build_dataset

        train_set = train_set if train_set is not None else build_dataset(run.config, "train", list(run.tasks))
        val_set = val_set if val_set is not None else build_dataset(run.config, "val", list(run.tasks))
    return Setup(device=dev, train_set=train_set, val_set=val_set,
                 num_classes=int(getattr(train_set, "num_classes", 0)), objective=Objective.of(run.tasks, run.recipe, run.config))


def tree_model_factory(config: ExperimentConfig, tasks: Sequence[str], layout: Layout | str,
                       seed: int | None = None) -> ModelFactory:
    """``num_classes -> model``: the tree-structured network of ``layout`` on the config's backbone;
    with ``train.shared_init`` it starts from the experiment's initial network of ``seed``
    (default ``config.seed``; :mod:`treemtl.training.shared_init`)."""
    from treemtl.core.layout import Layout
    from treemtl.nets.model import build_model
    from treemtl.training.shared_init import start_from_initial_network

    layout_obj = Layout.parse(layout) if isinstance(layout, str) else layout

    def make(num_classes: int) -> nn.Module:
        model = build_model(config, head_channels(list(tasks), num_classes, config), layout_obj,
                            pooled_tasks(list(tasks), config))
        if config.train.shared_init:
            start_from_initial_network(model, config, num_classes, config.seed if seed is None else seed)
        return model

    return make


def build_state(run: RunSpec, setup: Setup, make_model: ModelFactory, reference: Metrics | None) -> TrainingState:
    """Iteration 0 of the run: seeded initial weights, optimizer, LR schedule and data order."""
    # Model initialisation consumes the global RNGs: seed them first.
    seed_global_rngs(run.seed)
    model = make_model(setup.num_classes)
    model.to(setup.device)
    model.train()
    optimizer = _make_optimizer(model, run.recipe)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=run.recipe.lr_step, gamma=run.recipe.lr_gamma)
    sampler = EpochBatchSampler(len(setup.train_set), run.recipe.batch_size, run.seed,  # type: ignore[arg-type]
                                keyed=bool(getattr(setup.train_set, "keyed_draws", False)))
    return TrainingState(model=model, optimizer=optimizer, scheduler=scheduler, sampler=sampler,
                         progress=Progress.start(list(run.tasks), reference))


def _make_optimizer(model: nn.Module, recipe: TrainConfig) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=recipe.lr, betas=(recipe.adam_betas[0], recipe.adam_betas[1]),
                            weight_decay=recipe.weight_decay)


def train_step(state: TrainingState, batch: Mapping[str, Tensor], setup: Setup, run: RunSpec) -> tuple[dict[str, float], float]:
    """One optimisation step on ``batch``: the task losses and their weighted total.

    The losses are checked before the update: a non-finite or exploding loss stops the run.
    """
    batch = to_device(batch, setup.device)
    with autocast_context(setup.device, run.recipe.amp):
        outputs = state.model(batch["image"])
    losses = setup.objective.losses(outputs, batch)
    total = setup.objective.total(losses)
    values = {task: float(loss.detach()) for task, loss in losses.items()}
    total_value = float(total.detach())
    problem = state.progress.guard.check(state.progress.iteration + 1, values, total_value)
    if problem is not None:
        raise TreeMTLError(f"{run.out}: {problem}; lower train.lr or check the data")
    state.optimizer.zero_grad(set_to_none=True)
    total.backward()
    state.optimizer.step()
    state.scheduler.step()
    return values, total_value


def validate(state: TrainingState, setup: Setup, run: RunSpec, log: TrainLog) -> None:
    """Evaluate on the validation split, add it to the history and update the early-stop monitor."""
    recipe, progress = run.recipe, state.progress
    metrics = evaluate(state.model, setup.val_set, run.tasks, setup.num_classes, device=setup.device, config=run.config,
                       batch_size=recipe.batch_size, workers=recipe.workers, amp=recipe.amp)
    if progress.monitor_reference is None:
        progress.monitor_reference = metrics
    score = validation_score(metrics, progress.monitor_reference, run.config)
    entry = progress.record_evaluation(metrics, score, state.optimizer.param_groups[0]["lr"],
                                       state.model if recipe.early_stop_patience > 0 else None)
    log(f"iter {progress.iteration}: score {score:+.3f} loss "
        + " ".join(f"{t}={v:.4f}" for t, v in entry["train_loss"].items())
        + " | " + "; ".join(f"{t}: " + ", ".join(f"{k}={v:.4g}" for k, v in m.items()) for t, m in metrics.items()))
    if progress.stopped_early(recipe.early_stop_patience):
        log(f"early stop at iteration {progress.iteration}: best iteration {progress.best_iteration}")


def _progress_bar(total: int, initial: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, file=sys.stderr, disable=not sys.stderr.isatty(),
                desc="train", unit="it", dynamic_ncols=True)


def run_loop(state: TrainingState, setup: Setup, run: RunSpec, log: TrainLog,
             on_iteration: IterationCallback | None = None) -> None:
    """Train from the state's iteration to ``train.iters`` (or an early stop), evaluating and snapshotting."""
    recipe, progress = run.recipe, state.progress
    state.sampler.start = progress.iteration
    loader = DataLoader(setup.train_set, batch_sampler=state.sampler, num_workers=recipe.workers,
                        pin_memory=setup.device.type == "cuda", persistent_workers=recipe.workers > 0)
    batches = iter(loader)
    bar = _progress_bar(recipe.iters, progress.iteration)
    clock = time.perf_counter()
    try:
        while progress.iteration < recipe.iters and not progress.stopped_early(recipe.early_stop_patience):
            tick = time.perf_counter()
            batch = next(batches)
            losses, total = train_step(state, batch, setup, run)
            progress.record_step(losses, images=int(batch["image"].shape[0]), seconds=time.perf_counter() - tick)
            bar.update(1)
            bar.set_postfix(loss=f"{total:.4f}", refresh=False)
            if progress.iteration % recipe.eval_every == 0 or progress.iteration == recipe.iters:
                validate(state, setup, run, log)
            if (progress.iteration % recipe.checkpoint_every == 0 and progress.iteration < recipe.iters
                    and not progress.stopped_early(recipe.early_stop_patience)):
                now = time.perf_counter()
                progress.wall_time_s += now - clock
                clock = now
                state.save(run.out / RESUME_FILE, run.fingerprint())
            if on_iteration is not None:
                on_iteration(progress.iteration)
    finally:
        progress.wall_time_s += time.perf_counter() - clock
        bar.close()
        del batches


def finish(state: TrainingState, setup: Setup, run: RunSpec, log: TrainLog) -> TrainResult:
    """Write ``model.pt`` and ``metrics.json`` (the best evaluation's with early stopping, else the last)."""
    progress, patience = state.progress, run.recipe.early_stop_patience
    if patience > 0 and progress.best_weights is not None:
        state.model.load_state_dict(progress.best_weights)
        final = next(entry for entry in progress.history if entry["iteration"] == progress.best_iteration)
    else:
        final = progress.history[-1]
    summary: dict[str, Any] = {
        "tasks": list(run.tasks),
        "layout": run.layout,
        "seed": run.seed,
        "metrics": final["metrics"],
        "iterations": progress.iteration,
        "final": "best" if patience > 0 else "last",
        "best_iteration": progress.best_iteration,
        "early_stopped": progress.stopped_early(patience),
        "wall_time_s": round(progress.wall_time_s, 3),
        "images_per_s": round(progress.images_seen / progress.train_time_s, 2) if progress.train_time_s > 0 else 0.0,
        "device": setup.device.type,
        "peak_gpu_memory_mib": peak_gpu_memory_mib(setup.device),
        "threads": torch.get_num_threads(),
        "num_classes": setup.num_classes,
        "history": progress.history,
    }
    save_model(run.out / "model.pt", state_dict=state.model.state_dict(), config=run.config.to_dict(),
               tasks=list(run.tasks), layout=run.layout, num_classes=setup.num_classes,
               extra={"seed": run.seed, "iteration": final["iteration"]})
    write_json_atomic(run.out / "metrics.json", summary)
    log(f"done: {progress.iteration} iterations in {progress.wall_time_s:.1f} s; "
        f"final metrics from iteration {final['iteration']}")
    (run.out / RESUME_FILE).unlink(missing_ok=True)
    return TrainResult(model=state.model, summary=summary)


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
    model_factory: ModelFactory | None = None,
    on_iteration: IterationCallback | None = None,
    init: str | Path | None = None,
) -> TrainResult:
    """Train ``layout`` for ``tasks`` and write ``metrics.json``, ``model.pt``, ``train.log`` to ``out_dir``.

    ``seed``/``iters`` override the config. ``train_set``/``val_set`` default to
    ``treemtl.training.data.build_dataset``; ``model_factory(num_classes)`` defaults to
    ``treemtl.nets.model.build_model``. ``on_iteration(k)`` runs after iteration ``k`` (and its
    evaluation/snapshot) — a hook for progress reporting or for simulating a kill in tests.
    ``init`` (a ``model.pt`` of the same tasks) warm-starts the weights (:mod:`treemtl.training.warm_start`).
    """
    run = _run_spec(config, tasks, layout, out_dir, seed, iters)
    if init is not None:
        run = replace(run, init=Path(init))
    run.out.mkdir(parents=True, exist_ok=True)
    log = TrainLog(run.out / "train.log")
    setup = set_up(run, device, threads, train_set, val_set)
    make_model = model_factory or tree_model_factory(run.config, run.tasks, layout, run.seed)
    if run.init is not None:
        from treemtl.training.warm_start import warm_started

        make_model = warm_started(make_model, run.init, run.tasks)
    state = start_or_resume(lambda: build_state(run, setup, make_model, reference), run.out / RESUME_FILE,
                            run.fingerprint(), log)
    if state.progress.iteration == 0:
        log(f"start: tasks={','.join(run.tasks)} layout={run.layout} seed={run.seed} iters={run.recipe.iters} "
            f"device={setup.device} threads={torch.get_num_threads()}" + (f" init={run.init}" if run.init else ""))
    run_loop(state, setup, run, log, on_iteration)
    return finish(state, setup, run, log)


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
    """Rebuild the model saved by :func:`train` for evaluation or feature extraction.

    The file is validated as it is read: a truncated, foreign or inconsistent ``model.pt`` is a
    :class:`TreeMTLError` naming it and saying how to regenerate it.
    """
    from treemtl.nets.model import build_model

    payload = load_model_file(checkpoint_path)
    config = config_from_dict(payload["config"], source=f"{checkpoint_path} (stored config)")
    tasks = tuple(payload["tasks"])
    layout = stored_layout(payload, checkpoint_path)
    num_classes = int(payload["num_classes"])
    model = build_model(config, head_channels(tasks, num_classes, config), layout, pooled_tasks(tasks, config))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        detail = " ".join(str(error).split())[:200]
        raise TreeMTLError(f"{checkpoint_path}: its weights do not fit the stored architecture ({detail}); "
                           f"{REGENERATE_MODEL}") from error
    model.to(resolve_device(device))
    model.eval()
    seed = payload.get("seed")
    return TrainedModel(model=model, tasks=tasks, layout=layout, config=config, num_classes=num_classes,
                        seed=None if seed is None else int(seed))

