"""``treemtl data``: generate the synthetic benchmark and draw contact sheets of it."""

from __future__ import annotations

import argparse
import sys

from treemtl.cli import seed
from treemtl.errors import TreeMTLError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="generate or inspect datasets")
    commands = parser.add_subparsers(dest="data_command", required=True)

    synth = commands.add_parser("synth", help="render the synthetic indoor-scene dataset (train and val splits)")
    synth.add_argument("--out", required=True, help="output folder (manifest.json + .npz shards + contact_sheet.png)")
    synth.add_argument("--n", type=int, default=1200, help="train images (default 1200)")
    synth.add_argument("--n-val", type=int, default=300, help="val images (default 300)")
    synth.add_argument("--size", type=int, default=64, help="image height = width in pixels (default 64)")
    synth.add_argument("--seed", type=seed, default=0, help="seed (0..2**32-1); train and val use different streams of it")
    synth.add_argument("--tasks", default=None, help="comma-separated targets to store (default: all five)")
    synth.add_argument("--workers", type=int, default=None, help="processes (default: available CPU cores)")
    synth.add_argument("--no-sheet", action="store_true", help="skip the contact sheet")
    synth.set_defaults(func=run)

    sheet = commands.add_parser("sheet", help="draw a contact sheet of a synthetic dataset")
    sheet.add_argument("--data", required=True, help="dataset folder (with manifest.json)")
    sheet.add_argument("--out", required=True, help="image file to write, e.g. contact_sheet.png")
    sheet.add_argument("--split", default="train", choices=("train", "val"))
    sheet.add_argument("--count", type=int, default=6, help="number of samples (rows)")
    sheet.set_defaults(func=run)

    check = commands.add_parser(
        "check", help="check that the configured dataset opens for the given tasks and record what was found"
    )
    check.add_argument("--config", required=True, help="experiment config (YAML)")
    check.add_argument("--tasks", default=None, help="comma-separated tasks (default: the config's)")
    check.add_argument("--out", required=True, help="JSON file to write: dataset, root, sizes, classes")
    check.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.data_command == "synth":
        from treemtl.training.data.synthetic import SynthSpec, write_dataset
        from treemtl.training.registry import dataset

        tasks = dataset("synthetic").tasks if args.tasks is None else tuple(t.strip() for t in args.tasks.split(",") if t.strip())
        spec = SynthSpec(n_train=args.n, n_val=args.n_val, size=args.size, seed=args.seed, tasks=tasks)
        write_dataset(
            args.out,
            spec,
            workers=args.workers,
            progress=lambda line: print(line, file=sys.stderr),
            contact_sheet=not args.no_sheet,
        )
        return 0
    if args.data_command == "sheet":
        from treemtl.training.data.sheet import save_contact_sheet

        if args.count < 1:
            raise TreeMTLError(f"--count must be at least 1, got {args.count}")
        save_contact_sheet(args.data, args.out, split=args.split, count=args.count)
        return 0
    if args.data_command == "check":
        return _check(args)
    raise TreeMTLError(f"unknown data command {args.data_command!r}")


def _check(args: argparse.Namespace) -> int:
    """Open both splits and read their first item, so a wrong path or format fails before training."""
    from treemtl.atomic import write_json_atomic
    from treemtl.training.config import load_config
    from treemtl.training.data import SPLITS, build_dataset
    from treemtl.training.tasks import parse_tasks

    config = load_config(args.config)
    tasks = list(config.tasks) if args.tasks is None else list(parse_tasks(args.tasks))
    found: dict[str, object] = {"dataset": config.data.dataset, "root": config.data.root, "tasks": tasks}
    for split in SPLITS:
        dataset = build_dataset(config, split, tasks)
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise TreeMTLError(f"data.root: the {split} split of {config.data.root} holds no samples")
        first = dataset[0]
        missing = [task for task in tasks if task not in first]
        if missing:
            raise TreeMTLError(f"data.root: the {split} split of {config.data.root} has no targets for {', '.join(missing)}")
        found[split] = {"size": len(dataset), "image_shape": list(first["image"].shape)}  # type: ignore[arg-type]
        found["num_classes"] = int(dataset.num_classes)  # type: ignore[attr-defined]
    write_json_atomic(args.out, found)
    print(f"{config.data.dataset} at {config.data.root}: train {found['train']}, val {found['val']}", file=sys.stderr)
    return 0
