"""Model-side figures: detection time, all-shared FLOPs (one backbone + T heads), CPU training throughput."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import torch

from treemtl.nets.backbones import build_backbone
from treemtl.nets.detect import detect_blocks, split_backbone
from treemtl.core.layout import Layout
from treemtl.nets.model import TreeMTLModel, build_heads
from treemtl.nets.profiling import model_flops, profile_blocks, profile_heads, tree_model_flops
from treemtl.training.registry import task_names
from treemtl.training.tasks import head_channels

TASKS5 = task_names()[:5]


def _backbone(name: str, size: int) -> SimpleNamespace:
    return SimpleNamespace(name=name, input_size=(3, size, size), blocks=5, add_branch_points=(), remove_branch_points=(), weights=None)


def bench_detection() -> None:
    model = build_backbone("deeplab_resnet34").eval()
    example = torch.zeros(1, 3, 321, 321)
    start = time.perf_counter()
    blocks = detect_blocks(model, example)
    detect_s = time.perf_counter() - start
    start = time.perf_counter()
    split = split_backbone(_backbone("deeplab_resnet34", 321))
    split_s = time.perf_counter() - start
    total = sum(split.flops)
    print(f"deeplab_resnet34 321x321: detection (fine blocks) {detect_s:.2f} s, {len(blocks)} fine blocks")
    print(f"deeplab_resnet34 321x321: split_backbone incl. fvcore per block {split_s:.2f} s")
    print("deeplab_resnet34 coarse FLOPs fractions: " + ", ".join(f"{f / total:.4f}" for f in split.flops))


def bench_shared_flops(num_tasks: int = 3) -> None:
    split = split_backbone(_backbone("deeplab_resnet34", 321))
    tasks = TASKS5[:num_tasks]
    heads = build_heads("aspp", split.out_channels, head_channels(tasks, 13))
    model = TreeMTLModel(split.blocks, Layout.all_shared(num_tasks, 5), heads)
    measured = tree_model_flops(model, split.input_size)
    backbone = model_flops(build_backbone("deeplab_resnet34"), split.input_size)
    head_flops = sum(f for f, _ in profile_heads(heads, split.output_shapes[-1]).values())
    print(f"all-shared {num_tasks}-task deeplab_resnet34+ASPP fvcore FLOPs: {measured.total / 1e9:.2f} G total, "
          f"blocks {measured.blocks / 1e9:.2f} G, heads {measured.heads / 1e9:.2f} G")
    print(f"  one backbone {backbone / 1e9:.2f} G + {num_tasks} heads {head_flops / 1e9:.2f} G = {(backbone + head_flops) / 1e9:.2f} G"
          f"  (vs {num_tasks} backbones + heads {(num_tasks * backbone + head_flops) / 1e9:.2f} G)")


def bench_throughput(layout: Layout, label: str, batch: int = 32, steps: int = 10) -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    split = split_backbone(_backbone("small_cnn", 64))
    model = TreeMTLModel(split.blocks, layout, build_heads("light", split.out_channels, head_channels(TASKS5, 8))).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, 64, 64)
    profile = profile_blocks(split.blocks, split.input_size)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        out = model(x)
        loss = sum(prediction.square().mean() for prediction in out.values())
        loss.backward()  # type: ignore[union-attr]
        optimizer.step()

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    elapsed = time.perf_counter() - start
    print(f"small_cnn 5-task {label} ({layout.format()}): {steps * batch / elapsed:.0f} images/s "
          f"(2 threads, batch {batch}, 64x64, fwd+bwd+step; backbone {profile.total_flops / 1e6:.1f} MFLOPs, "
          f"{profile.total_params / 1e6:.3f} M params)")


def main() -> None:
    torch.set_num_threads(2)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, 1-min load average {load:.1f} (throughput figures scale down under load)")
    bench_detection()
    bench_shared_flops()
    bench_throughput(Layout.all_shared(5, 5), "all-shared")
    bench_throughput(Layout.independent(5, 5), "independent")


if __name__ == "__main__":
    main()
