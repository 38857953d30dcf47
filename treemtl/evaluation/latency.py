"""Inference time of recommended layouts and of the references (paper appendix K, Table 14).

Each layout's tree model is built on the config's backbone and heads and timed per batch with
:func:`treemtl.nets.latency.measure_latency`, at batch 1 and at larger batches. The backbone is
split once and every model copies its blocks, so timing many layouts costs one block detection.
Weights are random: inference time does not depend on their values, and timing needs no
pretrained file or training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from treemtl.core.layout import Layout, layout_from_id, layout_id
from treemtl.errors import TreeMTLError
from treemtl.evaluation.baselines.references import references
from treemtl.training.config import ExperimentConfig


@dataclass(frozen=True)
class LatencyTarget:
    """A layout to time and how the table names it."""

    label: str
    layout: Layout


def latency_targets(config: ExperimentConfig, layouts: Sequence[str] = (), ids: Sequence[int] = ()) -> list[LatencyTarget]:
    """The references (independent, all-shared), then each layout given by paper id or text, once."""
    tasks, blocks = len(config.tasks), config.backbone.blocks
    targets = [LatencyTarget(ref.name, ref.layout) for ref in reversed(references(tasks, blocks))]
    chosen = [layout_from_id(int(i), tasks, blocks) for i in ids]
    for text in layouts:
        layout = Layout.parse(text)
        if (layout.num_tasks, layout.num_blocks) != (tasks, blocks):
            raise TreeMTLError(f"layout {text!r}: expected {tasks} tasks and {blocks} blocks (the config's)")
        chosen.append(layout)
    seen = {target.layout for target in targets}
    for layout in chosen:
        if layout not in seen:
            seen.add(layout)
            targets.append(LatencyTarget("Recommended", layout))
    return targets


def layout_latencies(config: ExperimentConfig, targets: Sequence[LatencyTarget], num_classes: int,
                     batches: Sequence[int], device: torch.device, warmup: int = 10, repeats: int = 50) -> pd.DataFrame:
    """One row per (layout, batch): median, p10 and p90 ms per batch and the median per image."""
    from treemtl.nets.detect import split_backbone
    from treemtl.nets.latency import measure_latency
    from treemtl.nets.model import build_model
    from treemtl.training.tasks import head_channels, pooled_tasks

    untrained = dataclasses.replace(config, backbone=dataclasses.replace(config.backbone, weights=None))
    split = split_backbone(untrained.backbone)
    channels = head_channels(list(config.tasks), num_classes, config)
    pooled = pooled_tasks(list(config.tasks), config)
    size = tuple(config.backbone.input_size)
    rows = []
    for target in targets:
        model = build_model(untrained, channels, target.layout, pooled, split=split)
        for batch in batches:
            result = measure_latency(model, size, batch, device, warmup, repeats)
            rows.append({"model": target.label, "id": layout_id(target.layout), "layout": target.layout.format(),
                         "device": device.type, "batch": batch, "median_ms": result.median_ms,
                         "p10_ms": result.p10_ms, "p90_ms": result.p90_ms, "per_image_ms": result.per_image_ms,
                         "runs": result.runs, "warmup": warmup})
        del model
    return pd.DataFrame(rows)
