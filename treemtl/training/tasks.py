"""Task specifications as data: output channels, loss, metrics and their direction (paper 4.1).

Every trainer and report reads tasks from here, so a metric's name, its direction and the way
it is averaged over a validation set are defined once. Metrics are streaming: accumulators sum
over batches and divide once at the end (pixel-weighted over the whole split), and the
segmentation confusion matrix is accumulated over the whole split before mIoU is taken — the
mean of per-batch scores would be a different, batch-size-dependent number.

A metric's direction decides the sign of its term in the relative performance Δ
(:mod:`treemtl.core.relative_performance`).

A task of a config is resolved by :func:`get_task` from its entry: a built-in name, a task
declared by type (:data:`TASK_TYPES`: segmentation, depth, regression, normals, heatmap,
classification, image_regression) or a plugin callable returning a :class:`TaskSpec`.
"""

from __future__ import annotations

import math
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from treemtl.errors import TreeMTLError
from treemtl.plugin import call_plugin
from treemtl.training import registry
from treemtl.training.registry import HEADS, PLUGIN_TYPE, TARGETS, TaskEntry

if TYPE_CHECKING:
    from treemtl.training.config import ExperimentConfig

IGNORE_LABEL = -1
NORMAL_THRESHOLDS: tuple[float, ...] = (11.25, 22.5, 30.0)
DEPTH_THRESHOLDS: tuple[float, ...] = (1.25, 1.25**2, 1.25**3)


@dataclass(frozen=True)
class MetricSpec:
    """A metric's name and whether larger values are better (decides the sign of Δ).

    ``in_delta`` False: the metric is measured and reported but left out of Δ (the standard
    metrics under the ``task_loss`` protocol).
    """

    name: str
    higher_is_better: bool
    in_delta: bool = True

    @property
    def direction(self) -> str:
        return "higher" if self.higher_is_better else "lower"


class MetricAccumulator(Protocol):
    """Streaming metric state for one task over a validation split."""

    def update(self, prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> None: ...

    def compute(self) -> dict[str, float]: ...


LossFn = Callable[[Tensor, Tensor, "Tensor | None"], Tensor]


@dataclass(frozen=True)
class TaskSpec:
    """Everything the trainer needs to know about one task; what a task plugin returns.

    * ``channels(num_classes)``: output channels of the head (``num_classes`` is the dataset's,
      used by the built-in ``segment_semantic``);
    * ``loss(prediction, target, mask)``: a scalar tensor; prediction [B,C,H,W] for a dense head,
      [B,C] for a pooled one; target and mask batched in the task's target format;
    * ``metrics``: each metric's name and direction (Δ and the reports read them);
    * ``accumulator(num_classes)``: a fresh streaming :class:`MetricAccumulator` whose
      ``compute()`` returns exactly the metric names;
    * ``head``: ``dense`` (per pixel) or ``pooled`` (per image);
    * ``target``: the target format (:data:`treemtl.training.registry.TARGETS`), which also says
      how the folder dataset stores the task's labels.
    """

    name: str
    channels: Callable[[int], int]
    loss: LossFn
    metrics: tuple[MetricSpec, ...]
    accumulator: Callable[[int], MetricAccumulator]
    head: str
    target: str

    def out_channels(self, num_classes: int) -> int:
        """Channels of the head output (segmentation depends on the dataset's classes)."""
        return self.channels(num_classes)

    def new_accumulator(self, num_classes: int) -> MetricAccumulator:
        return self.accumulator(num_classes)

    def metric(self, name: str) -> MetricSpec:
        for spec in self.metrics:
            if spec.name == name:
                return spec
        raise TreeMTLError(f"task {self.name}: unknown metric {name!r}; expected one of {self.metric_names}")

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.metrics)

    @property
    def directions(self) -> dict[str, bool]:
        """Metric name -> higher is better for the metrics Δ averages: what
        :mod:`treemtl.core.relative_performance` needs."""
        return {spec.name: spec.higher_is_better for spec in self.metrics if spec.in_delta}


# ----------------------------------------------------------------------------------------------
# validity masks and masked reductions


