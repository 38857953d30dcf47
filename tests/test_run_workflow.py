"""``make run``'s entry point finds the workflow of this repository and reports from the results tree."""

from __future__ import annotations

from pathlib import Path

from treemtl.execution.run_workflow import REPO, experiment_of, snakemake_command


def test_the_command_points_at_this_repository_workflow_and_profile() -> None:
    command = snakemake_command("config/config.yaml", "2", "default", ["-n"])
    snakefile = Path(command[command.index("--snakefile") + 1])
    profile = Path(command[command.index("--profile") + 1])
    assert snakefile == Path(__file__).resolve().parents[1] / "workflow" / "Snakefile"
    assert snakefile.is_file() and (profile / "config.v9+.yaml").is_file()
    assert command[-1] == "-n"


def test_experiment_comes_from_the_config() -> None:
    assert experiment_of(str(REPO / "config" / "config.yaml")) == "synthetic3"
