"""``treemtl enumerate``: every layout for T tasks and B blocks, in the paper's id order."""

from __future__ import annotations

import argparse
import json
import sys

from treemtl.errors import TreeMTLError
from treemtl.core.layout import layout_space
from treemtl.atomic import write_text_atomic


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "enumerate",
        help="list every tree layout (id order = the paper's ids)",
        description="Write one record per layout in id order. jsonl: {\"id\": N, \"layout\": "
        "[[[task, ...], ...], ...]} (blocks -> groups -> 0-based task indices); csv: id,layout "
        "with the text form (e.g. 012|012|01,2|01,2|0,1,2).",
    )
    parser.add_argument("--tasks", type=int, required=True, help="number of tasks T")
    parser.add_argument("--blocks", type=int, required=True, help="number of blocks B")
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    parser.add_argument("--out", default=None, help="write to this file (atomically) instead of stdout")
    parser.set_defaults(func=run)


def render(num_tasks: int, num_blocks: int, fmt: str) -> str:
    """The whole output as one string: built per distinct partition, then joined once (fast)."""
    space = layout_space(num_tasks, num_blocks)
    if fmt == "csv":
        lines = ["id,layout"]
        lines.extend(f'{i},"{text}"' if "," in text else f"{i},{text}"
                     for i, text in enumerate(space.texts()))
    else:
        part_json = [json.dumps([[t for t in range(m.bit_length()) if m >> t & 1] for m in p])
                     for p in space.partitions]
        lines = ['{"id": %d, "layout": [%s]}' % (i, ", ".join([part_json[k] for k in row]))
                 for i, row in enumerate(space.chains.tolist())]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    if args.tasks < 1 or args.blocks < 1:
        raise TreeMTLError(f"--tasks and --blocks must be >= 1, got {args.tasks} and {args.blocks}")
    if args.tasks > 8:
        raise TreeMTLError(f"--tasks {args.tasks}: enumerating more than 8 tasks is impractically large")
    text = render(args.tasks, args.blocks, args.format)
    if args.out:
        write_text_atomic(args.out, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0
