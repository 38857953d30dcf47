"""Inference time of a network (paper appendix K, Table 14): warm-up, then the median of repeated
timed forward passes.

A forward pass is timed end to end with ``time.perf_counter`` under ``torch.inference_mode``; on
CUDA the device is synchronised before and after each pass, so the time is the kernels' and not
just their launch. The first passes are discarded (allocator warm-up, cuDNN algorithm choice).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from treemtl.errors import TreeMTLError


@dataclass(frozen=True)
class Latency:
    """Milliseconds per forward pass of a batch: median and the 10th/90th percentiles of the runs."""

    batch: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    runs: int

    @property
    def per_image_ms(self) -> float:
        return self.median_ms / self.batch


def measure_latency(model: nn.Module, input_size: Sequence[int], batch: int, device: torch.device,
                    warmup: int = 10, repeats: int = 50) -> Latency:
    """Time ``model`` on random inputs of ``[batch, *input_size]`` on ``device`` (eval mode)."""
    if batch < 1 or repeats < 1 or warmup < 0:
        raise TreeMTLError(f"latency: expected batch >= 1, repeats >= 1, warmup >= 0, got {batch}, {repeats}, {warmup}")
    model = model.to(device).eval()
    inputs = torch.randn(batch, *input_size, device=device)
    cuda = device.type == "cuda"
    times: list[float] = []
    with torch.inference_mode():
        for run in range(warmup + repeats):
            if cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(inputs)
            if cuda:
                torch.cuda.synchronize(device)
            if run >= warmup:
                times.append((time.perf_counter() - start) * 1000.0)
    ordered = sorted(times)
    return Latency(batch=batch, median_ms=statistics.median(ordered), p10_ms=_quantile(ordered, 0.1),
                   p90_ms=_quantile(ordered, 0.9), runs=repeats)


def _quantile(ordered: Sequence[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
