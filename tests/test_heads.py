"""Heads: output shapes, the ASPP structure of the paper, errors."""

from __future__ import annotations

import pytest
import torch

from treemtl.errors import TreeMTLError
from treemtl.nets.heads import ASPPHead, build_head


@pytest.mark.parametrize("kind", ["light", "aspp"])
def test_heads_keep_resolution_and_set_channels(kind: str) -> None:
    head = build_head(kind, 16, 7).eval()
    with torch.no_grad():
        assert head(torch.randn(2, 16, 9, 9)).shape == (2, 7, 9, 9)


def test_aspp_has_four_dilated_branches_summed() -> None:
    head = build_head("aspp", 8, 3)
    assert isinstance(head, ASPPHead)
    assert [branch[0].dilation[0] for branch in head.branches] == [6, 12, 18, 24]
    head.eval()
    x = torch.randn(1, 8, 5, 5)
    with torch.no_grad():
        expected = sum(branch(x) for branch in head.branches)
        assert torch.allclose(head(x), expected)


def test_unknown_head_and_bad_channels() -> None:
    with pytest.raises(TreeMTLError, match="unknown kind"):
        build_head("fancy", 8, 3)
    with pytest.raises(TreeMTLError, match="positive"):
        build_head("light", 8, 0)
