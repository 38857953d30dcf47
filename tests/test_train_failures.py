"""Trainer failure modes: exploding loss, damaged or stale resume.pt, damaged model.pt."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from test_train import TASKS, TinyScenes, TinyTree, _config, _Kill, _run
from treemtl.errors import TreeMTLError
from treemtl.training.checkpoint import load_model_file, load_resume
from treemtl.training.loss_guard import DIVERGENCE_FACTOR, LossGuard
from treemtl.training.trainer import load_trained, train


def _kill_at(iteration: int):
    def hook(done: int) -> None:
        if done == iteration:
            raise _Kill

    return hook


# ----------------------------------------------------------------------------------------------
# divergence without NaN


def test_exploding_loss_stops_the_run_without_outputs(tmp_path: Path) -> None:
    with pytest.raises(TreeMTLError) as caught:
        _run(tmp_path, _config(lr=1e6))
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(tmp_path))
    assert "training diverged at iteration " in message and "start loss" in message and "lower train.lr" in message
    iteration = int(message.split("training diverged at iteration ")[1].split(":")[0])
    assert 1 < iteration <= 24
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "model.pt").exists()


def test_loss_guard_tolerates_spikes_but_not_sustained_growth() -> None:
    guard = LossGuard()
    assert guard.check(1, {"a": 2.0}, 2.0) is None and guard.start_loss == 2.0
    # one batch far worse than the start is smoothed away
    assert guard.check(2, {"a": 2.0 * DIVERGENCE_FACTOR}, 2.0 * DIVERGENCE_FACTOR) is None
    for iteration in range(3, 40):
        problem = guard.check(iteration, {"a": 1.0}, 1.0)
        assert problem is None
    diverging = LossGuard()
    diverging.check(1, {"a": 2.0}, 2.0)
    problems = [diverging.check(k, {"a": 2.0 * 10**k}, 2.0 * 10**k) for k in range(2, 12)]
    first = next(k for k, problem in zip(range(2, 12), problems) if problem is not None)
    assert problems[first - 2].startswith(f"training diverged at iteration {first}:")
    assert "start loss 2 of iteration 1" in problems[first - 2]
    # a start near zero loss is compared with a floor, not with 0
    tiny = LossGuard()
    tiny.check(1, {"a": 1e-9}, 1e-9)
    assert tiny.check(2, {"a": 1e-4}, 1e-4) is None


def test_non_finite_loss_names_the_task() -> None:
    assert LossGuard().check(1, {"a": 1.0, "b": float("inf")}, float("inf")) == (
        "loss of task b is not finite at iteration 1 (value inf)")


# ----------------------------------------------------------------------------------------------
# damaged or stale resume.pt


def _killed_run(tmp_path: Path) -> Path:
    """A run killed at iteration 17 of 24; its snapshot is at iteration 15."""
    out = tmp_path / "killed"
    with pytest.raises(_Kill):
        _run(out, _config(), on_iteration=_kill_at(17))
    assert load_resume(out / "resume.pt")["iteration"] == 15
    return out


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 40)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _wrong_shapes(path: Path) -> None:
    """Readable, this run's, but its weights cannot be loaded: the load fails halfway through."""
    payload = torch.load(path, weights_only=True)
    last = list(payload["model"])[-1]
    payload["model"][last] = torch.zeros(7, 7)
    torch.save(payload, path)


def _missing_field(path: Path) -> None:
    payload = torch.load(path, weights_only=True)
    del payload["loss_count"]
    torch.save(payload, path)


@pytest.mark.parametrize("damage", [_truncate, _garbage, _empty, _wrong_shapes, _missing_field])
def test_damaged_snapshot_is_moved_aside_and_training_starts_over(
    tmp_path: Path, damage, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = _run(tmp_path / "whole", _config()).summary
    out = _killed_run(tmp_path)
    damage(out / "resume.pt")
    capsys.readouterr()
    summary = _run(out, _config()).summary
    assert summary["metrics"] == reference["metrics"] and summary["history"] == reference["history"]
    assert (out / "resume.pt.corrupt").is_file() and not (out / "resume.pt").exists()
    log = (out / "train.log").read_text()
    assert "warning: " in log and "moved it to" in log and "started training from iteration 0" in log
    assert "resumed at" not in log
    err = capsys.readouterr().err
    assert f"treemtl: warning: {out / 'resume.pt'}" in err and len(err.strip().splitlines()) == 1
    whole = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["state_dict"]
    again = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(whole[k], again[k]) for k in whole)


