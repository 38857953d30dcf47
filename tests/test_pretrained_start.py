"""Pretrained starts (backbone.weights) and one initial network per experiment (train.shared_init)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from treemtl.errors import TreeMTLError
from treemtl.nets.backbones import build_backbone, imagenet_file, small_cnn
from treemtl.training.config import config_from_dict
from treemtl.training.trainer import tree_model_factory

TASKS = ["segment_semantic", "depth_zbuffer", "normal"]


def _config(**train: object) -> object:
    return config_from_dict({"experiment": "init", "tasks": TASKS, "backbone": {"input_size": [3, 32, 32]},
                             "train": dict(train)})


def test_imagenet_reads_torchvisions_cache_and_names_the_missing_file(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path, url = imagenet_file("deeplab_resnet34")
    assert path == tmp_path / "hub" / "checkpoints" / "resnet34-b627a593.pth" and url.endswith(path.name)
    with pytest.raises(TreeMTLError) as error:
        build_backbone("deeplab_resnet34", "imagenet")
    message = str(error.value)
    assert "\n" not in message and str(path) in message and url in message
    with pytest.raises(TreeMTLError, match="no ImageNet weights for backbone 'small_cnn'"):
        build_backbone("small_cnn", "imagenet")


def test_imagenet_file_initialises_the_backbone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path, _ = imagenet_file("torchvision:squeezenet1_1")
    classifier = torchvision.models.squeezenet1_1(weights=None)
    with torch.no_grad():
        for parameter in classifier.parameters():
            parameter.fill_(0.25)
    path.parent.mkdir(parents=True)
    torch.save(classifier.state_dict(), path)  # with the classifier, as torchvision ships it
    backbone = build_backbone("torchvision:squeezenet1_1", "imagenet")
    assert all(bool((p == 0.25).all()) for p in backbone.parameters())


def test_local_state_dict_starts_every_block_copy(tmp_path: Path) -> None:
    source = small_cnn()
    with torch.no_grad():
        for parameter in source.parameters():
            parameter.uniform_(-1, 1)
    weights = tmp_path / "backbone.pt"
    torch.save(source.state_dict(), weights)
    config = config_from_dict({"experiment": "init", "tasks": TASKS,
                               "backbone": {"input_size": [3, 32, 32], "weights": str(weights)}})
    model = tree_model_factory(config, TASKS, "012|012|0,12|0,1,2|0,1,2")(5)
    parameters = dict(model.named_parameters())
    assert torch.equal(parameters["blocks.0.group_0_1_2.0.stage0.0.weight"], source.stage0[0].weight)
    later = [parameters[f"blocks.4.group_{t}.0.stage4.0.weight"] for t in range(3)]
    assert all(torch.equal(p, source.stage4[0].weight) for p in later)


def _head(model: torch.nn.Module, task: str) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.heads[task].parameters()]  # type: ignore[index,union-attr]


def test_shared_init_gives_every_model_the_same_start() -> None:
    shared = _config(shared_init=True)
    single = tree_model_factory(shared, ["normal"], "0|0|0|0|0", seed=3)(5)
    pair = tree_model_factory(shared, ["segment_semantic", "normal"], "01|0,1|0,1|0,1|0,1", seed=3)(5)
    final = tree_model_factory(shared, TASKS, "012|012|012|012|012", seed=3)(5)
    for a, b in zip(_head(single, "normal"), _head(pair, "normal")):
        assert torch.equal(a, b)
    for a, b in zip(_head(pair, "segment_semantic"), _head(final, "segment_semantic")):
        assert torch.equal(a, b)
    assert torch.equal(dict(single.named_parameters())["blocks.2.group_0.0.stage2.0.weight"],
                       dict(pair.named_parameters())["blocks.2.group_1.0.stage2.0.weight"])
    other_seed = tree_model_factory(shared, ["normal"], "0|0|0|0|0", seed=4)(5)
    assert not torch.equal(_head(single, "normal")[0], _head(other_seed, "normal")[0])


def test_without_shared_init_a_head_depends_on_its_model() -> None:
    own = _config()
    torch.manual_seed(3)
    single = tree_model_factory(own, ["normal"], "0|0|0|0|0")(5)
    torch.manual_seed(3)
    pair = tree_model_factory(own, ["segment_semantic", "normal"], "01|0,1|0,1|0,1|0,1")(5)
    assert not torch.equal(_head(single, "normal")[0], _head(pair, "normal")[0])


def test_import_renames_a_foreign_state_dict_by_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from treemtl.cli import main

    source = small_cnn()
    with torch.no_grad():
        for parameter in source.parameters():
            parameter.uniform_(-1, 1)
    # another library's names, BN counters dropped, a classifier and a wrapper prefix added
    foreign = {f"module.layer_{i}": value for i, (key, value) in enumerate(source.state_dict().items())
               if not key.endswith("num_batches_tracked")}
    foreign["module.fc.weight"] = torch.zeros(10, 128)
    src, out = tmp_path / "timm.pth", tmp_path / "small_cnn.pt"
    torch.save({"state_dict": foreign}, src)
    assert main(["pretrained", "import", "--backbone", "small_cnn", "--src", str(src), "--out", str(out)]) == 0
    report = capsys.readouterr().out
    assert "for small_cnn: 0 matched by name, 25 by order; 5 BatchNorm counters kept; 0 unused" in report
    backbone = build_backbone("small_cnn", str(out))
    assert torch.equal(backbone.stage3[0].weight, source.stage3[0].weight)


def test_import_matches_names_and_refuses_another_architecture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from treemtl.cli import main

    named = tmp_path / "named.pth"
    torch.save({f"model.{k}": v for k, v in small_cnn().state_dict().items()}, named)
    assert main(["pretrained", "import", "--backbone", "small_cnn", "--src", str(named), "--out", str(tmp_path / "a.pt")]) == 0
    assert "matched by name, 0 by order" in capsys.readouterr().out
    other = tmp_path / "other.pth"
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), other)
    assert main(["pretrained", "import", "--backbone", "small_cnn", "--src", str(other), "--out", str(tmp_path / "b.pt")]) == 2
    assert "another architecture" in capsys.readouterr().err
    assert not (tmp_path / "b.pt").exists()
