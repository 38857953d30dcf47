"""The paper's train-time pipeline (data.augment): one geometry for the image and every target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from test_data_taskonomy import _building
from treemtl.training.config import config_from_dict
from treemtl.training.data import build_dataset
from treemtl.training.data.augment import AugmentedDataset, augment
from treemtl.training.sampling import EpochBatchSampler

TARGETS = {"segment_semantic": "class_map", "depth_zbuffer": "dense_map", "normal": "normal_map",
           "keypoints2d": "dense_map"}
H, W = 12, 16


def _item() -> dict[str, torch.Tensor]:
    """Every target is a function of the pixel's column x, which the image's channel 0 holds."""
    x = torch.arange(W, dtype=torch.float32).expand(H, W)
    normal = torch.zeros(3, H, W)
    normal[0], normal[2] = 0.6, 0.8
    return {
        "image": torch.stack([x, torch.arange(H, dtype=torch.float32)[:, None].expand(H, W), torch.zeros(H, W)]),
        "segment_semantic": (x // 4).long(),
        "depth_zbuffer": (x + 1)[None],
        "depth_zbuffer_mask": torch.ones(1, H, W, dtype=torch.bool),
        "normal": normal,
        "keypoints2d": (x / W)[None],
    }


@pytest.mark.parametrize("seed", range(6))
def test_flip_and_crop_keep_image_and_targets_aligned(seed: int) -> None:
    out = augment(_item(), TARGETS, np.random.default_rng(seed), None, True, (8, 10))
    x = out["image"][0]
    assert x.shape == (8, 10)
    assert torch.equal(out["segment_semantic"], (x // 4).long())
    assert torch.equal(out["depth_zbuffer"][0], x + 1)
    assert torch.allclose(out["keypoints2d"][0], x / W)
    flipped = bool(x[0, 0] > x[0, -1])
    assert torch.all(out["normal"][0] == (-0.6 if flipped else 0.6)) and torch.all(out["normal"][2] == 0.8)
    assert out["keypoints2d_mask"].all()  # a mask is added to dense targets without one, for padding


def test_both_flip_outcomes_occur_and_draws_are_reproducible() -> None:
    outcomes = set()
    for seed in range(12):
        a = augment(_item(), TARGETS, np.random.default_rng(seed), (0.5, 1.5), True, (8, 10))
        b = augment(_item(), TARGETS, np.random.default_rng(seed), (0.5, 1.5), True, (8, 10))
        assert all(torch.equal(a[k], b[k]) for k in a)
        outcomes.add(round(float(a["normal"][0][a["normal"][2] > 0][0]), 4))
    assert outcomes == {0.6, -0.6}


def test_padding_is_ignored_by_every_target() -> None:
    out = augment(_item(), TARGETS, np.random.default_rng(0), None, False, (20, 24))
    pad = out["image"][0] == 0
    pad[:H, :W] = False
    assert pad[H:, :].all() and pad[:, W:].all()
    assert (out["segment_semantic"][pad] == -1).all()
    assert not out["depth_zbuffer_mask"][0][pad].any() and not out["keypoints2d_mask"][0][pad].any()
    assert (out["normal"][:, pad] == 0).all()
    assert out["keypoints2d_mask"][0][:H, :W].all()


def test_rescale_changes_the_size_before_the_crop() -> None:
    out = augment(_item(), TARGETS, np.random.default_rng(3), (2.0, 2.0), False, None)
    assert out["image"].shape == (3, 2 * H, 2 * W) and out["segment_semantic"].shape == (2 * H, 2 * W)
    assert torch.equal(out["segment_semantic"][:, ::2], _item()["segment_semantic"].repeat_interleave(2, 0))


def test_keyed_sampler_hands_out_new_draws_every_epoch() -> None:
    sampler = EpochBatchSampler(4, 2, seed=5, keyed=True)
    batches = iter(sampler)
    keys = [k for _ in range(4) for k in next(batches)]
    assert sorted(keys[:4]) == [0, 1, 2, 3] and sorted(keys[4:]) == [4, 5, 6, 7]
    plain = iter(EpochBatchSampler(4, 2, seed=5))
    assert [k % 4 for k in keys] == [k for _ in range(4) for k in next(plain)]


def _tiny_taskonomy(root: Path) -> dict[str, object]:
    for building in ("allensville", "beechwood", "collierville"):
        _building(root, building)
    return {
        "experiment": "tiny", "tasks": ["segment_semantic", "normal", "keypoints2d"],
        "data": {"dataset": "taskonomy", "root": str(root),
                 "options": {"train_buildings": ["allensville", "beechwood"], "val_buildings": ["collierville"]},
                 "augment": {"scale": [0.5, 1.5], "flip": True, "crop": [12, 12]}},
    }


def test_configured_pipeline_on_tiny_taskonomy(tmp_path: Path) -> None:
    config = config_from_dict(_tiny_taskonomy(tmp_path))
    train = build_dataset(config, "train", list(config.tasks))
    val = build_dataset(config, "val", list(config.tasks))
    assert isinstance(train, AugmentedDataset) and train.keyed_draws and not val.keyed_draws  # type: ignore[attr-defined]
    assert train.num_classes == 17 and len(train) == 4  # type: ignore[attr-defined,arg-type]
    first, again, next_epoch = train[1], train[1], train[5]
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert first["image"].shape == (3, 12, 12)
    batch = next(iter(DataLoader(train, batch_sampler=EpochBatchSampler(4, 2, 0, keyed=True))))
    assert batch["image"].shape == (2, 3, 12, 12) and batch["keypoints2d_mask"].shape == (2, 1, 12, 12)
    assert next_epoch["image"].shape == (3, 12, 12)
    item = val[0]  # val: resized to the crop size, no draws
    assert item["image"].shape == (3, 12, 12) and torch.equal(item["image"], val[0]["image"])
    assert "keypoints2d_mask" not in item


def test_no_augment_leaves_the_dataset_as_it_was(tmp_path: Path) -> None:
    raw = _tiny_taskonomy(tmp_path)
    raw["data"].pop("augment")  # type: ignore[attr-defined]
    config = config_from_dict(raw)
    assert not isinstance(build_dataset(config, "train", list(config.tasks)), AugmentedDataset)
