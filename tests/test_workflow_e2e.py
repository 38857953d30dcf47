"""The whole workflow on a tiny synthetic benchmark, then what a second run would redo.

2 tasks, 3 blocks, 64 images of 32x32, 10 iterations: every stage runs for real (data, detect,
2 singles, 3 pairs, estimator, recommendation checkpoint, final trainings, report) in about a
minute on 2 cores. The incremental checks use dry runs (and one real re-run) on that state.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from workflow_helpers import dry_run, job_counts, snakemake

TINY = {
    "experiment": "tiny",
    "tasks": ["segment_semantic", "depth_zbuffer"],
    "seed": 0,
    "data": {"dataset": "synthetic", "synthetic": {"n_train": 64, "n_val": 16, "size": 32, "seed": 0}},
    "backbone": {"name": "small_cnn", "input_size": [3, 32, 32], "blocks": 3},
    "train": {"iters": 10, "batch_size": 16, "eval_every": 10, "checkpoint_every": 10},
    "recommend": {"budgets": [1.0, 1.5], "top_k": 2},
}


def _configfile(workdir: Path, name: str, **changes: object) -> Path:
    path = workdir / name
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Working directory after one complete run of the tiny workflow."""
    workdir = tmp_path_factory.mktemp("e2e")
    done = snakemake(workdir, "--configfile", str(_configfile(workdir, "tiny.yaml")), "--cores", "2", timeout=900)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    return workdir


def test_every_stage_wrote_its_outputs(finished: Path) -> None:
    results = finished / "results" / "tiny"
    for task in TINY["tasks"]:
        assert (results / "single" / task / "metrics.json").is_file()
    for branch in (1, 2, 3):
        assert (results / "pairs" / "segment_semantic__depth_zbuffer" / f"branch{branch}" / "metrics.json").is_file()
    table = pd.read_csv(results / "estimator" / "two_task_table.csv")
    assert sorted(table["branch"]) == [0, 1, 2, 3]
    assert len(pd.read_csv(results / "layouts.csv")) == 4  # 2 tasks x 3 blocks
    assert len(pd.read_csv(results / "performance_table.csv")) == 4
    chosen = {0}
    for budget in ("1", "1.5"):
        picks = pd.read_csv(results / "recommend" / f"budget{budget}.csv")
        assert 1 <= len(picks) <= 2
        chosen.update(int(i) for i in picks["id"])
    trained = {int(p.name) for p in (results / "final").iterdir() if p.is_dir()}
    assert trained == chosen  # each recommended id once, plus the all-shared reference
    assert (results / "final" / "trained_ids.txt").read_text().split() == [str(i) for i in sorted(chosen)]
    model = results / "final" / "0" / "model.pt"
    assert model.is_file() and not model.stat().st_mode & 0o222  # protected()
    report = results / "report"
    for name in ("recommendations.md", "recommendations.csv", "recommendations.tex", "summary.md",
                 "layouts.png", "score_vs_flops.png"):
        assert (report / name).stat().st_size > 0
    assert len(list((results / "benchmarks" / "pairs").rglob("*.tsv"))) == 3
    assert (results / "logs" / "detect.log").is_file()


def test_second_run_has_nothing_to_do(finished: Path) -> None:
    assert dry_run(finished, _configfile(finished, "tiny.yaml")) == {}


def test_new_task_trains_only_its_models(finished: Path) -> None:
    tasks = [*TINY["tasks"], "normal"]
    counts = dry_run(finished, _configfile(finished, "three.yaml", tasks=tasks))
    assert counts["train_single"] == 1
    assert counts["train_pair"] == 2 * 3  # (segment_semantic, normal), (depth_zbuffer, normal) x 3 branches
    assert not {"data", "detect"} & set(counts)


def test_new_training_recipe_retrains_everything(finished: Path) -> None:
    counts = dry_run(finished, _configfile(finished, "longer.yaml", train={**TINY["train"], "iters": 20}))
    assert counts["train_single"] == 2 and counts["train_pair"] == 3
    assert "data" not in counts and "detect" not in counts


def test_html_report(finished: Path) -> None:
    html = finished / "report.html"
    done = snakemake(finished, "--configfile", str(_configfile(finished, "tiny.yaml")), "--report", str(html))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = html.read_text(errors="replace")
    assert "recommendations.md" in text and "score_vs_flops.png" in text


def test_new_budget_reruns_only_recommendation_and_finals(finished: Path) -> None:
    configfile = _configfile(finished, "budget.yaml", recommend={"budgets": [1.0, 2.0], "top_k": 2})
    assert set(dry_run(finished, configfile)) == {"recommend", "trained_finals", "report", "all"}
    done = snakemake(finished, "--configfile", str(configfile), "--cores", "2", timeout=600)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    ran = job_counts(done.stdout + done.stderr)
    assert set(ran) <= {"recommend", "train_final", "trained_finals", "report", "all"}
    assert ran["recommend"] == 1  # only the new budget
    results = finished / "results" / "tiny"
    report = pd.read_csv(results / "report" / "recommendations.csv", dtype={"budget": str})
    assert set(report["budget"]) == {"1", "2"}
    assert dry_run(finished, configfile) == {}
