"""Where training and evaluation run: device choice, CPU threads and mixed precision."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor

from treemtl.errors import TreeMTLError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> the first visible CUDA device if any (honours CUDA_VISIBLE_DEVICES), else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TreeMTLError(f"--device {name}: no CUDA device is available")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise TreeMTLError(f"--device: expected auto, cpu or cuda, got {name!r}")


def available_cpus() -> int:
    """CPUs this process may run on (respects taskset/cpusets, unlike ``os.cpu_count``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def use_threads(threads: int | None) -> int:
    """Set torch's CPU threads: ``threads``, or every CPU this process may run on when None.

    A job's thread count is what the scheduler granted it (``--threads {threads}`` in the rules),
    so jobs that run side by side do not oversubscribe the cores.
    """
    if threads is not None and threads < 1:
        raise TreeMTLError(f"--threads: expected a positive integer, got {threads}")
    count = threads if threads is not None else available_cpus()
    torch.set_num_threads(count)
    return count


def autocast_context(device: torch.device, amp: str) -> AbstractContextManager[Any]:
    """bf16 autocast on CUDA when ``amp`` is ``auto``.

    bf16 has float32's exponent range, so gradients need no loss scaling: there is no GradScaler
    and hence no scaler state to checkpoint.
    """
    if amp == "auto" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def to_device(batch: Mapping[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    """Move every tensor of a batch to ``device`` (asynchronously from pinned memory)."""
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}


def peak_gpu_memory_mib(device: torch.device) -> float | None:
    """Largest GPU memory held by tensors since the process started (None off the GPU): the
    figure that says whether a job fits a smaller card."""
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
