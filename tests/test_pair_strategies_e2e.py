"""The cheaper two-task tables run for real on a tiny benchmark, each job audited.

2 tasks, 3 blocks, 32x32 images, a few iterations, up to the two-task table: warm start with a
branch subset and single-only repeats, then short runs. Every job must read exactly the files its
rule declares (tests/open_audit), and a warm-started model must record its fine-tune length.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from treemtl.results_tree import ResultsTree
from workflow_helpers import audited_jobs, open_audit_env, snakemake

TINY = {
    "experiment": "tinypairs",
    "tasks": ["segment_semantic", "depth_zbuffer"],
    "seed": 0,
    "data": {"dataset": "synthetic", "synthetic": {"n_train": 32, "n_val": 16, "size": 32, "seed": 0}},
    "backbone": {"name": "small_cnn", "input_size": [3, 32, 32], "blocks": 3},
    "train": {"iters": 8, "batch_size": 16, "eval_every": 8, "checkpoint_every": 8},
}
TREE = ResultsTree.of_experiment("tinypairs")
PAIR = "segment_semantic__depth_zbuffer"


def _run(workdir: Path, records: Path, **changes: object) -> Path:
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump({**TINY, **changes}))
    records.mkdir(parents=True, exist_ok=True)
    done = snakemake(workdir, "--configfile", str(configfile), "--cores", "2", str(TREE.two_task_table),
                     timeout=900, env=open_audit_env(records, workdir / "results"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    again = snakemake(workdir, "--configfile", str(configfile), "--dry-run", str(TREE.two_task_table))
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stdout + again.stderr
    return configfile


def _check_audit(workdir: Path, records: Path, expected_rules: set[str]) -> None:
    jobs, _ = audited_jobs(workdir, records, workdir / ".snakemake" / "metadata")
    assert expected_rules <= {job.rule for job in jobs.values()}
    for log, job in sorted(jobs.items()):
        undeclared = sorted(p for p in job.reads - job.inputs
                            if Path(p).parent != TREE.root / "configs" and Path(p).parent != TREE.data_dir)
        assert not undeclared, f"{job.rule} ({log}) read undeclared files: {undeclared}"
        assert not sorted(job.inputs - job.reads), f"{job.rule} ({log}) never opened declared inputs"


@pytest.mark.parametrize("strategy", ["warm_start", "short"])
def test_strategy_runs_and_reads_what_it_declares(strategy: str, tmp_path: Path) -> None:
    pairs = {"strategy": strategy, "fraction": 0.5, "branches": [1, 3], "repeat_seeds_for": "singles"}
    _run(tmp_path, tmp_path / "records", pairs=pairs, repeat_seeds=[1])
    results = tmp_path / TREE.root
    table = pd.read_csv(results / "estimator" / "two_task_table.csv")
    assert list(table["branch"]) == [0, 1, 2, 3]
    assert table.loc[2, "delta_a"] == pytest.approx((table.loc[1, "delta_a"] + table.loc[3, "delta_a"]) / 2)
    runs = TREE.short_runs if strategy == "short" else TREE
    assert not (tmp_path / runs.pair_metrics(PAIR, 2)).exists()  # interpolated, never trained
    assert not (tmp_path / runs.pair_metrics(PAIR, 1, 1)).exists()  # pairs are not repeated
    fine_tune = json.loads((tmp_path / runs.pair_metrics(PAIR, 1)).read_text())
    assert fine_tune["iterations"] == 4
    if strategy == "warm_start":
        assert json.loads((tmp_path / TREE.pair_metrics(PAIR, 3)).read_text())["iterations"] == 8
        log = (tmp_path / TREE.pair_dir(PAIR, 1) / "train.log").read_text()
        assert f"init={TREE.pair_model(PAIR, 3)}" in log
        _check_audit(tmp_path, tmp_path / "records", {"train_single", "train_single_repeat", "train_pair",
                                                      "train_pair_warm", "two_task_table"})
    else:
        assert (tmp_path / TREE.short_runs.single_metrics("depth_zbuffer", 1)).is_file()
        assert not (tmp_path / TREE.single_metrics("depth_zbuffer")).exists()  # the table needs no full single
        _check_audit(tmp_path, tmp_path / "records", {"train_single_short", "train_single_short_repeat",
                                                      "train_pair_short", "two_task_table"})
