"""The Snakemake DAG of every shipped config, schema errors, and ``snakemake --lint``.

Dry runs only (no training): they check the wiring — T single-task models, C(T,2)·B two-task
models, one recommendation per budget — before the checkpoint decides the final trainings.
"""

from __future__ import annotations

import shutil
from math import comb
from pathlib import Path

import pytest
import yaml

from workflow_helpers import REPO, dry_run, snakemake

CONFIGS = sorted((REPO / "config").glob("*.yaml"))


def test_every_config_is_shipped() -> None:
    names = {path.stem for path in CONFIGS}
    assert {"config", "synthetic5", "nyuv2_resnet34", "nyuv2_mobilenetv2", "taskonomy_resnet34",
            "taskonomy_mobilenetv2"} <= names


@pytest.mark.parametrize("config_path", CONFIGS, ids=lambda p: p.stem)
def test_dry_run_job_counts(config_path: Path, tmp_path: Path) -> None:
    config = yaml.safe_load(config_path.read_text())
    configfile = tmp_path / config_path.name
    shutil.copy(config_path, configfile)
    num_tasks, num_blocks = len(config["tasks"]), config["backbone"]["blocks"]
    counts = dry_run(tmp_path, configfile)
    expected = {
        "data": 1,
        "detect": 1,
        "train_single": num_tasks,
        "train_pair": comb(num_tasks, 2) * num_blocks,
        "two_task_table": 1,
        "weights": 1,
        "enumerate_layouts": 1,
        "performance_table": 1,
        "recommend": len(config["recommend"]["budgets"]),
        "trained_finals": 1,
        "report": 1,
        "all": 1,
    }
    repeats = len(config.get("repeat_seeds", []))
    if repeats:
        expected["train_single_repeat"] = repeats * num_tasks
        expected["train_pair_repeat"] = repeats * comb(num_tasks, 2) * num_blocks
    # the train_final jobs appear once the recommend checkpoint has run
    assert counts == expected
    resolved = yaml.safe_load((tmp_path / "results" / config["experiment"] / "config.yaml").read_text())
    assert resolved["tasks"] == config["tasks"] and resolved["train"]["iters"] == config["train"]["iters"]


def test_config_override_on_the_command_line(tmp_path: Path) -> None:
    configfile = tmp_path / "config.yaml"
    shutil.copy(REPO / "config" / "config.yaml", configfile)
    dry_run(tmp_path, configfile, "--config", "experiment=override", "seed=7")
    resolved = yaml.safe_load((tmp_path / "results" / "override" / "config.yaml").read_text())
    assert resolved["seed"] == 7  # what every job's `treemtl --config` reads


def _error_of(tmp_path: Path, config: dict) -> str:
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "--configfile", str(configfile), "--dry-run")
    assert done.returncode != 0
    return done.stdout + done.stderr


def test_unknown_key_is_named(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["train"]["learning_rate"] = 0.1
    message = _error_of(tmp_path, config)
    assert "learning_rate" in message and "Additional properties are not allowed" in message


def test_wrong_type_is_named(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["recommend"]["top_k"] = "three"
    message = _error_of(tmp_path, config)
    assert "'three' is not of type 'integer'" in message and "top_k" in message


def test_unknown_task_is_named(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["tasks"] = ["segment_semantic", "depth"]
    assert "'depth' is not one of" in _error_of(tmp_path, config)


def test_lint_passes(tmp_path: Path) -> None:
    configfile = tmp_path / "config.yaml"
    shutil.copy(REPO / "config" / "config.yaml", configfile)
    done = snakemake(tmp_path, "--configfile", str(configfile), "--lint")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Lints for" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_error_found_by_treemtl_config_stops_the_run(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["train"]["loss_weights"] = {"keypoints2d": 2.0}  # a valid task, but not one of `tasks`
    message = _error_of(tmp_path, config)
    assert "train.loss_weights.keypoints2d: task is not in tasks" in message


@pytest.mark.parametrize("profile", ["gpu", "slurm"])
def test_profiles_give_each_training_one_gpu(profile: str, tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["repeat_seeds"] = [1]
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "--configfile", str(configfile), "--profile",
                     str(REPO / "workflow" / "profiles" / profile), "--dry-run")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert output.count("treemtl gpu-slot --gpus 1 -- treemtl train") == 2 * (3 + 15)  # main runs and repeats
    assert "treemtl gpu-slot --gpus 0" not in output
    if profile == "slurm":
        assert output.count("gpu=1, cpus_per_gpu=8") == 2 * (3 + 15)
