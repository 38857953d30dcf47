"""MobileNetV2's five blocks as the paper's authors fixed them, checked against the cost columns of
Tables 8, 9, 12 and 13 (FLOPs and #Params in % against independent models)."""

from __future__ import annotations

import numpy as np
import pytest

from treemtl.core.layout import layout_from_id
from treemtl.nets.backbones import build_backbone
from treemtl.nets.detect import BackboneSplit, split_model

# (layout id, FLOPs %, #Params %) as printed; Table 12's Top-1 is #0 of Table 8, Table 13's is #3221.
TABLE8_NYUV2 = [(0, -66.67, -66.67), (7, -33.16, -33.41), (11, -30.83, -27.12), (10, -22.89, -8.24), (9, -16.35, -3.60)]
TABLE9_TASKONOMY = [(3221, -53.99, -44.86), (3220, -52.73, -41.17), (2947, -60.26, -60.05), (3215, -53.99, -44.86),
                    (3261, -59.01, -56.27)]


@pytest.fixture(scope="module")
def splits() -> dict[tuple[str, int], BackboneSplit]:
    return {(name, size): split_model(build_backbone(name), (3, size, size), 5, name=name)
            for name in ("mobilenet_v2_paper", "mobilenet_v2") for size in (224, 321)}


def _relative(split: BackboneSplit, layout_id: int, tasks: int) -> tuple[float, float]:
    copies = np.array(layout_from_id(layout_id, tasks, 5).copies())
    flops = np.array(split.flops, float) / sum(split.flops)
    params = np.array(split.params, float) / sum(split.params)
    return float((copies @ flops / tasks - 1) * 100), float((copies @ params / tasks - 1) * 100)


def test_blocks_are_the_authors_groups_of_inverted_residual_blocks(splits: dict) -> None:
    split = splits[("mobilenet_v2_paper", 224)]
    assert split.groups == [list(range(0, 7)), list(range(7, 18)), list(range(18, 23)), list(range(23, 31)), [31]]
    first_modules = [split.fine_blocks[group[0]].modules[0] for group in split.groups]
    assert first_modules == ["features.0.0", "features.4.conv.0.0", "features.11.conv.0.0",
                             "features.14.conv.0.0", "features.18.0"]
    flops = np.array(split.flops) / sum(split.flops)
    params = np.array(split.params) / sum(split.params)
    assert flops == pytest.approx([0.2651, 0.2551, 0.1899, 0.2253, 0.0646], abs=5e-4)
    assert params == pytest.approx([0.0071, 0.1005, 0.1363, 0.5707, 0.1853], abs=5e-4)


@pytest.mark.parametrize(("rows", "tasks", "size"), [(TABLE8_NYUV2, 3, 321), (TABLE9_TASKONOMY, 5, 224)],
                         ids=["table8_nyuv2", "table9_taskonomy"])
def test_table_costs_follow_from_the_preset(splits: dict, rows: list, tasks: int, size: int) -> None:
    for layout_id, flops_pct, params_pct in rows:
        flops, params = _relative(splits[("mobilenet_v2_paper", size)], layout_id, tasks)
        assert flops == pytest.approx(flops_pct, abs=0.35), layout_id
        assert params == pytest.approx(params_pct, abs=0.15), layout_id


def test_flops_balancing_alone_does_not_give_the_tables(splits: dict) -> None:
    worst = max(abs(_relative(splits[("mobilenet_v2", 321)], layout_id, 3)[1] - params_pct)
                for layout_id, _, params_pct in TABLE8_NYUV2)
    assert worst > 5.0
