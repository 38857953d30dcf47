"""Losses, streaming metrics and relative performance on hand-computed tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from treemtl.errors import TreeMTLError
from treemtl.training import registry
from treemtl.training.tasks import (
    TASK_TYPES,
    depth_loss,
    get_task,
    head_channels,
    l1_loss,
    normal_loss,
    parse_tasks,
    segmentation_loss,
)


def _onehot_logits(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return F.one_hot(labels, num_classes).permute(0, 3, 1, 2).float()


def test_segmentation_metrics_hand_computed() -> None:
    target = torch.tensor([[[0, 0, 1, 1], [2, -1, 1, 0]]])  # 7 valid pixels, one ignored
    pred = torch.tensor([[[0, 1, 1, 1], [2, 2, 0, 0]]])
    acc = get_task("segment_semantic").new_accumulator(4)
    acc.update(_onehot_logits(pred, 4), target)
    metrics = acc.compute()
    # class 0: TP 2 (t0p0 twice), FN 1 (t0->1), FP 1 (t1->0): IoU 2/4
    # class 1: TP 2, FN 1, FP 1 -> 2/4; class 2: TP 1 -> 1/1; class 3 absent -> skipped
    assert metrics["miou"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert metrics["pixel_acc"] == pytest.approx(5 / 7)


def test_segmentation_accumulates_confusion_over_batches() -> None:
    gen = torch.Generator().manual_seed(0)
    target = torch.randint(-1, 5, (6, 8, 8), generator=gen)
    logits = torch.randn(6, 5, 8, 8, generator=gen)
    whole = get_task("segment_semantic").new_accumulator(5)
    whole.update(logits, target)
    parts = get_task("segment_semantic").new_accumulator(5)
    parts.update(logits[:1], target[:1])
    parts.update(logits[1:], target[1:])
    assert parts.compute() == pytest.approx(whole.compute())
    # not the mean of per-batch scores
    first = get_task("segment_semantic").new_accumulator(5)
    first.update(logits[:1], target[:1])
    assert whole.compute()["miou"] != pytest.approx((first.compute()["miou"] + parts.compute()["miou"]) / 2, abs=1e-9)


def test_segmentation_mask_and_loss_ignore() -> None:
    target = torch.tensor([[[0, 1], [1, -1]]])
    logits = torch.tensor([[[[2.0, 0.0], [0.0, 5.0]], [[0.0, 1.0], [3.0, -5.0]]]])
    expected = np.mean([
        -math.log(math.exp(2) / (math.exp(2) + 1)),
        -math.log(math.exp(1) / (1 + math.exp(1))),
        -math.log(math.exp(3) / (1 + math.exp(3))),
    ])
    assert float(segmentation_loss(logits, target)) == pytest.approx(expected, rel=1e-6)
    mask = torch.tensor([[[[True, False], [True, True]]]])
    expected_masked = np.mean([-math.log(math.exp(2) / (math.exp(2) + 1)), -math.log(math.exp(3) / (1 + math.exp(3)))])
    assert float(segmentation_loss(logits, target, mask)) == pytest.approx(expected_masked, rel=1e-6)
    nothing = torch.full_like(target, -1)
    loss = segmentation_loss(logits.requires_grad_(), nothing)
    assert float(loss.detach()) == 0.0 and loss.requires_grad


def _normals_at(angles_deg: list[float]) -> torch.Tensor:
    rad = np.deg2rad(angles_deg)
    vec = np.stack([np.sin(rad), np.zeros_like(rad), np.cos(rad)])  # [3, N]
    return torch.tensor(vec, dtype=torch.float32).reshape(1, 3, 1, len(angles_deg))


def test_normal_metrics_hand_computed() -> None:
    angles = [0.0, 10.0, 20.0, 45.0, 90.0]
    target = _normals_at([0.0] * 5)
    target[..., 4] = 0.0  # no ground truth: excluded
    pred = _normals_at(angles) * 3.0  # unnormalized predictions are normalized first
    acc = get_task("normal").new_accumulator(0)
    acc.update(pred[..., :2], target[..., :2])
    acc.update(pred[..., 2:], target[..., 2:])
    metrics = acc.compute()
    assert metrics["mean_angle"] == pytest.approx(75 / 4, abs=1e-3)
    assert metrics["median_angle"] == pytest.approx(15.0, abs=1e-3)
    assert metrics["within_11.25"] == pytest.approx(50.0)
    assert metrics["within_22.5"] == pytest.approx(75.0)
    assert metrics["within_30"] == pytest.approx(75.0)
    expected_loss = np.mean([1 - math.cos(math.radians(a)) for a in angles[:4]])
    assert float(normal_loss(pred, target)) == pytest.approx(expected_loss, rel=1e-5)


def test_depth_metrics_hand_computed() -> None:
    target = torch.tensor([1.0, 1.0, 2.0, 0.0, 4.0]).reshape(1, 1, 1, 5)
    pred = torch.tensor([1.0, 1.5, 3.0, 7.0, -1.0]).reshape(1, 1, 1, 5)
    mask = torch.tensor([True, True, True, True, False]).reshape(1, 1, 1, 5)  # depth 0 invalid too
    acc = get_task("depth_zbuffer").new_accumulator(0)
    acc.update(pred, target, mask)
    metrics = acc.compute()
    assert metrics["abs_err"] == pytest.approx(0.5)
    assert metrics["rel_err"] == pytest.approx(1 / 3)
    assert metrics["delta_1"] == pytest.approx(100 / 3)
    assert metrics["delta_2"] == pytest.approx(100.0)
    assert metrics["delta_3"] == pytest.approx(100.0)
    assert float(depth_loss(pred, target, mask)) == pytest.approx(0.5)


def test_depth_non_positive_prediction_fails_every_delta() -> None:
    acc = get_task("depth_zbuffer").new_accumulator(0)
    acc.update(torch.tensor([-1.0, 2.0]).reshape(1, 1, 1, 2), torch.tensor([1.0, 2.0]).reshape(1, 1, 1, 2))
    metrics = acc.compute()
    assert metrics["delta_3"] == pytest.approx(50.0)
    assert metrics["abs_err"] == pytest.approx(1.0)


@pytest.mark.parametrize("task", ["keypoints2d", "edge_texture"])
def test_l1_tasks(task: str) -> None:
    target = torch.tensor([0.0, 0.5, 1.0, 1.0]).reshape(1, 1, 2, 2)
    pred = torch.tensor([0.5, 0.5, 0.0, 9.0]).reshape(1, 1, 2, 2)
    mask = torch.tensor([True, True, True, False]).reshape(1, 1, 2, 2)
    acc = get_task(task).new_accumulator(0)
    acc.update(pred[..., :1, :], target[..., :1, :], mask[..., :1, :])
    acc.update(pred[..., 1:, :], target[..., 1:, :], mask[..., 1:, :])
    assert acc.compute() == {"error": pytest.approx(0.5)}
    assert float(l1_loss(pred, target, mask)) == pytest.approx(0.5)
    assert get_task(task).out_channels(13) == 1


def test_output_channels_and_directions() -> None:
    assert get_task("segment_semantic").out_channels(13) == 13
    assert get_task("normal").out_channels(13) == 3
    assert get_task("depth_zbuffer").metric("abs_err").direction == "lower"
    assert get_task("normal").metric("within_30").higher_is_better
    assert registry.task_names()[:5] == registry.PAPER_TASKS == (
        "segment_semantic", "depth_zbuffer", "normal", "keypoints2d", "edge_texture")
    with pytest.raises(TreeMTLError, match="unknown task 'depth'; expected one of segment_semantic, "):
        get_task("depth")
    assert parse_tasks("normal, depth_zbuffer") == ("normal", "depth_zbuffer")
    with pytest.raises(TreeMTLError, match="duplicate"):
        parse_tasks("normal,normal")



def test_head_channels_follow_the_task_types_in_task_order() -> None:
    channels = head_channels(["normal", "segment_semantic", "depth_zbuffer", "keypoints2d", "edge_texture"], 13)
    assert list(channels.items()) == [
        ("normal", 3), ("segment_semantic", 13), ("depth_zbuffer", 1), ("keypoints2d", 1), ("edge_texture", 1)
    ]
    with pytest.raises(TreeMTLError, match="unknown task"):
        head_channels(["normal", "depth"], 13)


def test_every_registered_task_has_a_spec_of_its_type() -> None:
    for name in registry.task_names():
        entry = registry.task(name)
        assert entry.type in TASK_TYPES
        spec = get_task(name)
        assert spec.name == name and spec.metrics and spec.out_channels(7) >= 1
    # tasks of one type share the type's losses and metrics, under their own names
    assert get_task("keypoints2d").metric_names == get_task("edge_texture").metric_names == ("error",)

def test_losses_ignore_non_finite_targets_but_not_non_finite_predictions() -> None:
    target = torch.tensor([1.0, float("nan"), 2.0]).reshape(1, 1, 1, 3)
    mask = torch.tensor([True, False, True]).reshape(1, 1, 1, 3)
    pred = torch.tensor([2.0, 0.0, 2.0]).reshape(1, 1, 1, 3).requires_grad_()
    loss = depth_loss(pred, target, mask)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(0.5)
    assert torch.isfinite(pred.grad).all()
    bad = torch.tensor([float("nan"), 0.0, 2.0]).reshape(1, 1, 1, 3)
    assert torch.isnan(depth_loss(bad, target, mask))
    assert torch.isnan(l1_loss(bad, torch.zeros_like(bad)))
