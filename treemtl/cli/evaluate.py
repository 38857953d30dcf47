"""``treemtl evaluate``: metrics of a trained model on the validation split."""

from __future__ import annotations

import argparse
import time

from treemtl.atomic import write_json_atomic
from treemtl.cli import add_device_arguments
from treemtl.training.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a trained model.pt on the validation split",
        description="Evaluate CHECKPOINT; --config replaces the stored config's data section (e.g. another root).",
    )
    parser.add_argument("--checkpoint", required=True, help="model.pt written by `treemtl train`")
    parser.add_argument("--out", required=True, help="metrics.json to write")
    parser.add_argument("--config", default=None, help="take the data settings from this config instead")
    add_device_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from treemtl.training.data import build_dataset
    from treemtl.training.devices import resolve_device, use_threads
    from treemtl.training.trainer import evaluate, load_trained

    use_threads(args.threads)
    device = resolve_device(args.device)
    trained = load_trained(args.checkpoint, device=str(device))
    config = trained.config
    if args.config is not None:
        config = dataclasses.replace(config, data=load_config(args.config).data)
    start = time.perf_counter()
    dataset = build_dataset(config, "val", trained.tasks)
    metrics = evaluate(trained.model, dataset, trained.tasks, trained.num_classes, device=device, config=config,
                       batch_size=config.train.batch_size, workers=config.train.workers, amp=config.train.amp)
    write_json_atomic(args.out, {
        "tasks": list(trained.tasks),
        "layout": trained.layout.format(),
        "seed": trained.seed,
        "metrics": metrics,
        "checkpoint": str(args.checkpoint),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "device": device.type,
    })
    print(f"{args.out}: " + "; ".join(f"{task}: " + ", ".join(f"{k}={v:.4g}" for k, v in values.items())
                                      for task, values in metrics.items()))
    return 0
