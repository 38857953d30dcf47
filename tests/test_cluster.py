"""The workflow on a real SLURM cluster through the ``slurm`` profile (``make test-cluster``).

Deselected by default (marker ``cluster``): it needs ``scripts/local_slurm.sh up`` (root, a
single-node cluster on this machine). Jobs go through sbatch and the slurm-jobstep executor;
without an accounting database the job states come from squeue (MinJobAge keeps them there).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from workflow_helpers import REPO, job_counts, snakemake

pytestmark = pytest.mark.cluster

TRAINING_RULES = ("train_single", "train_pair", "train_final")

TINY = {
    "experiment": "cluster",
    "tasks": ["segment_semantic", "depth_zbuffer"],
    "data": {"dataset": "synthetic", "synthetic": {"n_train": 32, "n_val": 16, "size": 32, "seed": 0}},
    "backbone": {"name": "small_cnn", "input_size": [3, 32, 32], "blocks": 2},
    "train": {"iters": 5, "batch_size": 16, "eval_every": 5, "checkpoint_every": 5},
    "recommend": {"budgets": [1.5], "top_k": 1},
}


def test_workflow_runs_through_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("sbatch") is None or shutil.which("squeue") is None:
        pytest.fail("SLURM is not available: run `scripts/local_slurm.sh up` first (make test-cluster does)")
    before = {job_id for job_id, _, _ in _slurm_jobs()}
    configfile = tmp_path / "cluster.yaml"
    configfile.write_text(yaml.safe_dump(TINY))
    monkeypatch.setenv("SLURM_PARTITION", os.environ.get("SLURM_PARTITION", "debug"))
    monkeypatch.setenv("SLURM_ACCOUNT", "")  # no accounting database: submit without an account
    # The profile asks for GPUs and a big node; this machine has neither.
    small = [f"{rule}:{key}={value}" for rule in TRAINING_RULES
             for key, value in (("gpu", 0), ("mem_mb", 1500), ("runtime", 15))]
    done = snakemake(
        tmp_path,
        "--profile", str(REPO / "workflow" / "profiles" / "slurm"),
        "--configfile", str(configfile),
        "--jobs", "4",
        "--set-resources", *small,
        "--set-threads", *(f"{rule}=1" for rule in TRAINING_RULES),
        "--default-resources", "mem_mb=1000", "runtime=15", "slurm_partition=$SLURM_PARTITION",
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "2",
        "--seconds-between-status-checks", "5",
        timeout=1500,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-8000:]
    counts = job_counts(output)
    assert counts["train_single"] == 2 and counts["train_pair"] == 2 and counts["recommend"] == 1
    results = tmp_path / "results" / "cluster"
    picks = pd.read_csv(results / "recommend" / "budget1.5.csv")
    for layout_id in {0, *picks["id"]}:
        assert (results / "final" / str(layout_id) / "metrics.json").is_file()
    assert (results / "report" / "recommendations.md").is_file()
    # the non-local jobs really went through sbatch and finished there
    submitted = {job_id: (comment, state) for job_id, comment, state in _slurm_jobs() if job_id not in before}
    rules = {comment.removeprefix("rule_").split("_wildcards_")[0] for comment, _ in submitted.values()}
    assert rules == {"data", "detect", "train_single", "train_pair", "train_final"}
    assert {state for _, state in submitted.values()} == {"COMPLETED"}
    assert len(submitted) == 1 + 1 + 2 + 2 + len({0, *picks["id"]})


def _slurm_jobs() -> list[tuple[str, str, str]]:
    """(job id, comment = Snakemake rule and wildcards, state) of every job squeue still shows."""
    listing = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i %k %T"], capture_output=True, text=True, check=True)
    return [tuple(line.split()) for line in listing.stdout.splitlines() if line.strip()]  # type: ignore[misc]
