"""``treemtl data``: generate the synthetic benchmark, draw contact sheets of it, check a
configured dataset (every file of a folder dataset) before any training, and write format samples
of the real datasets."""

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
    synth.add_argument("--tasks", default=None, help="comma-separated targets to store (default: every task of the renderer)")
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
        "check", help="check that the configured dataset opens for the given tasks and record what was found",
        description="A folder dataset is read completely (every image and label; the first "
        "20 problems are listed, all are counted); every file the splits of NYUv2 or Tiny-Taskonomy name "
        "must exist (the first missing one is named, all are counted); any dataset's splits are opened "
        "and their first item checked against the tasks' target formats.",
    )
    check.add_argument("--config", required=True, help="experiment config (YAML)")
    check.add_argument("--tasks", default=None, help="comma-separated tasks (default: the config's)")
    check.add_argument("--out", default=None, help="JSON file to write: dataset, root, sizes, classes")
    check.set_defaults(func=run)

    samples = commands.add_parser(
        "format-samples", help="write a few random samples in NYUv2's or Tiny-Taskonomy's on-disk format",
        description="Random pixels in the exact folder layout, file types and split files the loaders read: "
        "to dry-run or time a paper config before its dataset is downloaded.",
    )
    samples.add_argument("--dataset", required=True, choices=("nyuv2", "taskonomy"))
    samples.add_argument("--out", required=True, help="folder to write (data.root of the config)")
    samples.add_argument("--train", type=int, default=32, help="train samples (default 32)")
    samples.add_argument("--val", type=int, default=8, help="val samples (default 8)")
    samples.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"),
                         help="image size (default: the dataset's own, 480x640 NYUv2, 512x512 Taskonomy)")
    samples.add_argument("--seed", type=seed, default=0)
    samples.set_defaults(func=run)


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
    if args.data_command == "format-samples":
        from treemtl.training.data.format_samples import write_format_samples

        size = None if args.size is None else (args.size[0], args.size[1])
        root = write_format_samples(args.dataset, args.out, args.train, args.val, size, args.seed)
        print(f"{args.dataset}: {args.train} train + {args.val} val samples in {root}", file=sys.stderr)
        return 0
    raise TreeMTLError(f"unknown data command {args.data_command!r}")


def _check(args: argparse.Namespace) -> int:
    """Check the dataset before any training: a folder dataset file by file, a dataset whose splits
    name their files (NYUv2, Tiny-Taskonomy) for every file's presence, then every dataset by opening
    both splits and checking their first item against the tasks' target formats."""
    from treemtl.atomic import write_json_atomic
    from treemtl.training.config import load_config
    from treemtl.training.data import SPLITS, build_dataset
    from treemtl.training.data.augment import AugmentedDataset
    from treemtl.training.data.common import ListedFileDataset, check_item, check_sample_files
    from treemtl.training.tasks import get_task, out_channels, parse_tasks

    config = load_config(args.config)
    tasks = list(config.tasks) if args.tasks is None else list(parse_tasks(args.tasks, config))
    specs = {task: get_task(task, config) for task in tasks}  # a failing task plugin stops here
    found: dict[str, object] = {"dataset": config.data.dataset, "root": config.data.root, "tasks": tasks}
    if config.data.dataset == "folder":
        found["files"] = _check_folder(config, tasks)
    for split in SPLITS:
        dataset = build_dataset(config, split, tasks)
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise TreeMTLError(f"data.root: the {split} split of {config.data.root} holds no samples")
        files = dataset.dataset if isinstance(dataset, AugmentedDataset) else dataset
        if isinstance(files, ListedFileDataset):
            check_sample_files(files, split)
        num_classes = int(getattr(dataset, "num_classes", 0))
        shapes = {task: (spec.target, out_channels(spec, num_classes)) for task, spec in specs.items()}
        first = dataset[0]
        check_item(first, shapes, f"data.dataset {config.data.dataset} ({split} split): item 0")
        found[split] = {"size": len(dataset), "image_shape": list(first["image"].shape)}  # type: ignore[arg-type]
        found["num_classes"] = num_classes
    if args.out is not None:
        write_json_atomic(args.out, found)
    print(f"{config.data.dataset} at {config.data.root}: train {found['train']}, val {found['val']}; "
          f"tasks {', '.join(tasks)}: ok", file=sys.stderr)
    return 0


def _check_folder(config: object, tasks: list[str]) -> dict[str, object]:
    """Every file of a folder dataset; the first problems are listed on stderr, all are counted."""
    from treemtl.training.data.folder import check_folder, problems_text

    report = check_folder(config, tasks)
    root = config.data.root  # type: ignore[attr-defined]
    if report.problems:
        for line in problems_text(report.problems):
            print(line, file=sys.stderr)
        count = len(report.problems)
        raise TreeMTLError(f"{root}: {count} problem{'s' if count > 1 else ''} in the folder dataset"
                           f"{' (listed above)' if count > 1 else ''}; first: {report.problems[0]}")
    return {"samples": report.samples, "image_sizes": [list(size) for size in report.image_sizes]}
