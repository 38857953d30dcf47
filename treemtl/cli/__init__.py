"""The ``treemtl`` command: one subcommand per module in this package."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from treemtl.errors import TreeMTLError

COMMAND_MODULES: tuple[str, ...] = (
)


class _Parser(argparse.ArgumentParser):
    """Argparse parser whose usage errors follow the one-line, exit-2 convention."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="treemtl", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"treemtl.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
