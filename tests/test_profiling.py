"""fvcore profiling: analytic FLOPs, and the core cost model on the block profile == fvcore on the built tree."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from treemtl.errors import TreeMTLError
from treemtl.nets.detect import split_backbone
from treemtl.core import cost
from treemtl.core.layout import Layout, enumerate_layouts
from treemtl.nets.model import TreeMTLModel, build_heads
from treemtl.training.tasks import head_channels
from treemtl.nets.profiling import (
    count_flops,
    count_params,
    model_flops,
    profile_blocks,
    profile_heads,
    tree_model_flops,
)

SIZE = (3, 32, 32)
TASKS = ("segment_semantic", "depth_zbuffer", "normal")


def test_conv_flops_are_multiply_adds() -> None:
    conv = nn.Conv2d(4, 8, 3, padding=1, bias=False)
    assert count_flops(conv, torch.zeros(1, 4, 10, 10)) == 8 * 4 * 9 * 10 * 10
    assert count_params(conv) == 8 * 4 * 9


@pytest.fixture(scope="module")
def split():  # type: ignore[no-untyped-def]
    return split_backbone(
        SimpleNamespace(name="small_cnn", input_size=SIZE, blocks=5, add_branch_points=(), remove_branch_points=(), weights=None)
    )


def test_profile_blocks_matches_the_split(split) -> None:  # type: ignore[no-untyped-def]
    profile = profile_blocks(split.blocks, SIZE)
    assert list(profile.flops) == split.flops and list(profile.params) == split.params
    assert list(profile.output_shapes) == split.output_shapes
    whole = nn.Sequential(*split.blocks)
    assert model_flops(whole, SIZE) == profile.total_flops


def _layout_cost(layout: Layout, profile) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    costs = cost.layout_costs(
        [layout.copies()], cost.BlockProfile(tuple(profile.flops), tuple(profile.params)), layout.num_tasks
    )
    return int(costs.flops[0]), int(costs.params[0])


def test_layout_cost_equals_fvcore_of_the_built_tree(split) -> None:  # type: ignore[no-untyped-def]
    profile = profile_blocks(split.blocks, SIZE)
    rng = random.Random(0)
    layouts = enumerate_layouts(3, 5)
    chosen = [layouts[0], layouts[-1], *rng.sample(layouts, 4)]
    head_costs = profile_heads(build_heads("light", split.out_channels, head_channels(TASKS, 5)), split.output_shapes[-1])
    for layout in chosen:
        model = TreeMTLModel(split.blocks, layout, build_heads("light", split.out_channels, head_channels(TASKS, 5)))
        measured = tree_model_flops(model, SIZE)
        flops, params = _layout_cost(layout, profile)
        assert measured.blocks == pytest.approx(flops, rel=0.01)
        assert sum(p.numel() for p in model.blocks.parameters()) == params
        assert measured.heads == sum(f for f, _ in head_costs.values())
        assert measured.total >= measured.blocks + measured.heads


def test_all_shared_costs_one_backbone_independent_costs_t(split) -> None:  # type: ignore[no-untyped-def]
    profile = profile_blocks(split.blocks, SIZE)
    assert _layout_cost(Layout.all_shared(3, 5), profile)[0] == profile.total_flops
    assert _layout_cost(Layout.independent(3, 5), profile) == (3 * profile.total_flops, 3 * profile.total_params)
    with pytest.raises(TreeMTLError, match="profile has 5 blocks but layouts have 4 blocks"):
        _layout_cost(Layout.all_shared(3, 4), profile)
