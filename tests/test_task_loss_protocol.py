"""The task_loss evaluation protocol (paper 4.1: Taskonomy's tasks measured by their own loss)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from test_data_taskonomy import _building
from treemtl.core.relative_performance import relative_performance
from treemtl.training.config import config_from_dict, load_config
from treemtl.training.tasks import depth_loss, get_task, l1_loss, normal_loss, segmentation_loss, task_directions
from treemtl.training.trainer import train

REPO = Path(__file__).resolve().parents[1]
TASKS = ["segment_semantic", "normal", "depth_zbuffer", "keypoints2d", "edge_texture"]


def _config(protocol: str, root: Path | None = None, **train: object) -> object:
    data = {"dataset": "taskonomy", "root": str(root),
            "options": {"train_buildings": ["allensville", "beechwood"], "val_buildings": ["collierville"]}}
    return config_from_dict({
        "experiment": "tiny", "tasks": TASKS, "eval": {"protocol": protocol}, "data": data,
        "backbone": {"input_size": [3, 16, 16]},
        "train": {"iters": 2, "batch_size": 2, "eval_every": 2, "checkpoint_every": 2, **train},
    })


def test_task_loss_directions_are_the_papers_and_standard_is_unchanged() -> None:
    loss = _config("task_loss")
    assert task_directions(TASKS, loss) == {
        "segment_semantic": {"cross_entropy": False},
        "normal": {"cosine_similarity": True},
        "depth_zbuffer": {"l1": False},
        "keypoints2d": {"l1": False},
        "edge_texture": {"l1": False},
    }
    # the standard metrics stay measured and reported, outside Δ
    names = get_task("normal", loss).metric_names
    assert names[0] == "cosine_similarity" and "mean_angle" in names
    standard = _config("standard")
    assert task_directions(["normal"], standard) == task_directions(["normal"])
    assert "mean_angle" in task_directions(["normal"], standard)["normal"]


def test_paper_configs_choose_the_protocol_of_their_dataset() -> None:
    protocols = {p.stem: load_config(p).eval.protocol for p in sorted((REPO / "config").glob("*.yaml"))}
    assert protocols["taskonomy_resnet34"] == protocols["taskonomy_mobilenetv2"] == "task_loss"
    assert protocols["nyuv2_resnet34"] == protocols["nyuv2_mobilenetv2"] == "standard"
    assert protocols["config"] == protocols["synthetic5"] == "standard"


def _batch(seed: int, classes: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    seg = torch.randint(0, classes, (2, 5, 5), generator=g)
    seg[0, 0] = -1
    normal = torch.nn.functional.normalize(torch.randn(2, 3, 5, 5, generator=g), dim=1)
    normal[1, :, 0] = 0
    depth = torch.rand(2, 1, 5, 5, generator=g) + 0.1
    depth[0, 0, 0, :2] = 0
    return {"seg": seg, "normal": normal, "depth": depth, "heat": torch.rand(2, 1, 5, 5, generator=g)}


def _predictions(seed: int, classes: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed + 100)
    return {"seg": torch.randn(2, classes, 5, 5, generator=g), "normal": torch.randn(2, 3, 5, 5, generator=g),
            "depth": torch.rand(2, 1, 5, 5, generator=g), "heat": torch.rand(2, 1, 5, 5, generator=g)}


def test_each_metric_is_the_training_loss_on_one_batch() -> None:
    config = _config("task_loss")
    batch, pred = _batch(0), _predictions(0)
    cases = [("segment_semantic", "seg", "cross_entropy", segmentation_loss(pred["seg"], batch["seg"])),
             ("normal", "normal", "cosine_similarity", 1.0 - normal_loss(pred["normal"], batch["normal"])),
             ("depth_zbuffer", "depth", "l1", depth_loss(pred["depth"], batch["depth"])),
             ("keypoints2d", "heat", "l1", l1_loss(pred["heat"], batch["heat"]))]
    for task, key, metric, expected in cases:
        accumulator = get_task(task, config).new_accumulator(4)
        accumulator.update(pred[key], batch[key])
        measured = accumulator.compute()
        assert measured[metric] == pytest.approx(float(expected), rel=1e-5), task
        assert set(get_task(task, config).metric_names) == set(measured)


def test_the_metric_is_weighted_by_valid_pixels_over_the_split() -> None:
    config = _config("task_loss")
    accumulator = get_task("depth_zbuffer", config).new_accumulator(0)
    pixels, total = 0, 0.0
    for seed in (1, 2):
        batch, pred = _batch(seed), _predictions(seed)
        accumulator.update(pred["depth"], batch["depth"])
        valid = batch["depth"] > 0
        pixels += int(valid.sum())
        total += float((pred["depth"] - batch["depth"]).abs()[valid].sum())
    assert accumulator.compute()["l1"] == pytest.approx(total / pixels)


def test_delta_of_a_loss_metric_follows_its_direction() -> None:
    config = _config("task_loss")
    better_ce = relative_performance("segment_semantic", {"cross_entropy": 0.45, "miou": 0.1},
                                     {"cross_entropy": 0.5, "miou": 0.9}, get_task("segment_semantic", config).directions)
    assert better_ce.percent == pytest.approx(10.0)  # mIoU is reported, not averaged in
    better_cos = relative_performance("normal", {"cosine_similarity": 0.88}, {"cosine_similarity": 0.8},
                                      get_task("normal", config).directions)
    assert better_cos.percent == pytest.approx(10.0)


def test_training_on_tiny_taskonomy_writes_both_metric_sets(tmp_path: Path) -> None:
    root = tmp_path / "taskonomy"
    for building in ("allensville", "beechwood", "collierville"):
        _building(root, building)
    config = _config("task_loss", root)
    result = train(config, TASKS, "01234|01234|01234|01234|01234", tmp_path / "run", device="cpu", threads=1)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert metrics == result.metrics
    assert {"cross_entropy", "miou", "pixel_acc"} <= set(metrics["segment_semantic"])
    assert {"cosine_similarity", "mean_angle"} <= set(metrics["normal"])
    assert metrics["keypoints2d"]["l1"] == pytest.approx(metrics["keypoints2d"]["error"])
    assert metrics["depth_zbuffer"]["l1"] == pytest.approx(metrics["depth_zbuffer"]["abs_err"])
    assert -1.0 <= metrics["normal"]["cosine_similarity"] <= 1.0
