"""Trainer: learning, exact resume after a kill, NaN guard, safe model files, CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from treemtl.training.checkpoint import load_resume
from treemtl.training.config import ExperimentConfig, config_from_dict
from treemtl.errors import TreeMTLError
from treemtl.training.sampling import EpochBatchSampler, epoch_order
from treemtl.training.trainer import evaluate, train, validation_score

TASKS = ["segment_semantic", "depth_zbuffer"]


class TinyScenes(Dataset[dict[str, torch.Tensor]]):
    """Procedural 16x16 images whose targets are simple functions of the pixels (learnable fast)."""

    num_classes = 3

    def __init__(self, n: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 3, 16, 16, generator=gen)
        self.tasks = ("segment_semantic", "depth_zbuffer", "normal")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image = self.images[index]
        seg = (image[0] > 0).long() + (image[1] > 0.5).long()
        seg[0, 0] = -1
        return {
            "image": image,
            "segment_semantic": seg,
            "depth_zbuffer": (1.0 + image[2:3].abs()),
            "normal": torch.nn.functional.normalize(image, dim=0),
        }


class TinyTree(nn.Module):
    """Stand-in for a TreeMTLModel: shared trunk, one 1x1 head per task, dict output."""

    def __init__(self, tasks: list[str], num_classes: int, poison: str | None = None) -> None:
        super().__init__()
        channels = {"segment_semantic": num_classes, "depth_zbuffer": 1, "normal": 3}
        self.trunk = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.heads = nn.ModuleDict({t: nn.Conv2d(8, channels[t], 1) for t in tasks})
        self.poison = poison

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.trunk(x)
        out = {t: head(features) for t, head in self.heads.items()}
        if self.poison is not None:
            out[self.poison] = out[self.poison] * float("nan")
        return out


def _config(**train: Any) -> ExperimentConfig:
    recipe = {"iters": 24, "batch_size": 8, "lr": 0.01, "lr_step": 10, "lr_gamma": 0.5, "eval_every": 8,
              "checkpoint_every": 5}
    recipe.update(train)
    return config_from_dict({"experiment": "test", "tasks": ["segment_semantic", "depth_zbuffer", "normal"], "train": recipe,
                             "backbone": {"blocks": 2}}, source="test")


def _run(out: Path, config: ExperimentConfig, tasks: list[str] = TASKS, poison: str | None = None, **kwargs: Any):
    return train(config, tasks, "01|0,1", out, seed=3, device="cpu", threads=1,
                 train_set=TinyScenes(44, 1), val_set=TinyScenes(16, 2),
                 model_factory=lambda num_classes: TinyTree(tasks, num_classes, poison), **kwargs)


def test_epoch_order_is_a_pure_function_of_seed_and_epoch() -> None:
    assert torch.equal(epoch_order(10, 1, 2), epoch_order(10, 1, 2))
    assert not torch.equal(epoch_order(10, 1, 2), epoch_order(10, 1, 3))
    sampler = EpochBatchSampler(10, 4, seed=5)
    assert sampler.batches_per_epoch == 2
    stream = iter(sampler)
    first = [next(stream) for _ in range(7)]
    resumed = iter(EpochBatchSampler(10, 4, seed=5, start=3))
    assert [next(resumed) for _ in range(4)] == first[3:]
    assert sorted(first[0] + first[1]) == sorted(epoch_order(10, 5, 0)[:8].tolist())
    assert all(len(batch) == 4 for batch in first)


def test_training_reduces_loss_and_writes_outputs(tmp_path: Path) -> None:
    result = _run(tmp_path, _config(iters=40, eval_every=10, lr_step=100))
    history = result.summary["history"]
    assert [entry["iteration"] for entry in history] == [10, 20, 30, 40]
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    assert all(last[t] < first[t] for t in TASKS)
    assert history[-1]["metrics"]["depth_zbuffer"]["abs_err"] < history[0]["metrics"]["depth_zbuffer"]["abs_err"]
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data["tasks"] == TASKS and data["layout"] == "01|0,1" and data["seed"] == 3
    assert data["metrics"] == history[-1]["metrics"] and data["iterations"] == 40
    assert set(data["metrics"]["segment_semantic"]) == {"miou", "pixel_acc"}
    assert data["images_per_s"] > 0 and data["wall_time_s"] > 0 and data["device"] == "cpu"
    assert not (tmp_path / "resume.pt").exists()
    assert "done: 40 iterations" in (tmp_path / "train.log").read_text()
    model_file = torch.load(tmp_path / "model.pt", weights_only=True)
    assert model_file["tasks"] == TASKS and model_file["layout"] == "01|0,1" and model_file["num_classes"] == 3
    assert config_from_dict(model_file["config"]).train.iters == 40
    reloaded = TinyTree(TASKS, 3)
    reloaded.load_state_dict(model_file["state_dict"])
    again = evaluate(reloaded, TinyScenes(16, 2), TASKS, 3, device="cpu", batch_size=5)
    for task in TASKS:
        assert again[task] == pytest.approx(data["metrics"][task])


class _Kill(Exception):
    pass


def test_resume_after_kill_gives_identical_metrics(tmp_path: Path) -> None:
    config = _config()
    reference = _run(tmp_path / "whole", config).summary

    def kill_at(iteration: int) -> None:
        if iteration == 17:  # after the snapshot at 15 and the evaluation at 16
            raise _Kill

    with pytest.raises(_Kill):
        _run(tmp_path / "killed", config, on_iteration=kill_at)
    state = load_resume(tmp_path / "killed" / "resume.pt")
    assert state["iteration"] == 15 and state["epoch"] == 15 // 5 and state["position"] == 0
    assert not (tmp_path / "killed" / "metrics.json").exists()
    resumed = _run(tmp_path / "killed", config).summary
    assert resumed["metrics"] == reference["metrics"]
    assert resumed["history"] == reference["history"]
    assert "resumed at iteration 15" in (tmp_path / "killed" / "train.log").read_text()
    whole = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["state_dict"]
    again = torch.load(tmp_path / "killed" / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(whole[k], again[k]) for k in whole)


def test_snapshot_of_another_run_is_ignored(tmp_path: Path) -> None:
    def kill(iteration: int) -> None:
        if iteration == 6:
            raise _Kill

    with pytest.raises(_Kill):
        _run(tmp_path, _config(lr=0.02), on_iteration=kill)
    summary = _run(tmp_path, _config(iters=10)).summary
    assert summary["iterations"] == 10
    assert "ignoring resume.pt" in (tmp_path / "train.log").read_text()


def test_nan_loss_names_task_and_iteration(tmp_path: Path) -> None:
    with pytest.raises(TreeMTLError, match=r"loss of task depth_zbuffer is not finite at iteration 1"):
        _run(tmp_path, _config(), poison="depth_zbuffer")


def test_early_stopping_keeps_best_evaluation(tmp_path: Path) -> None:
    # A huge learning rate makes validation worse after the first evaluation.
    result = _run(tmp_path, _config(iters=60, eval_every=4, early_stop_patience=2, lr=0.5, lr_step=1000))
    summary = result.summary
    assert summary["final"] == "best"
    best = max(summary["history"], key=lambda entry: entry["score"])
    assert summary["best_iteration"] == best["iteration"]
    assert summary["metrics"] == best["metrics"]
    if summary["early_stopped"]:
        assert summary["iterations"] < 60
        tail = [h["score"] for h in summary["history"] if h["iteration"] > best["iteration"]]
        assert len(tail) == 2 and all(score <= best["score"] for score in tail)


def test_validation_score_signs() -> None:
    reference = {"depth_zbuffer": {"abs_err": 1.0, "rel_err": 0.5, "delta_1": 0.0, "delta_2": 10.0, "delta_3": 20.0}}
    better = {"depth_zbuffer": {"abs_err": 0.5, "rel_err": 0.25, "delta_1": 5.0, "delta_2": 20.0, "delta_3": 40.0}}
    assert validation_score(better, reference) == pytest.approx(75.0)  # delta_1 (reference 0) is skipped
    assert validation_score(reference, reference) == 0.0


def test_bad_iters_and_device(tmp_path: Path) -> None:
    with pytest.raises(TreeMTLError, match="--iters"):
        train(_config(), TASKS, "01|0,1", tmp_path, iters=0, device="cpu")
    with pytest.raises(TreeMTLError, match="--device"):
        train(_config(), TASKS, "01|0,1", tmp_path, device="tpu", train_set=TinyScenes(4, 0), val_set=TinyScenes(4, 0))


# ----------------------------------------------------------------------------------------------
# with the real model builder and the synthetic data


@pytest.fixture(scope="module")
def synthetic_config(tmp_path_factory: pytest.TempPathFactory, synthetic_data: dict[str, Any]) -> Path:
    root = tmp_path_factory.mktemp("synth")
    config = {
        "experiment": "tiny",
        "tasks": ["segment_semantic", "depth_zbuffer", "normal"],
        "data": synthetic_data,
        "backbone": {"name": "small_cnn", "input_size": [3, 32, 32], "blocks": 5},
        "train": {"iters": 12, "batch_size": 8, "lr": 0.005, "lr_step": 6, "eval_every": 6, "checkpoint_every": 4},
    }
    import yaml

    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_cli_train_and_evaluate_end_to_end(synthetic_config: Path, tmp_path: Path) -> None:
    from treemtl.cli import main
    from treemtl.training.trainer import load_trained

    out = tmp_path / "run"
    code = main(["train", "--config", str(synthetic_config), "--tasks", "segment_semantic,normal", "--layout", "id:3",
                 "--out", str(out), "--seed", "1", "--iters", "6", "--threads", "1", "--device", "cpu"])
    assert code == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["iterations"] == 6 and summary["seed"] == 1 and summary["tasks"] == ["segment_semantic", "normal"]
    assert set(summary["metrics"]["normal"]) == {"mean_angle", "median_angle", "within_11.25", "within_22.5", "within_30"}
    trained = load_trained(out / "model.pt")
    assert trained.tasks == ("segment_semantic", "normal") and trained.layout.format() == summary["layout"]
    assert not trained.model.training and trained.num_classes == summary["num_classes"]
    assert code == 0 and main(["evaluate", "--checkpoint", str(out / "model.pt"), "--out", str(tmp_path / "e.json"),
                               "--device", "cpu"]) == 0
    evaluated = json.loads((tmp_path / "e.json").read_text())
    for task, values in summary["metrics"].items():
        assert evaluated["metrics"][task] == pytest.approx(values)


def test_cli_rejects_mismatched_layouts(synthetic_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from treemtl.cli import main

    base = ["train", "--config", str(synthetic_config), "--out", str(tmp_path), "--threads", "1"]
    assert main([*base, "--tasks", "normal,depth_zbuffer", "--layout", "012|012|012|012|012"]) == 2
    assert "it has 3 tasks but --tasks lists 2" in capsys.readouterr().err
    assert main([*base, "--tasks", "normal,depth_zbuffer", "--layout", "01|01|0,1"]) == 2
    assert "backbone.blocks = 5" in capsys.readouterr().err
    assert main([*base, "--tasks", "normal,depth", "--layout", "01|01|01|01|01"]) == 2
    assert "unknown task 'depth'" in capsys.readouterr().err
    assert main([*base, "--tasks", "normal", "--layout", "id:x"]) == 2
    assert main(["evaluate", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.json")]) == 2
    assert "model file not found" in capsys.readouterr().err


def test_real_model_resume_matches_uninterrupted_run(synthetic_config: Path, tmp_path: Path) -> None:
    from treemtl.training.config import load_config
    from treemtl.core.layout import Layout

    config = load_config(synthetic_config)
    tasks = ["segment_semantic", "depth_zbuffer"]
    layout = Layout.two_task(2, 5)
    whole = train(config, tasks, layout, tmp_path / "a", seed=0, device="cpu", threads=1).summary

    def kill(iteration: int) -> None:
        if iteration == 9:
            raise _Kill

    with pytest.raises(_Kill):
        train(config, tasks, layout, tmp_path / "b", seed=0, device="cpu", threads=1, on_iteration=kill)
    resumed = train(config, tasks, layout, tmp_path / "b", seed=0, device="cpu", threads=1).summary
    assert resumed["metrics"] == whole["metrics"]
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in whole["history"]]
