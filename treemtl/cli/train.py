"""``treemtl train``: train one tree-structured model and write metrics.json + model.pt."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from treemtl.cli import add_device_arguments, add_reference_argument, seed
from treemtl.training.config import load_config
from treemtl.errors import TreeMTLError
from treemtl.training.tasks import parse_tasks

if TYPE_CHECKING:
    from treemtl.core.layout import Layout


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a single-, two- or multi-task model",
        description="Train one model for TASKS with LAYOUT; resumes from OUT/resume.pt when present.",
    )
    parser.add_argument("--config", required=True, help="experiment config YAML")
    parser.add_argument("--tasks", required=True, help="comma-separated task names; task i of the layout is the i-th")
    parser.add_argument("--layout", required=True, help="layout text (e.g. 01|01|0,1|0,1|0,1) or id:N (paper id)")
    parser.add_argument("--out", required=True, help="output folder (metrics.json, model.pt, train.log)")
    parser.add_argument("--seed", type=seed, default=None, help="seed, 0..2**32-1 (default: the config's seed)")
    parser.add_argument("--iters", type=int, default=None, help="iterations (default: train.iters of the config)")
    parser.add_argument("--init", default=None, metavar="MODEL_PT",
                        help="start from this trained model.pt of the same tasks (each block copy takes the copy "
                        "holding its first task, heads by task) instead of random weights")
    add_device_arguments(parser)
    add_reference_argument(parser, "single-task metrics.json files; the validation score then is Δ against them")
    parser.set_defaults(func=run)


def resolve_layout(text: str, num_tasks: int, num_blocks: int) -> Layout:
    """Layout text or ``id:N``, checked against the number of tasks and configured blocks."""
    from treemtl.core.layout import Layout, layout_from_id

    text = text.strip()
    if text.startswith("id:"):
        try:
            layout_id = int(text[3:])
        except ValueError:
            raise TreeMTLError(f"--layout: expected id:<integer>, got {text!r}") from None
        return layout_from_id(layout_id, num_tasks, num_blocks)
    layout = Layout.parse(text)
    if layout.num_tasks != num_tasks:
        raise TreeMTLError(f"--layout {text}: it has {layout.num_tasks} tasks but --tasks lists {num_tasks}")
    if layout.num_blocks != num_blocks:
        raise TreeMTLError(f"--layout {text}: it has {layout.num_blocks} blocks but the config has backbone.blocks = {num_blocks}")
    return layout


def read_reference(paths: list[str]) -> dict[str, dict[str, float]] | None:
    """Merge the metrics of several single-task metrics.json files into one reference per task."""
    from treemtl.training.metrics_file import read_metrics

    if not paths:
        return None
    reference: dict[str, dict[str, float]] = {}
    for path in paths:
        reference.update(read_metrics(path))
    return reference


def run(args: argparse.Namespace) -> int:
    from treemtl.training.trainer import train

    config = load_config(args.config)
    tasks = parse_tasks(args.tasks, config)
    layout = resolve_layout(args.layout, len(tasks), config.backbone.blocks)
    result = train(config, tasks, layout, args.out, seed=args.seed, iters=args.iters, device=args.device,
                   threads=args.threads, reference=read_reference(args.reference), init=args.init)
    summary = result.summary
    print(f"{args.out}: {summary['iterations']} iterations, {summary['wall_time_s']:.1f} s, "
          f"{summary['images_per_s']:.0f} images/s on {summary['device']}")
    return 0
