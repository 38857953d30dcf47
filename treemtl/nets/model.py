"""Tree-structured multi-task network built from backbone blocks and a layout (paper appendix I).

Block b is instantiated once per task group of L_b; a group's input is the output of the group
of L_(b-1) that contains its tasks, so shared computation runs once per input and every task's
path through the tree is an ordinary copy of the backbone. Single-task, two-task, all-shared and
independent models are all just layouts.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from treemtl.errors import TreeMTLError
from treemtl.nets.heads import build_head
from treemtl.core.layout import Layout

Group = tuple[int, ...]


def group_key(group: Sequence[int]) -> str:
    """Module name of a block copy, e.g. ``group_0_1`` for the copy shared by tasks 0 and 1."""
    return "group_" + "_".join(str(t) for t in group)


def _group_of(partition: Sequence[Group], task: int) -> Group:
    return next(group for group in partition if task in group)


class TreeMTLModel(nn.Module):
    """A multi-task model whose blocks are shared by the task groups of a :class:`Layout`."""

    def __init__(self, blocks: Sequence[nn.Module], layout: Layout, heads: Mapping[str, nn.Module]) -> None:
        super().__init__()
        if len(blocks) != layout.num_blocks:
            raise TreeMTLError(f"layout {layout.format()} has {layout.num_blocks} blocks, the backbone {len(blocks)}")
        if len(heads) != layout.num_tasks:
            raise TreeMTLError(f"layout {layout.format()} has {layout.num_tasks} tasks, got {len(heads)} heads")
        self.layout = layout
        self.tasks: tuple[str, ...] = tuple(heads)
        self.blocks = nn.ModuleList(
            nn.ModuleDict({group_key(group): copy.deepcopy(block) for group in partition})
            for block, partition in zip(blocks, layout.blocks)
        )
        self.heads = nn.ModuleDict(dict(heads))
        # For each block, (copy, parent copy in the previous block); block 0 reads the input.
        self._routes: list[list[tuple[str, str | None]]] = [
            [
                (group_key(group), None if b == 0 else group_key(_group_of(layout.blocks[b - 1], group[0])))
                for group in partition
            ]
            for b, partition in enumerate(layout.blocks)
        ]
        self._task_sources = [group_key(_group_of(layout.blocks[-1], t)) for t in range(layout.num_tasks)]

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Run every block copy once, route outputs to child groups; dense predictions at input
        size ([B,C,H,W]), pooled ones per image ([B,C])."""
        size = x.shape[-2:]
        previous: dict[str | None, Tensor] = {None: x}
        for copies, routes in zip(self.blocks, self._routes):
            current: dict[str | None, Tensor] = {}
            for key, parent in routes:
                current[key] = copies[key](previous[parent])
            previous = current
        outputs: dict[str, Tensor] = {}
        for task, source in zip(self.tasks, self._task_sources):
            prediction = self.heads[task](previous[source])
            if prediction.dim() == 4 and prediction.shape[-2:] != size:
                prediction = F.interpolate(prediction, size=size, mode="bilinear", align_corners=False)
            outputs[task] = prediction
        return outputs

    def init_from(
        self,
        source: nn.Module | Mapping[str, Any],
        source_layout: Layout,
        task_map: Mapping[int, int] | None = None,
        heads: bool = True,
    ) -> list[str]:
        """Initialize block copies (and heads) from another tree model's weights.

        Each copy takes the weights of the source copy, at the same block, whose group holds the
        copy's first task (mapped by ``task_map``; a single-task source serves every task). So a
        single-task or all-shared checkpoint warm-starts any tree. Heads are copied by task name
        when the source has them. Returns the names of the parameters/buffers initialized.
        """
        state = source.state_dict() if isinstance(source, nn.Module) else source
        if isinstance(state.get("state_dict"), Mapping):
            state = state["state_dict"]
        if source_layout.num_blocks != self.layout.num_blocks:
            raise TreeMTLError(
                f"init_from: source layout {source_layout.format()} has {source_layout.num_blocks} blocks, "
                f"this model {self.layout.num_blocks}"
            )
        if task_map is None:
            task_map = {t: (0 if source_layout.num_tasks == 1 else t) for t in range(self.layout.num_tasks)}
        own = self.state_dict()
        updates: dict[str, Any] = {}
        for b, partition in enumerate(self.layout.blocks):
            for group in partition:
                source_task = task_map.get(group[0], group[0])
                if source_task >= source_layout.num_tasks:
                    raise TreeMTLError(f"init_from: task {source_task} is not in source layout {source_layout.format()}")
                source_prefix = f"blocks.{b}.{group_key(_group_of(source_layout.blocks[b], source_task))}."
                prefix = f"blocks.{b}.{group_key(group)}."
                for name in own:
                    if name.startswith(prefix):
                        updates[name] = _take(state, source_prefix + name[len(prefix) :], own[name])
        if heads:
            for task in self.tasks:
                prefix = f"heads.{task}."
                names = [name for name in own if name.startswith(prefix)]
                if names and all(name in state for name in names):
                    for name in names:
                        updates[name] = _take(state, name, own[name])
        own.update(updates)
        self.load_state_dict(own)
        return sorted(updates)


def _take(state: Mapping[str, Any], name: str, like: Tensor) -> Tensor:
    if name not in state:
        raise TreeMTLError(f"init_from: source has no entry {name!r}")
    value = state[name]
    if tuple(value.shape) != tuple(like.shape):
        raise TreeMTLError(f"init_from: {name!r} has shape {tuple(value.shape)}, expected {tuple(like.shape)}")
    return value


def build_heads(kind: str, in_channels: int, out_channels: Mapping[str, int],
                pooled: Collection[str] = ()) -> dict[str, nn.Module]:
    """One head per task of ``out_channels`` (task -> head output channels), in its order; the
    tasks in ``pooled`` predict per image (pooled head), the others per pixel (``kind``)."""
    return {task: build_head(kind, in_channels, channels, task in pooled) for task, channels in out_channels.items()}


def build_model(config: Any, out_channels: Mapping[str, int], layout: Layout,
                pooled: Collection[str] = (), split: Any = None) -> TreeMTLModel:
    """The tree model of ``layout`` on the configured backbone and head kind, with one head per
    task of ``out_channels`` (task -> output channels, in layout task order) and pooled heads for
    the tasks in ``pooled`` (the training side knows the channels and head of each task).

    ``split`` (a :class:`~treemtl.nets.detect.BackboneSplit` of the configured backbone) saves
    splitting it again when many layouts are built on one backbone; its blocks are copied per layout.
    """
    from treemtl.nets.detect import split_backbone

    tasks = list(out_channels)
    if len(tasks) != layout.num_tasks:
        raise TreeMTLError(f"layout {layout.format()} has {layout.num_tasks} tasks, got {len(tasks)}: {', '.join(tasks)}")
    split = split_backbone(config.backbone) if split is None else split
    if split.num_blocks != layout.num_blocks:
        raise TreeMTLError(
            f"layout {layout.format()} has {layout.num_blocks} blocks, backbone {split.name} was split into {split.num_blocks}"
        )
    return TreeMTLModel(split.blocks, layout, build_heads(config.head, split.out_channels, out_channels, pooled))
