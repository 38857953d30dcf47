"""The ``treemtl`` command: one subcommand per module in this package.

Module ``treemtl.cli.<name>`` provides the command ``<name>`` with underscores written as dashes.
Only the module of the command being run is imported, so that the light commands (enumerate,
recommend) start without loading torch.

A user error (:class:`TreeMTLError`) or a file-system failure (``OSError``: a full disk, an
output path that is a folder, ...) is printed as one line and exits 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from treemtl.atomic import output_error
from treemtl.errors import TreeMTLError

COMMAND_MODULES: tuple[str, ...] = (
    "train",
    "evaluate",
    "enumerate",
    "recommend",
    "weights",
    "performance_table",
    "score_landscape",
    "oracle",
    "baselines",
    "gpu_slot",
    "two_task_table",
    "report",
    "data",
    "detect",
    "profile",
    "pretrained",
)


class _Parser(argparse.ArgumentParser):
    """Argparse parser whose usage errors follow the one-line, exit-2 convention."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def command_name(module: str) -> str:
    return module.replace("_", "-")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``only``, just that command's module is imported."""
    parser = _Parser(prog="treemtl", description="Recommend tree-structured multi-task CNN architectures.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in COMMAND_MODULES:
        if only is None or command_name(module) == only:
            importlib.import_module(f"treemtl.cli.{module}").register(subparsers)
    return parser


def _requested_command(argv: Sequence[str]) -> str | None:
    known = {command_name(module) for module in COMMAND_MODULES}
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in known else None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=_requested_command(argv))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return 0
    except OSError as error:
        return _fail(_os_error(error, getattr(args, "out", None)))
    except TreeMTLError as error:
        return _fail(error)


def _fail(error: TreeMTLError) -> int:
    message = " ".join(str(error).split())
    sys.stderr.write(f"treemtl: error: {message}\n")
    return 2


def _os_error(error: OSError, out: str | None) -> TreeMTLError:
    """A file-system failure of a command: an output one names its path and says what was expected.

    Atomic writers already report their target; this covers the rest (output folders, shards).
    """
    path = error.filename if error.filename is not None else out
    if path is None:
        return TreeMTLError(f"file system error: {error.strerror or error}")
    failed = Path(os.fsdecode(path))
    if out is not None:
        absolute, target = failed.absolute(), Path(out).absolute()
        if absolute == target or target in absolute.parents:
            return output_error(failed, error)
        if absolute in target.parents:  # a folder that would hold --out
            return output_error(out, error)
    return TreeMTLError(f"{failed}: {error.strerror or error}")


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--threads``: where a command that runs torch models computes."""
    parser.add_argument("--device", default="auto", help="auto (CUDA if visible), cpu or cuda[:N]")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")


def add_reference_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """``--reference`` (repeatable): the single-task metrics.json files a training is measured against."""
    parser.add_argument("--reference", action="append", default=[], metavar="METRICS_JSON", help=help)


def seed(text: str) -> int:
    """Argparse type of ``--seed``: numpy and torch seed their generators with 32-bit unsigned integers."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {2**32 - 1}, got {text!r}")
    return value


def comma_ints(text: str, flag: str, minimum: int | None = None) -> list[int]:
    """The integers of a comma-separated flag value (``"1, 8,16"``), empty parts skipped."""
    try:
        values = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise TreeMTLError(f"{flag}: expected comma-separated integers, got {text!r}") from None
    if minimum is not None and any(value < minimum for value in values):
        raise TreeMTLError(f"{flag}: expected integers of at least {minimum}, got {text!r}")
    return values


def read_ids(path: str | Path, what: str) -> list[int]:
    """Layout ids of the integer ``id`` column of a CSV (an oracle sample, a recommend/budget<x>.csv)."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return [int(row["id"]) for row in csv.DictReader(handle)]
    except FileNotFoundError:
        raise TreeMTLError(f"{path}: {what} not found") from None
    except (KeyError, ValueError, UnicodeDecodeError) as error:
        raise TreeMTLError(f"{path}: expected {what}, a CSV with an integer 'id' column ({error})") from None


if __name__ == "__main__":
    raise SystemExit(main())
