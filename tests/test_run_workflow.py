"""``make run``'s entry point finds the workflow of this repository and reports from the results tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from treemtl.execution.run_workflow import REPO, experiment_of, main, snakemake_command


def test_the_command_points_at_this_repository_workflow_and_profile() -> None:
    command = snakemake_command(["config/config.yaml"], "2", "default", ["-n"])
    snakefile = Path(command[command.index("--snakefile") + 1])
    profile = Path(command[command.index("--profile") + 1])
    assert snakefile == Path(__file__).resolve().parents[1] / "workflow" / "Snakefile"
    assert snakefile.is_file() and (profile / "config.v9+.yaml").is_file()
    assert command[-1] == "-n"


def test_experiment_comes_from_the_config() -> None:
    assert experiment_of([str(REPO / "config" / "config.yaml")]) == "synthetic3"


def test_layered_config_files_reach_snakemake_in_order_and_the_last_experiment_wins(tmp_path: Path) -> None:
    preset = str(REPO / "config" / "presets" / "cheap_two_task_table.yaml")
    own = tmp_path / "own.yaml"
    own.write_text("experiment: cheap_synthetic3\n")
    files = [str(REPO / "config" / "config.yaml"), preset, str(own)]
    command = snakemake_command(files, "2", "default", [])
    start = command.index("--configfile") + 1
    assert command[start:start + 3] == files
    assert experiment_of(files[:2]) == "synthetic3"  # the preset sets no experiment
    assert experiment_of(files[1:2]) == "synthetic3"  # the Snakefile's config/config.yaml is the first layer
    assert experiment_of(files) == "cheap_synthetic3"


def test_a_target_swallowed_by_configfile_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--configfile", str(REPO / "config" / "config.yaml"), "oracle"])
    assert "--configfile: no such file: oracle" in capsys.readouterr().err
