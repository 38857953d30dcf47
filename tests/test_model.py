"""Tree model: routing, one run per block copy, parameter names, init_from, build_model."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from treemtl.nets.detect import split_backbone
from treemtl.errors import TreeMTLError
from treemtl.core.layout import Layout
from treemtl.nets.model import TreeMTLModel, build_heads, build_model, group_key

TASKS = ("segment_semantic", "depth_zbuffer", "normal")
#: Head output channels per task, as the training side computes them (5 segmentation classes).
CHANNELS = {"segment_semantic": 5, "depth_zbuffer": 1, "normal": 3}


def _backbone() -> SimpleNamespace:
    return SimpleNamespace(
        name="small_cnn", input_size=(3, 32, 32), blocks=5, add_branch_points=(), remove_branch_points=(), weights=None
    )


@pytest.fixture(scope="module")
def split():  # type: ignore[no-untyped-def]
    return split_backbone(_backbone())


def _model(split, text: str, tasks=TASKS) -> TreeMTLModel:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    return TreeMTLModel(split.blocks, Layout.parse(text), build_heads("light", split.out_channels, {t: CHANNELS[t] for t in tasks}))


def test_outputs_have_input_size_and_task_channels(split) -> None:  # type: ignore[no-untyped-def]
    model = _model(split, "012|012|01,2|01,2|0,1,2")
    out = model(torch.randn(2, 3, 32, 32))
    assert list(out) == list(TASKS)
    assert out["segment_semantic"].shape == (2, 5, 32, 32)
    assert out["depth_zbuffer"].shape == (2, 1, 32, 32)
    assert out["normal"].shape == (2, 3, 32, 32)


def test_copies_and_parameter_names_follow_the_layout(split) -> None:  # type: ignore[no-untyped-def]
    model = _model(split, "012|012|01,2|01,2|0,1,2")
    assert [sorted(copies) for copies in model.blocks] == [
        ["group_0_1_2"], ["group_0_1_2"], ["group_0_1", "group_2"], ["group_0_1", "group_2"], ["group_0", "group_1", "group_2"]
    ]
    names = {name for name, _ in model.named_parameters()}
    assert "blocks.2.group_0_1.0.stage2.0.weight" in names
    assert "heads.normal.classifier.weight" in names
    # the copies are independent tensors
    assert model.get_parameter("blocks.4.group_0.0.stage4.0.weight") is not model.get_parameter("blocks.4.group_1.0.stage4.0.weight")


def test_each_block_copy_runs_exactly_once(split) -> None:  # type: ignore[no-untyped-def]
    model = _model(split, "012|01,2|01,2|0,1,2|0,1,2")
    calls: dict[str, int] = {}
    for b, copies in enumerate(model.blocks):
        for key, module in copies.items():
            name = f"{b}.{key}"
            calls[name] = 0
            module.register_forward_hook(lambda *_, name=name: calls.__setitem__(name, calls[name] + 1))
    model(torch.randn(3, 3, 32, 32))
    assert len(calls) == sum(model.layout.copies()) == 1 + 2 + 2 + 3 + 3
    assert set(calls.values()) == {1}


def test_single_and_two_task_models_are_layouts(split) -> None:  # type: ignore[no-untyped-def]
    single = _model(split, "0|0|0|0|0", tasks=("normal",))
    assert set(single(torch.randn(1, 3, 32, 32))) == {"normal"}
    two = TreeMTLModel(split.blocks, Layout.two_task(2, 5), build_heads("light", split.out_channels, {"segment_semantic": 4, "depth_zbuffer": 1}))
    assert [len(c) for c in two.blocks] == [1, 1, 2, 2, 2]


def test_init_from_all_shared_reproduces_it_in_any_tree(split) -> None:  # type: ignore[no-untyped-def]
    shared = _model(split, "012|012|012|012|012").eval()
    for p in shared.parameters():
        nn.init.normal_(p, std=0.1)
    tree = _model(split, "012|01,2|0,1,2|0,1,2|0,1,2").eval()
    loaded = tree.init_from(shared.state_dict(), shared.layout)
    assert any(name.startswith("heads.") for name in loaded)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected, got = shared(x), tree(x)
    for task in TASKS:
        assert torch.allclose(expected[task], got[task], atol=1e-5)


def test_init_from_single_task_checkpoint_fills_every_copy(split) -> None:  # type: ignore[no-untyped-def]
    single = _model(split, "0|0|0|0|0", tasks=("normal",))
    for p in single.parameters():
        nn.init.normal_(p)
    tree = _model(split, "012|01,2|0,1,2|0,1,2|0,1,2")
    tree.init_from({"state_dict": single.state_dict()}, single.layout)
    source = single.get_parameter("blocks.3.group_0.0.stage3.0.weight")
    for key in ("group_0", "group_1", "group_2"):
        assert torch.equal(tree.get_parameter(f"blocks.3.{key}.0.stage3.0.weight"), source)
    assert torch.equal(tree.heads["normal"].classifier.weight, single.heads["normal"].classifier.weight)
    with pytest.raises(TreeMTLError, match="blocks"):
        tree.init_from(single.state_dict(), Layout.parse("0|0|0"))


def test_build_model_uses_the_given_head_channels_and_checks_sizes() -> None:
    config = SimpleNamespace(backbone=_backbone(), head="light")
    model = build_model(config, {"normal": 3, "keypoints2d": 1}, Layout.all_shared(2, 5))
    out = model(torch.randn(1, 3, 32, 32))
    assert list(out) == ["normal", "keypoints2d"]
    assert out["normal"].shape[1] == 3 and out["keypoints2d"].shape[1] == 1
    with pytest.raises(TreeMTLError, match="tasks"):
        build_model(config, {"normal": 3}, Layout.all_shared(2, 5))
    with pytest.raises(TreeMTLError, match="blocks"):
        build_model(config, {"normal": 3}, Layout.all_shared(1, 4))


def test_group_key() -> None:
    assert group_key((0, 11)) == "group_0_11"


def test_nets_does_not_import_training() -> None:
    import ast

    import treemtl.nets

    for path in Path(treemtl.nets.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m.startswith(("treemtl.training", "treemtl.evaluation"))], path.name
