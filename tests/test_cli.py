"""The command dispatcher: light commands start without torch; every command is listed."""

from __future__ import annotations

import subprocess
import sys

from treemtl.cli import COMMAND_MODULES, build_parser, command_name


def test_enumerate_runs_without_importing_torch() -> None:
    code = (
        "import sys, io, contextlib\n"
        "from treemtl.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['enumerate', '--tasks', '3', '--blocks', '2'])\n"
        "assert 'torch' not in sys.modules, 'enumerate imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_full_parser_lists_every_command() -> None:
    parser = build_parser()
    help_text = parser.format_help()
    for module in COMMAND_MODULES:
        assert command_name(module) in help_text


def test_unknown_command_is_a_usage_error(capsys) -> None:
    import pytest

    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["no-such-command"])
    assert stop.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
