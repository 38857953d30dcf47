"""What every dataset shares: the item format, resizing and the file-backed base class.

The model and training code only ever see one item format, whichever dataset produced it: a dict
with ``image`` (float32 [3,H,W], normalized), ``segment_semantic`` (int64 [H,W], ignore = -1),
``depth_zbuffer``/``keypoints2d``/``edge_texture`` (float32 [1,H,W]), ``normal`` (float32 [3,H,W],
unit vectors) and optional validity masks ``<task>_mask`` (bool [1,H,W]). This module is where raw
arrays become that format, so each loader only has to decode its own files.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from treemtl.errors import TreeMTLError

#: Per-channel statistics of ImageNet RGB in [0, 1]; the usual input normalization for real photos.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

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


def normalize_image(image: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Float [3,H,W] in [0, 1] -> zero-mean, unit-variance channels."""
    mean_t = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return (image - mean_t) / std_t


def unit_normals(normal: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Normalize HxWx3 vectors to unit length on valid pixels and zero the rest (zero = no target)."""
    length = np.linalg.norm(normal, axis=2, keepdims=True)
    good = valid & (length[:, :, 0] > 1e-6)
    out = np.where(good[:, :, None], normal / np.maximum(length, 1e-6), 0.0)
    return out.astype(np.float32)


def arrays_to_item(arrays: Mapping[str, np.ndarray], size: tuple[int, int] | None = None) -> Item:
    """Convert decoded HxW(xC) arrays into contract tensors, optionally resized to ``size``.

    Expects ``image`` as float32 HxWx3 already normalized; ``segment_semantic`` int HxW with -1
    ignore; ``depth_zbuffer``, ``keypoints2d``, ``edge_texture`` HxW; ``normal`` HxWx3; masks
    ``<task>_mask`` bool HxW. The image is resized bilinearly, every target with nearest
    neighbour so labels stay labels and normals stay unit vectors.
    """
    item: Item = {}
    for key, value in arrays.items():
        if key == "image" or key == "normal":
            tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)).permute(2, 0, 1)
        elif key == "segment_semantic":
            tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.int64))
        elif key.endswith("_mask"):
            tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.bool_)).unsqueeze(0)
        else:
            tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)).unsqueeze(0)
        item[key] = tensor
    if size is not None:
        item = resize_item(item, size)
    return item


def resize_item(item: Item, size: tuple[int, int]) -> Item:
    """Resize every tensor of an item to ``size`` (H, W): bilinear image, nearest targets."""
    import torch.nn.functional as F

    out: Item = {}
    for key, tensor in item.items():
        if tuple(tensor.shape[-2:]) == size:
            out[key] = tensor
            continue
        if key == "image":
            out[key] = F.interpolate(tensor[None], size=size, mode="bilinear", align_corners=False)[0]
        elif key == "segment_semantic":
            out[key] = F.interpolate(tensor[None, None].float(), size=size, mode="nearest")[0, 0].long()
        elif key.endswith("_mask"):
            out[key] = F.interpolate(tensor[None].float(), size=size, mode="nearest")[0] > 0.5
        else:
            out[key] = F.interpolate(tensor[None], size=size, mode="nearest")[0]
    return out


class FileDataset(Dataset[Item], ABC):
    """A dataset of samples decoded from files on every access (real datasets are too big to cache).

    Subclasses list their samples and implement :meth:`load_arrays`; this class turns the arrays
    into contract items and exposes ``tasks`` and ``num_classes``.
    """

    def __init__(self, tasks: tuple[str, ...], num_classes: int, size: tuple[int, int] | None, length: int) -> None:
        self.tasks = tasks
        self.num_classes = num_classes
        self.size = size
        self._length = length

    def __len__(self) -> int:
        return self._length

    @abstractmethod
    def load_arrays(self, index: int) -> dict[str, np.ndarray]:
        """Decode sample ``index`` into the arrays :func:`arrays_to_item` expects."""

    def __getitem__(self, index: int) -> Item:
        if not 0 <= index < self._length:
            raise IndexError(index)
        return arrays_to_item(self.load_arrays(index), self.size)
