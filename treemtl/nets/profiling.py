"""FLOPs and parameter counts of blocks, heads and whole models, measured with fvcore.

fvcore counts one fused multiply-add as one FLOP, like the paper's tables. Its warnings about
operators it does not count (ReLU, pooling, ...) are expected for CNNs and silenced here.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn


with warnings.catch_warnings():  # fvcore's import scripts a helper with the deprecated torch.jit.script
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import FlopCountAnalysis


def _analysis(module: nn.Module, inputs: Tensor) -> FlopCountAnalysis:
    analysis = FlopCountAnalysis(module, (inputs,))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return analysis


def _quietly(module: nn.Module, inputs: Tensor) -> FlopCountAnalysis:
    """Run the analysis in eval mode without fvcore's and the JIT tracer's noise."""
    analysis = _analysis(module, inputs)
    was_training = module.training
    module.eval()
    logger = logging.getLogger("fvcore")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            analysis.total()
    finally:
        logger.setLevel(level)
        module.train(was_training)
    return analysis


def count_flops(module: nn.Module, inputs: Tensor) -> int:
    """fvcore FLOPs of one forward pass of ``module`` on ``inputs``."""
    return int(_quietly(module, inputs).total())


def flops_by_module(module: nn.Module, inputs: Tensor) -> dict[str, int]:
    """fvcore FLOPs per submodule name ('' = the whole module)."""
    return {name: int(value) for name, value in _quietly(module, inputs).by_module().items()}


def count_params(module: nn.Module) -> int:
    """Number of parameters (shared tensors counted once)."""
    return sum(p.numel() for p in module.parameters())


@dataclass(frozen=True)
class BlockProfile:
    """Cost of each of a backbone's sequential blocks at one input size."""

    flops: tuple[int, ...]
    params: tuple[int, ...]
    output_shapes: tuple[tuple[int, ...], ...]

    @property
    def total_flops(self) -> int:
        return sum(self.flops)

    @property
    def total_params(self) -> int:
        return sum(self.params)


def profile_blocks(blocks: Sequence[nn.Module], input_size: Sequence[int]) -> BlockProfile:
    """Profile blocks run one after another on a batch of one ``input_size`` (C, H, W) image."""
    x = torch.zeros(1, *input_size)
    flops: list[int] = []
    params: list[int] = []
    shapes: list[tuple[int, ...]] = []
    for block in blocks:
        flops.append(count_flops(block, x))
        params.append(count_params(block))
        was_training = block.training
        block.eval()
        with torch.no_grad():
            x = block(x)
        block.train(was_training)
        shapes.append(tuple(x.shape[1:]))
    return BlockProfile(tuple(flops), tuple(params), tuple(shapes))


def profile_heads(heads: Mapping[str, nn.Module], feature_shape: Sequence[int]) -> dict[str, tuple[int, int]]:
    """(FLOPs, params) of each head on one feature map of ``feature_shape`` (C, H, W)."""
    x = torch.zeros(1, *feature_shape)
    return {name: (count_flops(head, x), count_params(head)) for name, head in heads.items()}


def model_flops(model: nn.Module, input_size: Sequence[int]) -> int:
    """fvcore FLOPs of a whole model on one ``input_size`` (C, H, W) image."""
    return count_flops(model, torch.zeros(1, *input_size))


@dataclass(frozen=True)
class TreeModelFlops:
    """fvcore FLOPs of a built tree model, split into its shared/specific blocks and its heads."""

    blocks: int
    heads: int
    total: int


def tree_model_flops(model: nn.Module, input_size: Sequence[int]) -> TreeModelFlops:
    """FLOPs of a :class:`treemtl.nets.model.TreeMTLModel` (the rest of ``total`` is output upsampling)."""
    by_module = flops_by_module(model, torch.zeros(1, *input_size))
    return TreeModelFlops(blocks=by_module.get("blocks", 0), heads=by_module.get("heads", 0), total=by_module[""])
