"""Task-specific heads: the paper's ASPP head and a light head for the synthetic benchmark."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from treemtl.errors import TreeMTLError

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
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Conv2d(hidden, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.body(x))


def build_head(kind: str, in_channels: int, out_channels: int) -> nn.Module:
    """A head of ``kind`` (``light`` or ``aspp``) mapping backbone features to task outputs."""
    if in_channels < 1 or out_channels < 1:
        raise TreeMTLError(f"head: channels must be positive, got in={in_channels}, out={out_channels}")
    if kind == "light":
        return LightHead(in_channels, out_channels)
    if kind == "aspp":
        return ASPPHead(in_channels, out_channels)
    raise TreeMTLError(f"head: unknown kind {kind!r}; expected one of {', '.join(HEAD_KINDS)}")
