"""Branching point detector: exact composition, cut points, P/U merger, grouping, errors, CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace

import networkx as nx
import pytest
import torch
from torch import Tensor, nn

from treemtl.nets.backbones import build_backbone
from treemtl.cli import main
from treemtl.nets.detect import (
    FineBlockInfo,
    balance_flops,
    check_composition,
    cut_points,
    detect_blocks,
    detect_fine_blocks,
    group_blocks,
    merge_candidates,
    split_backbone,
)
from treemtl.errors import TreeMTLError


def _config(**overrides: object) -> SimpleNamespace:
    values: dict[str, object] = dict(
        name="small_cnn", input_size=(3, 64, 64), blocks=5, add_branch_points=(), remove_branch_points=(), weights=None
    )
    values.update(overrides)
    return SimpleNamespace(**values)


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("small_cnn", 64),
        ("deeplab_resnet34", 65),
        ("mobilenet_v2", 64),
        ("torchvision:resnet18", 64),
        ("torchvision:vgg11", 64),
        ("torchvision:efficientnet_b0", 64),
        ("torchvision:shufflenet_v2_x0_5", 64),
        ("torchvision:regnet_x_400mf", 64),
    ],
)
def test_blocks_in_sequence_equal_the_backbone(name: str, size: int) -> None:
    torch.manual_seed(0)
    model = build_backbone(name).eval()
    blocks = detect_blocks(model, torch.zeros(1, 3, size, size))
    assert len(blocks) >= 5
    assert check_composition(model, blocks, torch.randn(2, 3, size, size))


def test_whole_classifier_with_flatten_and_fc_is_split_exactly() -> None:
    import torchvision

    model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    blocks = detect_blocks(model, torch.zeros(1, 3, 32, 32))
    assert check_composition(model, blocks, torch.randn(2, 3, 32, 32))


def test_deeplab_resnet34_fine_and_coarse_blocks_match_the_paper() -> None:
    split = split_backbone(_config(name="deeplab_resnet34", input_size=(3, 321, 321)))
    assert len(split.fine_blocks) == 17  # stem + 16 residual blocks
    assert split.groups == [[0], [1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11, 12, 13], [14, 15, 16]]
    assert split.fine_blocks[0].operators == ("conv1", "bn1", "relu", "maxpool")
    assert all(info.label == "P" for info in split.fine_blocks)
    total_flops, total_params = sum(split.flops), sum(split.params)
    for got, expected in zip(split.flops, [0.0067, 0.0393, 0.0506, 0.3092, 0.5943]):
        assert got / total_flops == pytest.approx(expected, abs=0.002)
    for got, expected in zip(split.params, [0.0004, 0.0104, 0.0525, 0.3205, 0.6161]):
        assert got / total_params == pytest.approx(expected, abs=0.002)
    assert split.out_channels == 512 and split.output_shapes[-1] == (512, 41, 41)


def test_split_backbone_small_cnn_reports_costs_and_json() -> None:
    split = split_backbone(_config())
    assert split.num_blocks == 5 and split.out_channels == 128
    assert split.params == [sum(p.numel() for p in b.parameters()) for b in split.blocks]
    assert all(f > 0 for f in split.flops)
    doc = split.to_json({"normal": 1}, {"normal": 2})
    assert [c["fine_blocks"] for c in doc["coarse_blocks"]] == split.groups
    assert doc["fine_blocks"][0]["label"] == "P" and doc["input_size"] == [3, 64, 64]
    again = split_backbone(_config())
    assert again.flops == split.flops and again.groups == split.groups  # deterministic


def test_add_and_remove_branch_points() -> None:
    split = split_backbone(_config(remove_branch_points=(2, 4)))
    assert split.groups == [[0], [1, 2], [3, 4]]
    split = split_backbone(_config(blocks=3, add_branch_points=(0,)))
    assert split.groups[0] == [0] and len(split.groups) in (3, 4)
    with pytest.raises(TreeMTLError, match="remove_branch_points"):
        split_backbone(_config(remove_branch_points=(5,)))
    with pytest.raises(TreeMTLError, match="add_branch_points"):
        split_backbone(_config(add_branch_points=(4,)))
    with pytest.raises(TreeMTLError, match="only 5 fine blocks"):
        split_backbone(_config(blocks=6))


def test_mobilenet_v2_groups_whole_inverted_residual_blocks_by_flops() -> None:
    model = build_backbone("mobilenet_v2")
    _, infos = detect_fine_blocks(model, torch.zeros(1, 3, 64, 64))
    groups = group_blocks(infos, 5, unit_depth=2)
    unit = lambda i: ".".join(infos[i].modules[0].split(".")[:2])  # noqa: E731
    for group in groups[1:]:
        assert unit(group[0]) != unit(group[0] - 1)  # never cuts inside features.N
    flops = [sum(infos[i].flops for i in g) for g in groups]
    assert max(flops) < 2.5 * min(flops)


def test_balance_flops_is_optimal_on_small_cases() -> None:
    assert balance_flops([1, 1, 1, 1], 2) == [[0, 1], [2, 3]]
    assert balance_flops([5, 1, 1, 1, 1, 1], 2) == [[0], [1, 2, 3, 4, 5]]
    assert balance_flops([3, 3, 3], 3) == [[0], [1], [2]]


def test_stage_grouping_falls_back_to_flops_when_count_differs() -> None:
    infos = [FineBlockInfo(i, (f"n{i}",), "P", (f"s{i // 2}.conv",), flops=10) for i in range(6)]
    stages = [("s0",), ("s1",), ("s2",)]
    assert group_blocks(infos, 3, stages=stages) == [[0, 1], [2, 3], [4, 5]]
    assert group_blocks(infos, 2, stages=stages) == [[0, 1, 2], [3, 4, 5]]


# ----------------------------------------------------------------------------- divisor and merger


def test_cut_points_are_the_size_one_cuts_of_a_hand_made_graph() -> None:
    # appendix F shape: a chain, a part with two parallel paths (min cut 2), a chain again
    g = nx.DiGraph([("in", "a"), ("a", "b"), ("b", "c1"), ("b", "c2"), ("c1", "c3"), ("c2", "c3"), ("c3", "d"), ("d", "e")])
    assert cut_points(g, "in", "e") == ["in", "a", "b", "c3", "d", "e"]


def test_cut_points_agree_with_minimum_cuts_on_random_dags() -> None:
    rng = random.Random(0)
    for _ in range(30):
        n = rng.randint(3, 12)
        g = nx.DiGraph()
        g.add_nodes_from(range(n))
        for v in range(1, n):
            g.add_edge(rng.randrange(v), v)  # every node reachable from 0
            if rng.random() < 0.3 and v > 1:
                g.add_edge(rng.randrange(v), v)
        for v in range(n - 1):
            if not g.out_degree(v):
                g.add_edge(v, n - 1)  # every node reaches the sink
        expected = [0] + [v for v in range(1, n - 1) if not nx.has_path(g.subgraph(set(g) - {v}), 0, n - 1)] + [n - 1]
        assert cut_points(g, 0, n - 1) == expected


def test_merger_follows_appendix_f() -> None:
    # U P P U P: the leading U joins the first P, the later U the P before it
    assert merge_candidates(["U", "P", "P", "U", "P"]) == [[0, 1], [2, 3], [4]]
    assert merge_candidates(["P", "U", "U", "P", "U"]) == [[0, 1, 2], [3, 4]]
    assert merge_candidates(["U", "U"]) == [[0, 1]]
    assert merge_candidates([]) == []
    with pytest.raises(ValueError):
        merge_candidates(["X"])


class _FigureFour(nn.Module):
    """U (relu) | P (conv) | P (two parallel convs added) | U (bn) | P (conv)."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_b = nn.Conv2d(3, 4, 3, padding=1)
        self.left = nn.Conv2d(4, 4, 3, padding=1)
        self.right = nn.Conv2d(4, 4, 1)
        self.bn = nn.BatchNorm2d(4)
        self.conv_e = nn.Conv2d(4, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv_b(self.relu(x))
        x = self.left(x) + self.right(x)
        return self.conv_e(self.bn(x))


def test_detector_on_the_appendix_f_example() -> None:
    model = _FigureFour().eval()
    blocks, infos = detect_fine_blocks(model, torch.zeros(1, 3, 8, 8))
    assert [info.operators for info in infos] == [("relu", "conv_b"), ("left", "right", "add", "bn"), ("conv_e",)]
    assert [info.label for info in infos] == ["P", "P", "P"]
    assert infos[1].params == sum(p.numel() for m in (model.left, model.right, model.bn) for p in m.parameters())
    assert check_composition(model, blocks, torch.randn(2, 3, 8, 8))


def test_functional_parameters_count_as_p() -> None:
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(4, 3, 3, 3))
            self.conv = nn.Conv2d(4, 4, 1)

        def forward(self, x: Tensor) -> Tensor:
            return self.conv(torch.relu(nn.functional.conv2d(x, self.weight, padding=1)))

    model = Functional().eval()
    blocks, infos = detect_fine_blocks(model, torch.zeros(1, 3, 6, 6))
    assert [i.label for i in infos] == ["P", "P"] and len(blocks) == 2
    assert check_composition(model, blocks, torch.randn(1, 3, 6, 6))


