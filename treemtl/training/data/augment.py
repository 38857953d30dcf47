"""The train-time data pipeline of the paper's baselines (``data.augment``): random rescale,
horizontal flip and random crop, and the matching val resize.

The paper trains on the data splits and loaders of AdaShare / AutoMTL (section 4.1): a train item
is rescaled by a random factor, mirrored with probability 0.5 and randomly cropped (padded where
the rescaled image is smaller) to 321x321 (NYUv2) or 224x224 (Taskonomy); a val item is resized to
that size. The geometry is applied to the image and every target alike: class maps and masks are
resampled with nearest neighbour and padded as ignored, and a mirrored normal map's x component
changes sign (the surface turns the other way).

Draws are a pure function of ``(seed, key)``: the trainer's sampler hands out keys
``epoch * len(dataset) + index`` (:attr:`AugmentedDataset.keyed_draws`), so every epoch sees new
draws and a resumed run sees exactly the items an uninterrupted one would have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from treemtl.training.data.common import IMAGE_LEVEL, Item, resize_item

#: Value a padded pixel gets, by target format (class maps: ignore; normals: no vector).
_PAD: dict[str, float] = {"class_map": -1, "dense_map": 0.0, "normal_map": 0.0, "image": 0.0}


class AugmentedDataset(Dataset[Item]):
    """``dataset``'s items through the configured pipeline; ``train`` False = the val resize only."""

    def __init__(self, dataset: Dataset[Item], targets: Mapping[str, str], *, train: bool, seed: int,
                 scale: Sequence[float] | None, flip: bool, crop: Sequence[int] | None) -> None:
        self.dataset = dataset
        self.targets = dict(targets)
        self.train = train
        self.seed = seed
        self.scale = None if scale is None else (float(scale[0]), float(scale[1]))
        self.flip = flip
        self.crop = None if crop is None else (int(crop[0]), int(crop[1]))
        self.tasks = tuple(getattr(dataset, "tasks", tuple(targets)))
        self.num_classes = int(getattr(dataset, "num_classes", 0))

    @property
    def keyed_draws(self) -> bool:
        """Whether indices may be draw keys beyond ``len(self)`` (train items only)."""
        return self.train

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: int) -> Item:
        item = self.dataset[int(key) % len(self)]
        if not self.train:
            return item if self.crop is None else resize_item(item, self.crop, self.targets)
        return augment(item, self.targets, np.random.default_rng([self.seed, int(key)]),
                       self.scale, self.flip, self.crop)


def _format(key: str, targets: Mapping[str, str]) -> str:
    if key == "image":
        return "image"
    if key in targets:
        return targets[key]
    return "mask_of_" + targets[key.removesuffix("_mask")]


def _dense(fmt: str) -> bool:
    return fmt.removeprefix("mask_of_") not in IMAGE_LEVEL


def augment(item: Item, targets: Mapping[str, str], rng: np.random.Generator, scale: tuple[float, float] | None,
            flip: bool, crop: tuple[int, int] | None) -> Item:
    """One random rescale / flip / crop of ``item``, the same geometry for the image and every target."""
    out = dict(item)
    height, width = (int(s) for s in out["image"].shape[-2:])
    if scale is not None:
        factor = rng.uniform(scale[0], scale[1])
        size = (max(1, int(height * factor)), max(1, int(width * factor)))
        out = resize_item(out, size, targets)
    if flip and rng.random() < 0.5:
        for key, tensor in list(out.items()):
            fmt = _format(key, targets)
            if _dense(fmt):
                tensor = tensor.flip(-1)
                if fmt == "normal_map":
                    tensor = torch.cat([-tensor[:1], tensor[1:]])
                out[key] = tensor
    if crop is not None:
        out = _random_crop(out, targets, rng, crop)
    return out


def _random_crop(item: Item, targets: Mapping[str, str], rng: np.random.Generator, crop: tuple[int, int]) -> Item:
    """Pad to at least ``crop`` (padded pixels ignored), then cut a random ``crop`` window."""
    height, width = (int(s) for s in item["image"].shape[-2:])
    pad_h, pad_w = max(0, crop[0] - height), max(0, crop[1] - width)
    out: Item = {}
    for key, tensor in item.items():
        fmt = _format(key, targets)
        if fmt == "dense_map" and f"{key}_mask" not in item:
            # A dense target without a mask gets one (on every item, so batches collate), so that
            # padding is not read as a target of 0.
            out[f"{key}_mask"] = torch.ones((1, height, width), dtype=torch.bool)
        out[key] = tensor
    top, left = int(rng.integers(0, height + pad_h - crop[0] + 1)), int(rng.integers(0, width + pad_w - crop[1] + 1))
    result: Item = {}
    for key, tensor in out.items():
        fmt = _format(key, targets)
        if not _dense(fmt):
            result[key] = tensor
            continue
        if pad_h or pad_w:
            value = False if fmt.startswith("mask_of_") else _PAD[fmt]
            tensor = _pad(tensor, pad_h, pad_w, value)
        result[key] = tensor[..., top : top + crop[0], left : left + crop[1]].contiguous()
    return result


def _pad(tensor: torch.Tensor, pad_h: int, pad_w: int, value: Any) -> torch.Tensor:
    if tensor.dtype == torch.bool:
        return F.pad(tensor.to(torch.uint8), (0, pad_w, 0, pad_h), value=int(value)).to(torch.bool)
    return F.pad(tensor, (0, pad_w, 0, pad_h), value=value)