def test_snapshot_of_another_version_is_ignored(tmp_path: Path) -> None:
    out = _killed_run(tmp_path)
    payload = torch.load(out / "resume.pt", weights_only=True)
    payload["version"] = 1
    torch.save(payload, out / "resume.pt")
    assert _run(out, _config()).summary["iterations"] == 24
    assert "ignoring resume.pt: it was written by another treemtl version" in (out / "train.log").read_text()
    assert not (out / "resume.pt.corrupt").exists()


def test_snapshot_for_a_resized_training_split_is_ignored(tmp_path: Path) -> None:
    out = _killed_run(tmp_path)  # 44 images, 5 batches of 8 per epoch
    summary = train(_config(), TASKS, "01|0,1", out, seed=3, device="cpu", threads=1,
                    train_set=TinyScenes(52, 1), val_set=TinyScenes(16, 2),
                    model_factory=lambda num_classes: TinyTree(TASKS, num_classes)).summary
    assert summary["iterations"] == 24
    log = (out / "train.log").read_text()
    assert "ignoring resume.pt: its data position (epoch 3, batch 0 at iteration 15)" in log
    assert "6 batches per epoch" in log


# ----------------------------------------------------------------------------------------------
# damaged model.pt


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model")
    _run(out, _config(iters=2, eval_every=2))
    return out / "model.pt"


def _broken_copy(model_file: Path, tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "run" / "model.pt"
    path.parent.mkdir()
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("cut", "reason"), [
    (0.5, "it is truncated or not a PyTorch file"),
    (0.99, "it is truncated or not a PyTorch file"),
    (0.0, "the file is empty"),
])
def test_truncated_model_file_names_file_and_remedy(model_file: Path, tmp_path: Path, cut: float, reason: str) -> None:
    data = model_file.read_bytes()
    path = _broken_copy(model_file, tmp_path, data[: int(len(data) * cut)])
    with pytest.raises(TreeMTLError) as caught:
        load_trained(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: cannot read model file: {reason}")
    assert "delete it and rerun snakemake" in message and "\n" not in message and "PytorchStreamReader" not in message


def test_foreign_model_files_are_rejected(model_file: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(TreeMTLError, match=r"foreign.pt: not a treemtl model file .*rerun snakemake"):
        load_trained(foreign)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"format": "treemtl-model", "code": _Kill()}, unsafe)
    with pytest.raises(TreeMTLError, match=r"unsafe.pt: cannot read model file: it holds objects other than tensors"):
        load_trained(unsafe)
    mistyped = torch.load(model_file, weights_only=True)
    mistyped["tasks"] = "segment_semantic"
    torch.save(mistyped, tmp_path / "mistyped.pt")
    with pytest.raises(TreeMTLError, match=r"field 'tasks' is a str, expected a list"):
        load_model_file(tmp_path / "mistyped.pt")
    # the tiny test network's weights do not fit the small_cnn the stored config describes
    with pytest.raises(TreeMTLError, match=r"model.pt: its weights do not fit the stored architecture .*rerun snakemake"):
        load_trained(model_file)


def test_a_bad_stored_layout_names_the_file_for_evaluation_and_warm_start(model_file: Path, tmp_path: Path) -> None:
    from treemtl.training.warm_start import warm_started

    payload = torch.load(model_file, weights_only=True)
    payload["layout"] = "not a layout"
    damaged = tmp_path / "damaged.pt"
    torch.save(payload, damaged)
    for read in (lambda: load_trained(damaged), lambda: warm_started(lambda n: None, damaged, payload["tasks"])):
        with pytest.raises(TreeMTLError, match=r"damaged.pt: stored layout: .*rerun snakemake"):
            read()


def test_cli_evaluate_reports_a_truncated_model_in_one_line(
    model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from treemtl.cli import main

    data = model_file.read_bytes()
    path = _broken_copy(model_file, tmp_path, data[: len(data) // 3])
    assert main(["evaluate", "--checkpoint", str(path), "--out", str(tmp_path / "m.json"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "rerun snakemake" in err
    assert not (tmp_path / "m.json").exists()
