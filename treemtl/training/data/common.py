"""What every dataset shares: the item format, resizing and the file-backed base class.

The model and training code only ever see one item format, whichever dataset produced it: a dict
with ``image`` (float32 [3,H,W], normalized) and one target per task, shaped by the *target
format* of the task's type (:data:`treemtl.training.registry.TARGETS`):

=============== ===================== ==================================================
target format   tensor                types
=============== ===================== ==================================================
``class_map``   int64 [H,W], -1 ignore segmentation
``dense_map``   float32 [C,H,W]       depth, regression, heatmap
``normal_map``  float32 [3,H,W] unit   normals (zero vector = no target)
``class_label`` int64 [], -1 ignore    classification
``scalar``      float32 [1]            image_regression
=============== ===================== ==================================================

plus optional validity masks ``<task>_mask`` (bool [1,H,W] for dense targets, bool [1] for
scalars). This module is where raw arrays become that format, so each loader only has to decode
its own files, and where an item from user code is checked against it.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from treemtl.errors import TreeMTLError
from treemtl.training import registry

#: Per-channel statistics of ImageNet RGB in [0, 1]; the usual input normalization for real photos.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
_MEAN = np.asarray(IMAGENET_MEAN, dtype=np.float32)
_STD = np.asarray(IMAGENET_STD, dtype=np.float32)

Item = dict[str, torch.Tensor]


def check_tasks(tasks: Sequence[str], supported: Sequence[str], where: str) -> tuple[str, ...]:
    """Validate a requested task list against what a dataset provides (order kept, no duplicates)."""
    tasks = tuple(tasks)
    if not tasks:
        raise TreeMTLError(f"{where}: no tasks requested; expected some of {', '.join(supported)}")
    for task in tasks:
        if task not in supported:
            raise TreeMTLError(f"{where}: task {task!r} not available; this dataset provides {', '.join(supported)}")
    if len(set(tasks)) != len(tasks):
        raise TreeMTLError(f"{where}: duplicate task in {', '.join(tasks)}")
    return tasks


def parse_size(value: Any, where: str) -> tuple[int, int] | None:
    """Read an optional ``[H, W]`` (or single int) resize option."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return (value, value)
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        return (int(value[0]), int(value[1]))
    raise TreeMTLError(f"{where}: expected [H, W] with positive integers, got {value!r}")


def normalize_rgb(image: np.ndarray, full_scale: float = 255.0) -> np.ndarray:
    """HxWx3 RGB with values in [0, ``full_scale``] -> float32 channels normalized with the ImageNet
    statistics, the input every file dataset gives the model."""
    return (image.astype(np.float32) / full_scale - _MEAN) / _STD


def unit_normals(normal: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Normalize HxWx3 vectors to unit length on valid pixels and zero the rest (zero = no target)."""
    length = np.linalg.norm(normal, axis=2, keepdims=True)
    good = valid & (length[:, :, 0] > 1e-6)
    out = np.where(good[:, :, None], normal / np.maximum(length, 1e-6), 0.0)
    return out.astype(np.float32)


IMAGE_LEVEL: frozenset[str] = frozenset({"class_label", "scalar"})


def builtin_targets(tasks: Sequence[str]) -> dict[str, str]:
    """Task -> target format of built-in tasks (what the built-in loaders produce)."""
    return {task: registry.task_type(registry.task(task).type).target for task in tasks}


def _target_of(key: str, targets: Mapping[str, str]) -> str:
    """The target format of an item key (a task, ``<task>_mask`` or ``image``)."""
    if key == "image":
        return "image"
    task = key[: -len("_mask")] if key.endswith("_mask") and key not in targets else key
    if task not in targets:
        raise TreeMTLError(f"item key {key!r} is not a task of this dataset ({', '.join(targets)})")
    return "mask_of_" + targets[task] if task != key else targets[task]


def arrays_to_item(arrays: Mapping[str, np.ndarray], targets: Mapping[str, str], size: tuple[int, int] | None = None) -> Item:
    """Convert decoded arrays into contract tensors, optionally resizing dense ones to ``size``.

    ``targets`` maps each task to its target format. Expects ``image`` as float32 HxWx3 already
    normalized; ``class_map`` int HxW with -1 ignore; ``dense_map`` HxW or HxWxC; ``normal_map``
    HxWx3; ``class_label`` an int (-1 = no label); ``scalar`` a float; masks ``<task>_mask``
    bool HxW (dense) or a bool (image-level). The image is resized bilinearly, every dense target
    with nearest neighbour so labels stay labels and normals stay unit vectors.
    """
    item: Item = {}
    for key, value in arrays.items():
        target = _target_of(key, targets)
        if target in ("image", "normal_map") or (target == "dense_map" and np.ndim(value) == 3):
            tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)).permute(2, 0, 1)
        elif target == "class_map":
            tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.int64))
        elif target == "class_label":
            tensor = torch.tensor(int(value), dtype=torch.int64)
        elif target == "scalar":
            tensor = torch.tensor([float(value)], dtype=torch.float32)
        elif target.removeprefix("mask_of_") in IMAGE_LEVEL:
            tensor = torch.tensor([bool(value)], dtype=torch.bool)
        elif target.startswith("mask_of_"):
            tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.bool_)).unsqueeze(0)
        else:
            tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)).unsqueeze(0)
        item[key] = tensor
    if size is not None:
        item = resize_item(item, size, targets)
    return item


def resize_item(item: Item, size: tuple[int, int], targets: Mapping[str, str]) -> Item:
    """Resize the dense tensors of an item to ``size`` (H, W): bilinear image, nearest targets;
    image-level targets are left as they are."""
    import torch.nn.functional as F

    out: Item = {}
    for key, tensor in item.items():
        target = _target_of(key, targets)
        if target.removeprefix("mask_of_") in IMAGE_LEVEL or tuple(tensor.shape[-2:]) == size:
            out[key] = tensor
        elif target == "image":
            out[key] = F.interpolate(tensor[None], size=size, mode="bilinear", align_corners=False)[0]
        elif target == "class_map":
            out[key] = F.interpolate(tensor[None, None].float(), size=size, mode="nearest")[0, 0].long()
        elif target.startswith("mask_of_"):
            out[key] = F.interpolate(tensor[None].float(), size=size, mode="nearest")[0] > 0.5
        else:
            out[key] = F.interpolate(tensor[None], size=size, mode="nearest")[0]
    return out


def check_item(item: Any, shapes: Mapping[str, tuple[str, int]], where: str) -> None:
    """Raise unless ``item`` follows the item contract for ``shapes`` (task -> target format,
    channels or classes): an ``image`` float [3,H,W] and each task's target in its format."""
    if not isinstance(item, Mapping):
        raise TreeMTLError(f"{where}: an item is a {type(item).__name__}; expected a dict of tensors")
    image = item.get("image")
    if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] != 3 or not image.is_floating_point():
        raise TreeMTLError(f"{where}: item['image'] is {_describe(image)}; expected a float tensor [3,H,W]")
    hw = tuple(image.shape[1:])
    for task, (target, channels) in shapes.items():
        value = item.get(task)
        expected = {
            "class_map": ((*hw,), False, "an integer tensor [H,W] of class ids"),
            "dense_map": ((channels, *hw), True, f"a float tensor [{channels},H,W]"),
            "normal_map": ((3, *hw), True, "a float tensor [3,H,W]"),
            "class_label": ((), False, "an integer tensor [] (the class id)"),
            "scalar": ((1,), True, "a float tensor [1]"),
        }[target]
        if (
            not isinstance(value, torch.Tensor)
            or tuple(value.shape) != expected[0]
            or value.is_floating_point() != expected[1]
        ):
            raise TreeMTLError(f"{where}: item[{task!r}] is {_describe(value)}; expected {expected[2]} like its image {list(hw)}")
        if target in ("class_map", "class_label"):
            bad = value[(value != -1) & ((value < 0) | (value >= channels))]
            if bad.numel():
                raise TreeMTLError(f"{where}: item[{task!r}] holds class id {int(bad.flatten()[0])}; expected 0..{channels - 1} or -1 (ignore)")


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor {list(value.shape)}"
    return "missing" if value is None else f"a {type(value).__name__}"


