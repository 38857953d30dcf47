"""``treemtl detect``: split a backbone into its branching points and write ``blocks.json``."""

from __future__ import annotations

import argparse
from pathlib import Path

from treemtl.atomic import write_json_atomic
from treemtl.cli import comma_ints
from treemtl.errors import TreeMTLError
from treemtl.training.config import BackboneConfig, ExperimentConfig, load_config
from treemtl.training.registry import PAPER_TASKS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("detect", help="detect the branching points (blocks) of a backbone")
    parser.add_argument("--config", help="experiment config; its backbone, head and tasks are the defaults")
    parser.add_argument("--backbone", help="small_cnn | deeplab_resnet34 | mobilenet_v2 | mobilenet_v2_paper | "
                        "torchvision:<name> | module:callable")
    parser.add_argument("--input-size", help="C,H,W used for detection and FLOPs (default 3,64,64)")
    parser.add_argument("--blocks", type=int, help="number of coarse blocks B (default 5)")
    parser.add_argument("--add-branch-points", nargs="*", default=None, help="fine-block indices to force a boundary after")
    parser.add_argument("--remove-branch-points", nargs="*", default=None, help="coarse boundaries (1..B-1) to remove")
    parser.add_argument("--weights", help="local backbone checkpoint (state_dict), or imagenet (torchvision's cached file)")
    parser.add_argument("--head", help="head kind whose cost is reported (light | aspp)")
    parser.add_argument("--tasks", help="comma-separated tasks whose head cost is reported")
    parser.add_argument("--num-classes", type=int, default=13, help="segmentation classes for the head cost (default 13)")
    parser.add_argument("--out", help="blocks.json to write (default: print a summary only)")
    parser.set_defaults(func=run)


def _backbone(args: argparse.Namespace) -> tuple[BackboneConfig, str, tuple[str, ...], ExperimentConfig | None]:
    name, size, blocks, add, remove, weights = "small_cnn", (3, 64, 64), 5, (), (), None
    head, tasks = "light", PAPER_TASKS
    config = None
    if args.config:
        config = load_config(args.config)
        b = config.backbone
        name, size, blocks = b.name, tuple(b.input_size), b.blocks
        add, remove, weights = tuple(b.add_branch_points), tuple(b.remove_branch_points), b.weights
        head, tasks = config.head, tuple(config.tasks)
    if args.backbone:
        name = args.backbone
    if args.input_size:
        size = tuple(comma_ints(args.input_size, "--input-size"))
        if len(size) != 3:
            raise TreeMTLError(f"--input-size: expected C,H,W, got {args.input_size!r}")
    if args.blocks is not None:
        blocks = args.blocks
    if args.add_branch_points is not None:
        add = tuple(comma_ints(",".join(args.add_branch_points), "--add-branch-points"))
    if args.remove_branch_points is not None:
        remove = tuple(comma_ints(",".join(args.remove_branch_points), "--remove-branch-points"))
    if args.weights:
        weights = args.weights
    if args.head:
        head = args.head
    if args.tasks:
        tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    return BackboneConfig(name, size, blocks, add, remove, weights), head, tasks, config


def run(args: argparse.Namespace) -> int:
    from treemtl.nets.detect import split_backbone
    from treemtl.nets.model import build_heads
    from treemtl.nets.profiling import profile_heads
    from treemtl.training.tasks import head_channels, pooled_tasks

    backbone, head, tasks, config = _backbone(args)
    split = split_backbone(backbone)
    heads = build_heads(head, split.out_channels, head_channels(tasks, args.num_classes, config), pooled_tasks(tasks, config))
    costs = profile_heads(heads, split.output_shapes[-1])
    document = split.to_json(
        head_flops={task: flops for task, (flops, _) in costs.items()},
        head_params={task: params for task, (_, params) in costs.items()},
    )
    document["head"] = head
    total = sum(split.flops)
    print(f"backbone {split.name}: {len(split.fine_blocks)} fine blocks -> {split.num_blocks} coarse blocks")
    for index, (group, flops, params, shape) in enumerate(zip(split.groups, split.flops, split.params, split.output_shapes)):
        print(
            f"  block {index}: fine {group[0]}..{group[-1]}  flops {flops} ({flops / max(total, 1):.4f})"
            f"  params {params}  output {list(shape)}"
        )
    if args.out:
        write_json_atomic(Path(args.out), document)
        print(f"wrote {args.out}")
    return 0
