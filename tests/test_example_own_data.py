"""The own-data example end to end, the way the README runs it: write the folder dataset, check
it, run the workflow. A tiny recipe (4 tasks: 2 dense, 2 image-level with one plugin task;
2 blocks, 32x32 images, a few iterations) keeps it to about a minute on 2 cores."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from workflow_helpers import BIN, REPO, snakemake

EXAMPLE = REPO / "examples" / "own_data"
TASKS = ("surfaces", "distance", "has_sphere", "objects")


def tiny_config(workdir: Path) -> Path:
    """The example config with a tiny recipe (its tasks, dataset and plugin unchanged)."""
    config = yaml.safe_load((EXAMPLE / "config.yaml").read_text())
    config.update(
        experiment="own_tiny",
        backbone={"name": "small_cnn", "input_size": [3, 32, 32], "blocks": 2},
        train={**config["train"], "iters": 4, "batch_size": 16, "eval_every": 4, "checkpoint_every": 4},
        recommend={"budgets": [1.0, 2.0], "top_k": 1},
    )
    path = workdir / "own_tiny.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run(workdir: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), cwd=workdir, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory holding the example (as the repository root does), after the three commands."""
    workdir = tmp_path_factory.mktemp("own")
    shutil.copytree(EXAMPLE, workdir / "examples" / "own_data", ignore=shutil.ignore_patterns("__pycache__"))
    made = run(workdir, sys.executable, "examples/own_data/make_scenes.py", "--out", "data/scenes",
               "--train", "32", "--val", "16", "--size", "32")
    assert made.returncode == 0, made.stderr
    configfile = tiny_config(workdir)
    checked = run(workdir, str(BIN / "treemtl"), "data", "check", "--config", configfile.name)
    assert checked.returncode == 0, checked.stderr
    done = snakemake(workdir, "--configfile", str(configfile), "--cores", "2", timeout=600)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    return workdir


def test_the_folder_dataset_is_written_in_the_documented_format(finished: Path) -> None:
    train = finished / "data" / "scenes" / "train"
    stems = sorted(p.stem for p in (train / "images").glob("*.png"))
    assert len(stems) == 32
    assert sorted(p.stem for p in (train / "surfaces").glob("*.png")) == stems
    assert sorted(p.stem for p in (train / "distance").glob("*.npy")) == stems
    for name in ("has_sphere", "objects"):
        labels = pd.read_csv(train / f"{name}.csv")
        assert list(labels.columns) == ["stem", "label"] and sorted(labels["stem"]) == stems
    assert set(pd.read_csv(train / "has_sphere.csv")["label"]) <= {0, 1}


def test_the_workflow_recommends_and_reports_every_task(finished: Path) -> None:
    results = finished / "results" / "own_tiny"
    table = pd.read_csv(results / "estimator" / "two_task_table.csv")
    assert len(table) == 6 * 3  # 6 pairs x branches 0..2
    assert table[["delta_a", "delta_b"]].notna().all().all()
    for name in TASKS:
        assert (results / "single" / name / "metrics.json").is_file()
    final = json.loads((results / "final" / "0" / "metrics.json").read_text())
    assert set(final["metrics"]) == set(TASKS)
    assert set(final["metrics"]["has_sphere"]) == {"accuracy"}
    assert set(final["metrics"]["objects"]) == {"abs_err", "exact"}  # the plugin's metrics
    report = pd.read_csv(results / "report" / "recommendations.csv")
    for column in ("has_sphere.accuracy", "objects.abs_err", "objects.exact", "surfaces.miou",
                   "distance.abs_err", "delta_has_sphere", "delta_objects"):
        assert column in report.columns, column
    markdown = (results / "report" / "recommendations.md").read_text()
    assert "has_sphere accuracy ↑" in markdown and "objects abs_err ↓" in markdown
    assert len(pd.read_csv(results / "recommend" / "budget1.csv")) == 1