class FileDataset(Dataset[Item], ABC):
    """A dataset of samples decoded from files on every access (real datasets are too big to cache).

    Subclasses list their samples and implement :meth:`load_arrays`; this class turns the arrays
    into contract items and exposes ``tasks`` and ``num_classes``. ``targets`` (task -> target
    format) defaults to the built-in tasks' formats.
    """

    def __init__(self, tasks: tuple[str, ...], num_classes: int, size: tuple[int, int] | None, length: int,
                 targets: Mapping[str, str] | None = None) -> None:
        self.tasks = tasks
        self.num_classes = num_classes
        self.size = size
        self._length = length
        self.targets = dict(targets) if targets is not None else builtin_targets(tasks)

    def __len__(self) -> int:
        return self._length

    @abstractmethod
    def load_arrays(self, index: int) -> dict[str, np.ndarray]:
        """Decode sample ``index`` into the arrays :func:`arrays_to_item` expects."""

    def __getitem__(self, index: int) -> Item:
        if not 0 <= index < self._length:
            raise IndexError(index)
        return arrays_to_item(self.load_arrays(index), self.targets, self.size)


class ListedFileDataset(FileDataset):
    """A file dataset whose samples are fixed sets of files named up front, by a split file or a
    folder listing: a missing file can then be found before training by looking, not decoding.

    :meth:`sample_files` is the one place a sample's paths are defined; :meth:`load_arrays` reads
    what it lists and :func:`check_sample_files` looks for all of it.
    """

    @abstractmethod
    def sample_files(self, index: int) -> dict[str, Path]:
        """The files sample ``index`` reads for this dataset's tasks: ``image`` and one per task."""

    @abstractmethod
    def sample_source(self, index: int) -> Path:
        """The split file or folder that names sample ``index`` (where a user fixes a wrong entry)."""


def check_sample_files(dataset: ListedFileDataset, split: str) -> int:
    """Raise unless every file of every sample of ``dataset`` exists; return how many were checked.

    The message names the source of the first missing file, the file, and how many are missing.
    Each folder is listed once rather than each file looked up, which keeps the check of a split of
    hundreds of thousands of files to seconds on network storage.
    """
    listings: dict[Path, frozenset[str]] = {}
    missing: list[tuple[int, str, Path]] = []
    checked = 0
    for index in range(len(dataset)):
        for key, path in dataset.sample_files(index).items():
            checked += 1
            if path.parent not in listings:
                try:
                    listings[path.parent] = frozenset(os.listdir(path.parent))
                except OSError:
                    listings[path.parent] = frozenset()
            if path.name not in listings[path.parent]:
                missing.append((index, key, path))
    if missing:
        index, key, path = missing[0]
        raise TreeMTLError(
            f"{dataset.sample_source(index)}: {len(missing)} of the {checked} files of the {split} split "
            f"({len(dataset)} samples) are missing; first: {path} ({key} of sample {index})"
        )
    return checked
