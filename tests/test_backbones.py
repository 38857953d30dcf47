"""Named backbones: shapes, stride, parameter split of Deeplab-ResNet34, weights loading, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from treemtl.nets.backbones import STAGES_ATTR, build_backbone, small_cnn
from treemtl.errors import TreeMTLError


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_small_cnn_is_small_with_five_stages() -> None:
    model = small_cnn().eval()
    assert 200_000 <= _params(model) <= 500_000
    assert len(getattr(model, STAGES_ATTR)) == 5
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 128, 8, 8)


def test_deeplab_resnet34_has_output_stride_8_and_paper_param_split() -> None:
    model = build_backbone("deeplab_resnet34").eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 65, 65)).shape == (1, 512, 9, 9)
    assert not hasattr(model, "fc") and not hasattr(model, "avgpool")
    assert model.layer4[0].conv1.dilation == (4, 4) and model.layer3[1].conv2.dilation == (2, 2)
    stages = [["conv1", "bn1"], ["layer1"], ["layer2"], ["layer3"], ["layer4"]]
    counts = [sum(_params(getattr(model, name)) for name in names) for names in stages]
    fractions = [c / sum(counts) for c in counts]
    for got, expected in zip(fractions, [0.0004, 0.0104, 0.0525, 0.3205, 0.6161]):
        assert got == pytest.approx(expected, abs=0.002)


@pytest.mark.parametrize(
    ("name", "channels"),
    [("mobilenet_v2", 1280), ("torchvision:resnet18", 512), ("torchvision:vgg11", 512), ("torchvision:shufflenet_v2_x0_5", 1024)],
)
def test_torchvision_feature_extractors_drop_the_classifier(name: str, channels: int) -> None:
    model = build_backbone(name).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 64))
    assert out.dim() == 4 and out.shape[1] == channels


def test_user_factory_and_unknown_names() -> None:
    model = build_backbone("treemtl.nets.backbones:small_cnn")
    assert _params(model) == _params(small_cnn())
    with pytest.raises(TreeMTLError, match="unknown backbone"):
        build_backbone("resnet9000")
    with pytest.raises(TreeMTLError, match="torchvision has no model"):
        build_backbone("torchvision:not_a_model")
    with pytest.raises(TreeMTLError, match="cannot import"):
        build_backbone("no_such_package_xyz:factory")
    with pytest.raises(TreeMTLError, match="expected an nn.Module"):
        build_backbone("collections:OrderedDict")


def test_weights_load_from_local_checkpoint(tmp_path: Path) -> None:
    source = small_cnn()
    for p in source.parameters():
        torch.nn.init.normal_(p)
    state = dict(source.state_dict())
    state["fc.weight"] = torch.zeros(3, 3)  # classifier keys of a classification checkpoint are ignored
    path = tmp_path / "w.pt"
    torch.save(state, path)
    model = build_backbone("small_cnn", weights=str(path))
    for name, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[name], value)


def test_bad_weights_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(TreeMTLError, match="no such file"):
        build_backbone("small_cnn", weights=str(tmp_path / "missing.pt"))
    path = tmp_path / "other.pt"
    torch.save({"stage0.0.weight": torch.zeros(1)}, path)
    with pytest.raises(TreeMTLError, match="keys do not match"):
        build_backbone("small_cnn", weights=str(path))