def _valid(mask: Tensor | None, like: Tensor) -> Tensor:
    """Bool tensor shaped like ``like`` ([B,H,W] or [B,1,H,W]): pixels that count."""
    if mask is None:
        return torch.ones_like(like, dtype=torch.bool)
    mask = mask.to(torch.bool)
    if mask.dim() == like.dim() + 1:
        mask = mask.squeeze(1)
    return mask.expand_as(like)


def _masked_mean(values: Tensor, valid: Tensor) -> Tensor:
    """Mean of ``values`` over valid pixels; 0 (with gradient) when none is valid, never NaN."""
    count = valid.sum()
    if int(count) == 0:
        return values.sum() * 0.0
    # `where`, not a product: invalid pixels may hold inf/NaN targets, and NaN * 0 is NaN.
    return torch.where(valid, values, torch.zeros_like(values)).sum() / count


def _depth_valid(target: Tensor, mask: Tensor | None) -> Tensor:
    # Depth 0 marks missing sensor readings (NYUv2), and relative error divides by the target.
    return _valid(mask, target) & (target > 0) & torch.isfinite(target)


def _normal_valid(target: Tensor, mask: Tensor | None) -> Tensor:
    # Zero vectors mark pixels without a ground-truth normal; the mask is [B,1,H,W].
    pixel = (target.abs().sum(dim=1) > 0) & torch.isfinite(target).all(dim=1)
    if mask is not None:
        pixel = pixel & mask.to(torch.bool).reshape(pixel.shape)
    return pixel


# ----------------------------------------------------------------------------------------------
# losses (predictions are cast to float32: under bf16 autocast the heads return bf16)


