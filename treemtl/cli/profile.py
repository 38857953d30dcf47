"""``treemtl profile latency``: inference time of layouts' models (paper appendix K, Table 14)."""

from __future__ import annotations

import argparse

from treemtl.cli import add_device_arguments, comma_ints, read_ids
from treemtl.errors import TreeMTLError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("profile", help="measure the models of layouts (inference time)")
    commands = parser.add_subparsers(dest="profile_command", required=True, parser_class=type(parser))
    latency = commands.add_parser(
        "latency",
        help="inference time of the independent, all-shared and given layouts (Table 14)",
        description="Times each model per batch (warm-up, then the median of repeated runs) at every --batch-sizes "
                    "entry; the independent and all-shared layouts are always included.",
    )
    latency.add_argument("--config", required=True, help="experiment config YAML (tasks, backbone, head, input size)")
    latency.add_argument("--ids", default="", help="comma-separated paper layout ids to time")
    latency.add_argument("--layouts", nargs="*", default=[], help="layouts in text form (e.g. '012|012|0,12|0,1,2|0,1,2')")
    latency.add_argument("--recommended", nargs="*", default=[], help="recommend/budget<x>.csv files: time their layouts")
    latency.add_argument("--batch-sizes", default="1,8", help="comma-separated batch sizes (default 1,8)")
    latency.add_argument("--warmup", type=int, default=10, help="untimed passes first (default 10)")
    latency.add_argument("--repeats", type=int, default=50, help="timed passes (default 50)")
    latency.add_argument("--num-classes", type=int, default=None,
                         help="segmentation classes of the heads (default: read from the config's val split)")
    add_device_arguments(latency)
    latency.add_argument("--out", default=None, help="CSV to write (default: print only)")
    latency.set_defaults(func=run_latency)


def run_latency(args: argparse.Namespace) -> int:
    from treemtl.evaluation.latency import latency_targets, layout_latencies
    from treemtl.evaluation.report.tables import to_markdown, write_csv
    from treemtl.training.config import load_config
    from treemtl.training.devices import resolve_device, use_threads

    config = load_config(args.config)
    batches = comma_ints(args.batch_sizes, "--batch-sizes", minimum=1)
    if not batches:
        raise TreeMTLError(f"--batch-sizes: expected positive integers, got {args.batch_sizes!r}")
    use_threads(args.threads)
    num_classes = args.num_classes
    if num_classes is None:
        from treemtl.training.data import build_dataset

        num_classes = int(getattr(build_dataset(config, "val", list(config.tasks)), "num_classes", 0))
    targets = latency_targets(config, args.layouts, [*comma_ints(args.ids, "--ids", minimum=0), *(i for path in args.recommended for i in read_ids(path, "recommendations"))])
    frame = layout_latencies(config, targets, num_classes, batches, resolve_device(args.device),
                             warmup=args.warmup, repeats=args.repeats)
    if args.out:
        write_csv(frame, args.out)
    formats = {c: "{:.2f}" for c in ("median_ms", "p10_ms", "p90_ms", "per_image_ms")}
    print(to_markdown(frame.drop(columns=["runs", "warmup"]), formats))
    return 0
