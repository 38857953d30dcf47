"""The workflow's DAG for a folder dataset of 8 tasks mixing every task type and a plugin task."""

from __future__ import annotations

from math import comb
from pathlib import Path
from typing import Any

import yaml

from workflow_helpers import dry_run, snakemake

#: The eighth task, besides one of every type: a plugin.
PLUGIN_TASK = {"name": "objects", "spec": "examples.own_data.scene_tasks:object_count"}


def _configfile(workdir: Path, tasks: list[dict[str, Any]]) -> Path:
    config = {
        "experiment": "eight",
        "tasks": tasks,
        "data": {"dataset": "folder", "root": "data/roads", "options": {"resize": [64, 64]}},
        "backbone": {"name": "small_cnn", "input_size": [3, 64, 64], "blocks": 3},
        "train": {"loss_weights": {"objects": 0.5}},
    }
    path = workdir / "eight.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_dry_run_of_eight_tasks_of_every_type(tmp_path: Path, every_task_type: list[dict[str, Any]]) -> None:
    tasks = [*every_task_type, PLUGIN_TASK]
    counts = dry_run(tmp_path, _configfile(tmp_path, tasks))
    assert counts["data"] == 1  # `treemtl data check` before any training
    assert counts["train_single"] == 8
    assert counts["train_pair"] == comb(8, 2) * 3
    assert counts["two_task_table"] == 1
    # 1,855,570 layouts at T=8, B=3: recommended by exact search, never tabulated
    assert counts["score_landscape"] == 1 and "performance_table" not in counts
    resolved = yaml.safe_load(next((tmp_path / "results" / "eight" / "configs").iterdir()).read_text())
    assert resolved["tasks"] == tasks  # the jobs read the declarations back


def test_a_bad_declaration_stops_the_workflow_before_any_job(tmp_path: Path, every_task_type: list[dict[str, Any]]) -> None:
    tasks = [*every_task_type[:5], {"name": "weather", "type": "classification"}]
    done = snakemake(tmp_path, "--configfile", str(_configfile(tmp_path, tasks)), "--dry-run")
    assert done.returncode != 0
    assert "tasks[5].classes: required for a classification task" in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()  # nothing written
