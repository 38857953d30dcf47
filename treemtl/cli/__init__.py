"""The ``treemtl`` command: one subcommand per module in this package.

Module ``treemtl.cli.<name>`` provides the command ``<name>`` with underscores written as dashes.
Only the module of the command being run is imported, so that the light commands (enumerate,
recommend) start without loading torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from treemtl.errors import TreeMTLError

COMMAND_MODULES: tuple[str, ...] = (
    "train",
    "evaluate",
    "enumerate",
    "recommend",
    "weights",
    "performance_table",
    "oracle",
    "baselines",
    "gpu_slot",
    "two_task_table",
    "report",
    "data",
    "detect",
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
    except TreeMTLError as error:
        message = " ".join(str(error).split())
        sys.stderr.write(f"treemtl: error: {message}\n")
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