def segmentation_loss(prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Pixel-wise cross entropy over classes; label -1 (and masked pixels) ignored."""
    target = target.long()
    if mask is not None:
        target = torch.where(_valid(mask, target), target, torch.full_like(target, IGNORE_LABEL))
    if not bool((target != IGNORE_LABEL).any()):
        return prediction.float().sum() * 0.0
    return F.cross_entropy(prediction.float(), target, ignore_index=IGNORE_LABEL)


def normal_loss(prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """1 - cosine similarity between the L2-normalized prediction and the target, valid pixels."""
    pred = F.normalize(prediction.float(), dim=1)
    cosine = (pred * target.float()).sum(dim=1)
    return _masked_mean(1.0 - cosine, _normal_valid(target, mask))


def depth_loss(prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """L1 on valid depth pixels."""
    diff = (prediction.float() - target.float()).abs()
    return _masked_mean(diff, _depth_valid(target, mask))


def l1_loss(prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """L1 over (masked) pixels, for keypoints and edges."""
    diff = (prediction.float() - target.float()).abs()
    return _masked_mean(diff, _valid(mask, target))


def classification_loss(prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Cross entropy of per-image logits [B,C] against class ids [B]; -1 (no label) ignored."""
    target = target.long().reshape(-1)
    if mask is not None:
        target = torch.where(mask.to(torch.bool).reshape(-1), target, torch.full_like(target, IGNORE_LABEL))
    if not bool((target != IGNORE_LABEL).any()):
        return prediction.float().sum() * 0.0
    return F.cross_entropy(prediction.float(), target, ignore_index=IGNORE_LABEL)


def regression_valid(target: Tensor, mask: Tensor | None) -> Tensor:
    """Valid entries of a regression target: masked in and finite (NaN marks a missing label)."""
    return _valid(mask, target) & torch.isfinite(target)


def regression_loss(prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """L1 over valid entries of a dense map [B,C,H,W] or a per-image value [B,1]."""
    diff = (prediction.float() - target.float()).abs()
    return _masked_mean(diff, regression_valid(target, mask))


# ----------------------------------------------------------------------------------------------
# accumulators


class SegmentationAccumulator:
    """Confusion matrix over the whole split -> mIoU (classes present in target or prediction)
    and pixel accuracy."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> None:
        labels = prediction.argmax(dim=1).reshape(-1).cpu()
        target = target.long().reshape(-1).cpu()
        valid = (target >= 0) & (target < self.num_classes)
        if mask is not None:
            valid &= mask.to(torch.bool).reshape(-1).cpu()
        index = target[valid] * self.num_classes + labels[valid]
        self.confusion += torch.bincount(index, minlength=self.num_classes**2).reshape(
            self.num_classes, self.num_classes
        )

    def compute(self) -> dict[str, float]:
        confusion = self.confusion.double()
        true_positive = confusion.diag()
        union = confusion.sum(0) + confusion.sum(1) - true_positive
        present = union > 0
        total = confusion.sum()
        miou = float((true_positive[present] / union[present]).mean()) if bool(present.any()) else 0.0
        pixel_acc = float(true_positive.sum() / total) if float(total) > 0 else 0.0
        return {"miou": miou, "pixel_acc": pixel_acc}


class NormalAccumulator:
    """Angle errors in degrees: mean, median (exact, from the collected errors) and the
    percentage of pixels within 11.25°, 22.5°, 30°."""

    def __init__(self, num_classes: int = 0) -> None:
        self.errors: list[np.ndarray] = []

    def update(self, prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> None:
        pred = F.normalize(prediction.detach().float(), dim=1)
        cosine = (pred * target.float()).sum(dim=1).clamp(-1.0, 1.0)
        angles = torch.rad2deg(torch.acos(cosine))
        valid = _normal_valid(target, mask)
        self.errors.append(angles[valid].cpu().numpy().astype(np.float64))

    def compute(self) -> dict[str, float]:
        errors = np.concatenate(self.errors) if self.errors else np.zeros(0)
        if errors.size == 0:
            raise TreeMTLError("normal: no valid pixels in the evaluation split")
        result = {"mean_angle": float(errors.mean()), "median_angle": float(np.median(errors))}
        for threshold in NORMAL_THRESHOLDS:
            result[f"within_{threshold:g}"] = float((errors < threshold).mean() * 100.0)
        return result


class DepthAccumulator:
    """Absolute and relative error and δ < 1.25^k accuracies (%), pixel-weighted over the split."""

    def __init__(self, num_classes: int = 0) -> None:
        self.count = 0
        self.abs_sum = 0.0
        self.rel_sum = 0.0
        self.within = [0] * len(DEPTH_THRESHOLDS)

    def update(self, prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> None:
        pred = prediction.detach().double()
        target = target.double()
        valid = _depth_valid(target, mask)
        p, t = pred[valid], target[valid]
        error = (p - t).abs()
        self.count += int(t.numel())
        self.abs_sum += float(error.sum())
        self.rel_sum += float((error / t).sum())
        # A non-positive prediction is infinitely far off in ratio terms.
        ratio = torch.maximum(p / t, t / p.clamp_min(1e-12))
        ratio = torch.where(p > 0, ratio, torch.full_like(ratio, math.inf))
        for k, threshold in enumerate(DEPTH_THRESHOLDS):
            self.within[k] += int((ratio < threshold).sum())

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            raise TreeMTLError("depth_zbuffer: no valid pixels in the evaluation split")
        result = {"abs_err": self.abs_sum / self.count, "rel_err": self.rel_sum / self.count}
        for k in range(len(DEPTH_THRESHOLDS)):
            result[f"delta_{k + 1}"] = self.within[k] / self.count * 100.0
        return result


class L1Accumulator:
    """Mean absolute error over (masked) pixels of the split."""

    def __init__(self, num_classes: int = 0) -> None:
        self.count = 0
        self.total = 0.0

    def update(self, prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> None:
        error = (prediction.detach().double() - target.double()).abs()
        valid = _valid(mask, target)
        self.count += int(valid.sum())
        self.total += float(error[valid].sum())

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            raise TreeMTLError("no valid pixels in the evaluation split")
        return {"error": self.total / self.count}


class AccuracyAccumulator:
    """Share of labelled images whose arg-max class is right (classification)."""

    def __init__(self, num_classes: int = 0) -> None:
        self.count = 0
        self.correct = 0

    def update(self, prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> None:
        target = target.long().reshape(-1).cpu()
        valid = target != IGNORE_LABEL
        if mask is not None:
            valid &= mask.to(torch.bool).reshape(-1).cpu()
        labels = prediction.detach().argmax(dim=1).reshape(-1).cpu()
        self.count += int(valid.sum())
        self.correct += int((labels[valid] == target[valid]).sum())

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            raise TreeMTLError("classification: no labelled images in the evaluation split")
        return {"accuracy": self.correct / self.count}


class RegressionAccumulator:
    """Mean absolute error (and optionally RMSE) over the valid entries of the split."""

    def __init__(self, rmse: bool) -> None:
        self.rmse = rmse
        self.count = 0
        self.abs_sum = 0.0
        self.sq_sum = 0.0

    def update(self, prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> None:
        valid = regression_valid(target, mask)
        error = (prediction.detach().double() - target.double())[valid]
        self.count += int(error.numel())
        self.abs_sum += float(error.abs().sum())
        self.sq_sum += float((error * error).sum())

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            raise TreeMTLError("regression: no labelled values in the evaluation split")
        result = {"abs_err": self.abs_sum / self.count}
        if self.rmse:
            result["rmse"] = math.sqrt(self.sq_sum / self.count)
        return result


# ----------------------------------------------------------------------------------------------
# task types: what a task of each registered type (treemtl.training.registry) is trained and
# measured with. ``classes`` is the declared number of classes (None for built-in tasks, whose
# segmentation classes come from the dataset).


def _type(name: str, type_name: str, **parts: object) -> TaskSpec:
    kind = registry.task_type(type_name)
    return TaskSpec(name=name, head=kind.head, target=kind.target, **parts)  # type: ignore[arg-type]


def _fixed(channels: int) -> Callable[[int], int]:
    return lambda _: channels


def _segmentation(name: str, classes: int | None = None) -> TaskSpec:
    return _type(
        name,
        "segmentation",
        channels=(lambda num_classes: num_classes) if classes is None else _fixed(classes),
        loss=segmentation_loss,
        metrics=(MetricSpec("miou", True), MetricSpec("pixel_acc", True)),
        accumulator=SegmentationAccumulator if classes is None else (lambda _: SegmentationAccumulator(classes)),
    )


def _depth(name: str, classes: int | None = None) -> TaskSpec:
    return _type(
        name,
        "depth",
        channels=_fixed(1),
        loss=depth_loss,
        metrics=(
            MetricSpec("abs_err", False),
            MetricSpec("rel_err", False),
            *(MetricSpec(f"delta_{k + 1}", True) for k in range(len(DEPTH_THRESHOLDS))),
        ),
        accumulator=DepthAccumulator,
    )


def _regression(name: str, classes: int | None = None) -> TaskSpec:
    return _type(name, "regression", channels=_fixed(1), loss=regression_loss,
                 metrics=(MetricSpec("abs_err", False), MetricSpec("rmse", False)),
                 accumulator=lambda _: RegressionAccumulator(rmse=True))


def _normals(name: str, classes: int | None = None) -> TaskSpec:
    return _type(
        name,
        "normals",
        channels=_fixed(3),
        loss=normal_loss,
        metrics=(
            MetricSpec("mean_angle", False),
            MetricSpec("median_angle", False),
            *(MetricSpec(f"within_{t:g}", True) for t in NORMAL_THRESHOLDS),
        ),
        accumulator=NormalAccumulator,
    )


def _heatmap(name: str, classes: int | None = None) -> TaskSpec:
    return _type(name, "heatmap", channels=_fixed(1), loss=l1_loss, metrics=(MetricSpec("error", False),),
                 accumulator=L1Accumulator)


def _classification(name: str, classes: int | None = None) -> TaskSpec:
    if classes is None:
        raise TreeMTLError(f"task {name!r}: a classification task needs classes")
    return _type(name, "classification", channels=_fixed(classes), loss=classification_loss,
                 metrics=(MetricSpec("accuracy", True),), accumulator=AccuracyAccumulator)


def _image_regression(name: str, classes: int | None = None) -> TaskSpec:
    return _type(name, "image_regression", channels=_fixed(1), loss=regression_loss,
                 metrics=(MetricSpec("abs_err", False),), accumulator=lambda _: RegressionAccumulator(rmse=False))


#: Task type -> the spec of a task of that type, given the task's name and declared classes.
TASK_TYPES: dict[str, Callable[[str, int | None], TaskSpec]] = {
    "segmentation": _segmentation,
    "depth": _depth,
    "regression": _regression,
    "normals": _normals,
    "heatmap": _heatmap,
    "classification": _classification,
    "image_regression": _image_regression,
}


# ----------------------------------------------------------------------------------------------
# the task_loss protocol (paper 4.1: Taskonomy's tasks are "directly evaluated by the task-specific
# loss"; the Abs. columns of its Tables 2, 4, 6, 9, 10, 13 and the Δ beside them)

STANDARD = "standard"
TASK_LOSS = "task_loss"

#: Per-element evaluation loss: (values, valid) of the same shape; the metric is the mean of the
#: valid values over the whole split.
ElementLoss = Callable[[Tensor, Tensor, "Tensor | None"], tuple[Tensor, Tensor]]


def _cross_entropy_elements(prediction: Tensor, target: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    target = target.long().reshape(prediction.shape[:1] + prediction.shape[2:])
    valid = _valid(mask, target) & (target != IGNORE_LABEL)
    values = F.cross_entropy(prediction.float(), torch.where(valid, target, torch.zeros_like(target)), reduction="none")
    return values, valid


def _cosine_elements(prediction: Tensor, target: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    cosine = (F.normalize(prediction.float(), dim=1) * target.float()).sum(dim=1)
    return cosine, _normal_valid(target, mask)


def _depth_l1_elements(prediction: Tensor, target: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    return (prediction.float() - target.float()).abs(), _depth_valid(target, mask)


def _l1_elements(prediction: Tensor, target: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    return (prediction.float() - target.float()).abs(), _valid(mask, target)


def _regression_l1_elements(prediction: Tensor, target: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    return (prediction.float() - target.float()).abs(), regression_valid(target, mask)


#: Task type -> its evaluation-loss metric (named after the loss; cosine similarity, not
#: 1 - cosine, as the paper prints it) and how it is computed per element, as its training loss is.
TASK_LOSS_METRICS: dict[str, tuple[MetricSpec, ElementLoss]] = {
    "segmentation": (MetricSpec("cross_entropy", False), _cross_entropy_elements),
    "classification": (MetricSpec("cross_entropy", False), _cross_entropy_elements),
    "normals": (MetricSpec("cosine_similarity", True), _cosine_elements),
    "depth": (MetricSpec("l1", False), _depth_l1_elements),
    "heatmap": (MetricSpec("l1", False), _l1_elements),
    "regression": (MetricSpec("l1", False), _regression_l1_elements),
    "image_regression": (MetricSpec("l1", False), _regression_l1_elements),
}
#: A plugin task's evaluation loss is its own loss function, averaged over images.
PLUGIN_LOSS_METRIC = MetricSpec("loss", False)


class TaskLossAccumulator:
    """The evaluation loss over the whole split (element-weighted mean of the valid elements, or
    image-weighted mean of a plugin's batch losses) next to the task's standard metrics."""

    def __init__(self, task: str, metric: str, inner: MetricAccumulator, elements: ElementLoss | None,
                 loss: LossFn) -> None:
        self.task, self.metric, self.inner = task, metric, inner
        self.elements, self.loss = elements, loss
        self.total = 0.0
        self.count = 0

    def update(self, prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> None:
        self.inner.update(prediction, target, mask)
        prediction = prediction.detach()
        if self.elements is None:
            images = int(prediction.shape[0])
            self.total += float(self.loss(prediction, target, mask)) * images
            self.count += images
            return
        values, valid = self.elements(prediction, target, mask)
        self.count += int(valid.sum())
        self.total += float(torch.where(valid, values.double(), torch.zeros_like(values, dtype=torch.float64)).sum())

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            raise TreeMTLError(f"{self.task}: nothing valid to measure {self.metric} on in the evaluation split")
        return {self.metric: self.total / self.count, **self.inner.compute()}


def task_loss_spec(spec: TaskSpec, type_name: str) -> TaskSpec:
    """``spec`` measured by its evaluation loss (the only metric of Δ); its standard metrics stay
    measured and reported beside it."""
    metric, elements = TASK_LOSS_METRICS.get(type_name, (PLUGIN_LOSS_METRIC, None))
    if metric.name in spec.metric_names:
        raise TreeMTLError(f"task {spec.name!r}: metric name {metric.name!r} is taken; the task_loss protocol adds it")
    standard = spec.accumulator

    def accumulator(num_classes: int) -> MetricAccumulator:
        return TaskLossAccumulator(spec.name, metric.name, standard(num_classes), elements, spec.loss)

    reported = tuple(replace(m, in_delta=False) for m in spec.metrics)
    return replace(spec, metrics=(metric, *reported), accumulator=accumulator)


def get_task(name: str, config: ExperimentConfig | None = None) -> TaskSpec:
    """The spec of task ``name``: a task of ``config`` (built-in, declared by type or a plugin),
    measured by the config's ``eval.protocol``, or, without a config, a built-in task with its
    standard metrics; TreeMTLError for an unknown name or a failing plugin."""
    if config is None:
        return task_spec(registry.task(name))
    entry = config.task_entry(name)
    spec = task_spec(entry)
    return task_loss_spec(spec, entry.type) if config.eval.protocol == TASK_LOSS else spec


def task_spec(entry: TaskEntry) -> TaskSpec:
    """The spec of a task entry, built from its type or returned by its plugin."""
    if entry.type == PLUGIN_TYPE and entry.spec is not None:
        return _plugin_task(entry.spec, entry.name)
    if entry.type not in TASK_TYPES:
        raise TreeMTLError(f"task {entry.name!r}: unknown task type {entry.type!r}; expected one of {', '.join(TASK_TYPES)}")
    return TASK_TYPES[entry.type](entry.name, entry.classes)


@functools.cache
def _plugin_task(spec: str, name: str) -> TaskSpec:
    """Call a task plugin ``callable(name) -> TaskSpec`` once per process and check what it returns."""
    what = f"task {name!r}: plugin"
    result = call_plugin(spec, what, name)
    if not isinstance(result, TaskSpec):
        raise TreeMTLError(f"{what} {spec!r} returned {type(result).__name__}; expected a treemtl.training.tasks.TaskSpec")
    problems = []
    if result.head not in HEADS:
        problems.append(f"head {result.head!r} (expected one of {', '.join(HEADS)})")
    if result.target not in TARGETS:
        problems.append(f"target {result.target!r} (expected one of {', '.join(TARGETS)})")
    elif result.head in HEADS and (result.head == "pooled") != (result.target in ("class_label", "scalar")):
        problems.append(f"target {result.target!r} with a {result.head} head (pooled heads take class_label or scalar)")
    if not result.metrics or not all(isinstance(m, MetricSpec) for m in result.metrics):
        problems.append("metrics (expected a non-empty tuple of MetricSpec)")
    elif len({m.name for m in result.metrics}) != len(result.metrics):
        problems.append(f"metrics {[m.name for m in result.metrics]} (names must differ)")
    for part in ("channels", "loss", "accumulator"):
        if not callable(getattr(result, part)):
            problems.append(f"{part} (expected a callable)")
    if problems:
        raise TreeMTLError(f"{what} {spec!r} returned a TaskSpec with bad {'; '.join(problems)}")
    return result if result.name == name else replace(result, name=name)


def out_channels(spec: TaskSpec, num_classes: int) -> int:
    """Head output channels of ``spec``, checked to be a positive integer (plugins may compute it)."""
    channels = spec.out_channels(num_classes)
    if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
        raise TreeMTLError(f"task {spec.name!r}: channels({num_classes}) returned {channels!r}; expected a positive integer")
    return channels


def head_channels(tasks: Sequence[str], num_classes: int, config: ExperimentConfig | None = None) -> dict[str, int]:
    """Task -> output channels of its head, in task order (what the model builder takes)."""
    return {task: out_channels(get_task(task, config), num_classes) for task in tasks}


def pooled_tasks(tasks: Sequence[str], config: ExperimentConfig | None = None) -> frozenset[str]:
    """The tasks among ``tasks`` whose head pools the image (image-level predictions)."""
    return frozenset(task for task in tasks if get_task(task, config).head == "pooled")


def parse_tasks(text: str | Sequence[str], config: ExperimentConfig | None = None) -> tuple[str, ...]:
    """``"a,b"`` or a list -> validated (tasks of ``config``, or built-in), duplicate-free task tuple."""
    names = [t.strip() for t in text.split(",")] if isinstance(text, str) else [str(t).strip() for t in text]
    names = [n for n in names if n]
    if not names:
        raise TreeMTLError("expected at least one task name")
    for name in names:
        get_task(name, config)
    if len(set(names)) != len(names):
        raise TreeMTLError(f"duplicate task in {','.join(names)}")
    return tuple(names)


def task_directions(tasks: Sequence[str], config: ExperimentConfig | None = None) -> dict[str, dict[str, bool]]:
    """Per task, metric name -> higher is better (the input of every Δ)."""
    return {task: get_task(task, config).directions for task in tasks}