# ----------------------------------------------------------------------------- errors


class _DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.sum() > 0:
            return self.conv(x)
        return x


class _Unsplittable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 3, padding=1)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(self.conv1(x)) + x  # the input skips to the output: no size-1 cut


class _TwoOutputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.conv(x), x


def test_untraceable_model_is_a_clear_error() -> None:
    with pytest.raises(TreeMTLError, match=r"cannot trace backbone _DataDependent"):
        detect_blocks(_DataDependent(), torch.zeros(1, 3, 4, 4))


def test_unsplittable_model_is_a_clear_error() -> None:
    with pytest.raises(TreeMTLError, match=r"_Unsplittable cannot be split.*minimum cut of size 1"):
        detect_blocks(_Unsplittable(), torch.zeros(1, 3, 4, 4))


def test_model_with_two_outputs_is_a_clear_error() -> None:
    with pytest.raises(TreeMTLError, match="must return one tensor"):
        detect_blocks(_TwoOutputs(), torch.zeros(1, 3, 4, 4))


def test_bad_input_size_is_a_clear_error() -> None:
    with pytest.raises(TreeMTLError, match="input_size"):
        split_backbone(_config(input_size=(3, 64)))


def test_wrong_input_channels_fail_without_printing(capfd: pytest.CaptureFixture[str]) -> None:
    """Shape propagation prints the failing operator's traceback itself; none of it may show."""
    with pytest.raises(TreeMTLError, match=r"forward fails on an input of shape \(1, 5, 16, 16\)") as failure:
        split_backbone(_config(input_size=(5, 16, 16)))
    assert "While executing" not in str(failure.value) and "tlparse" not in str(failure.value)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_failing_backbone_factory_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_backbones.py").write_text(
        "def raising():\n    raise ValueError('no such depth: 7')\n"
    )
    (tmp_path / "crashing_module.py").write_text("raise RuntimeError('missing licence file')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TreeMTLError, match=r"backbone 'broken_backbones:raising': raising\(\) raised ValueError: no such depth: 7"):
        build_backbone("broken_backbones:raising")
    with pytest.raises(TreeMTLError, match=r"'crashing_module:net': importing 'crashing_module' raised RuntimeError: missing licence"):
        build_backbone("crashing_module:net")


# ----------------------------------------------------------------------------- CLI


def test_cli_writes_blocks_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "backbone" / "blocks.json"
    code = main(["detect", "--backbone", "small_cnn", "--input-size", "3,32,32", "--remove-branch-points", "4",
                 "--tasks", "segment_semantic,normal", "--out", str(out)])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["backbone"] == "small_cnn" and doc["input_size"] == [3, 32, 32]
    assert len(doc["coarse_blocks"]) == 4 and len(doc["fine_blocks"]) == 5
    assert set(doc["head_flops"]) == {"segment_semantic", "normal"} and all(v > 0 for v in doc["head_params"].values())
    assert sum(c["flops"] for c in doc["coarse_blocks"]) == sum(f["flops"] for f in doc["fine_blocks"])
    assert not [p for p in out.parent.iterdir() if p.name != "blocks.json"]  # no temp file left


def test_cli_reports_errors_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "--backbone", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("treemtl: error: unknown backbone")
