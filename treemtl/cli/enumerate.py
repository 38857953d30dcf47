"""``treemtl enumerate``: every layout for T tasks and B blocks, in the paper's id order."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator

from treemtl.atomic import write_lines_atomic
from treemtl.core.layout import iter_chains, mask_tasks, partition_text
from treemtl.errors import TreeMTLError


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


def lines(num_tasks: int, num_blocks: int, fmt: str) -> Iterator[str]:
    """The output line by line (each with its newline), in id order, as the layouts are generated.

    Nothing is kept but each distinct partition's text, so memory stays bounded at any size.
    """
    texts: dict[tuple[int, ...], str] = {}
    if fmt == "csv":
        yield "id,layout\n"
        for index, chain in enumerate(iter_chains(num_tasks, num_blocks)):
            text = "|".join([texts.get(p) or texts.setdefault(p, partition_text(p, num_tasks)) for p in chain])
            yield f'{index},"{text}"\n' if "," in text else f"{index},{text}\n"
    else:
        for index, chain in enumerate(iter_chains(num_tasks, num_blocks)):
            parts = ", ".join([texts.get(p) or texts.setdefault(p, _partition_json(p)) for p in chain])
            yield '{"id": %d, "layout": [%s]}\n' % (index, parts)


def _partition_json(partition: tuple[int, ...]) -> str:
    return json.dumps([mask_tasks(mask) for mask in partition])




def run(args: argparse.Namespace) -> int:
    if args.tasks < 1 or args.blocks < 1:
        raise TreeMTLError(f"--tasks and --blocks must be >= 1, got {args.tasks} and {args.blocks}")
    if args.tasks > 8:
        raise TreeMTLError(f"--tasks {args.tasks}: enumerating more than 8 tasks is impractically large")
    output = lines(args.tasks, args.blocks, args.format)
    if args.out:
        write_lines_atomic(args.out, output)
    else:
        sys.stdout.writelines(output)
        sys.stdout.flush()
    return 0
