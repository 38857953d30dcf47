"""Task-specific heads: the paper's ASPP head and a light head for dense tasks, and a pooled head
for image-level tasks (classification, image regression)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from treemtl.errors import TreeMTLError
from treemtl.nets.layers import conv_bn_relu

HEAD_KINDS: tuple[str, ...] = ("light", "aspp")


class ASPPHead(nn.Module):
    """DeepLab v2 atrous spatial pyramid pooling head (as used by AdaShare and the paper).

    Parallel 3x3 convolutions with dilation rates 6, 12, 18, 24 see context at several scales
    of the output-stride-8 features; each branch is conv-ReLU-dropout-1x1-ReLU-dropout-1x1 and the
    branch predictions are summed.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        rates: Sequence[int] = (6, 12, 18, 24),
        hidden: int = 1024,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_channels, hidden, 3, padding=rate, dilation=rate),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Conv2d(hidden, hidden, 1),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Conv2d(hidden, out_channels, 1),
            )
            for rate in rates
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.branches[0](x)
        for branch in self.branches[1:]:
            out = out + branch(x)
        return out


class LightHead(nn.Module):
    """3x3 conv-BN-ReLU then a 1x1 classifier: cheap enough for CPU training on synthetic data."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 32) -> None:
        super().__init__()
        self.body = conv_bn_relu(in_channels, hidden)
        self.classifier = nn.Conv2d(hidden, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.body(x))


class PooledHead(nn.Module):
    """3x3 conv-BN-ReLU, global average pooling, then a linear layer: one prediction per image.

    The convolution lets the task re-weight the shared features before they are averaged away;
    the output is [B, out_channels] (logits of a classification, or a value).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(*conv_bn_relu(in_channels, hidden), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(hidden, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.body(x))


def build_head(kind: str, in_channels: int, out_channels: int, pooled: bool = False) -> nn.Module:
    """A head mapping backbone features to task outputs: a :class:`PooledHead` for an image-level
    task (``pooled``), else a dense head of ``kind`` (``light`` or ``aspp``)."""
    if in_channels < 1 or out_channels < 1:
        raise TreeMTLError(f"head: channels must be positive, got in={in_channels}, out={out_channels}")
    if kind not in HEAD_KINDS:
        raise TreeMTLError(f"head: unknown kind {kind!r}; expected one of {', '.join(HEAD_KINDS)}")
    if pooled:
        return PooledHead(in_channels, out_channels)
    if kind == "light":
        return LightHead(in_channels, out_channels)
    if kind == "aspp":
        return ASPPHead(in_channels, out_channels)
    raise TreeMTLError(f"head: unknown kind {kind!r}; expected one of {', '.join(HEAD_KINDS)}")
