"""The whole workflow on a tiny synthetic benchmark, then what a second run would redo.

2 tasks, 3 blocks, 64 images of 32x32, 10 iterations: every stage runs for real (data, detect,
2 singles, 3 pairs, estimator, recommendation checkpoint, final trainings, report) in about a
minute on 2 cores. The incremental checks use dry runs (and one real re-run) on that state.
That run records the files every ``treemtl`` job opens (tests/open_audit), so one test checks that
each job reads exactly the inputs its rule declares.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from treemtl.results_tree import ResultsTree
from workflow_helpers import AuditedJob, audited_jobs, dry_run, job_counts, open_audit_env, snakemake

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


TREE = ResultsTree.of_experiment("tiny")
PAIR = "segment_semantic__depth_zbuffer"


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the first run opened: ``records/`` (one file per process) and ``metadata/`` (Snakemake's)."""
    folder = tmp_path_factory.mktemp("opened")
    (folder / "records").mkdir()
    return folder


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, opened: Path) -> Path:
    """Working directory after one complete run of the tiny workflow."""
    workdir = tmp_path_factory.mktemp("e2e")
    done = snakemake(workdir, "--configfile", str(_configfile(workdir, "tiny.yaml")), "--cores", "2", timeout=900,
                     env=open_audit_env(opened / "records", workdir / "results"))
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    shutil.copytree(workdir / ".snakemake" / "metadata", opened / "metadata")  # later tests run again
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
    assert (results / "performance_table.npz").stat().st_size > 0  # the same table for the lookups
    (resolved,) = (results / "configs").iterdir()
    assert (results / "config.yaml").read_text() == resolved.read_text()  # the readable copy
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


#: Read by jobs without being declared, on purpose: the resolved config of the job's own
#: invocation (a param, so that which file holds it never reruns a job; see InvocationConfig in
#: workflow/rules/common.smk), and the rendered dataset behind its declared ready marker.
def _allowed_undeclared(path: str, inputs: frozenset[str]) -> bool:
    if Path(path).parent == TREE.root / "configs":
        return True
    marker = TREE.data_ready(synthetic=True, data_root=None)
    return str(marker) in inputs and Path(path).parent == marker.parent


def test_every_job_reads_exactly_its_declared_inputs(finished: Path, opened: Path) -> None:
    jobs, rules = audited_jobs(finished, opened / "records", opened / "metadata")
    audited = {job.rule for job in jobs.values()}
    assert audited >= {"data", "detect", "train_single", "train_pair", "two_task_table", "weights",
                       "enumerate_layouts", "performance_table", "recommend", "train_final", "report"}
    # the two shell-only rules (cp, printf) start no treemtl process
    assert set(rules.values()) - audited == {"resolved_config", "trained_finals"}
    _assert_read_as_declared(jobs)


def _assert_read_as_declared(jobs: dict[str, AuditedJob]) -> None:
    """Each job opened every declared input and nothing else (but its config and the dataset)."""
    for log, job in sorted(jobs.items()):
        undeclared = sorted(p for p in job.reads - job.inputs if not _allowed_undeclared(p, job.inputs))
        assert not undeclared, f"{job.rule} ({log}) read undeclared files: {undeclared}"
        unread = sorted(job.inputs - job.reads)
        assert not unread, f"{job.rule} ({log}) never opened declared inputs: {unread}"
    configs = {p for job in jobs.values() for p in job.reads if Path(p).parent == TREE.root / "configs"}
    assert len(configs) == 1  # every job of the invocation read the same resolved config


def test_searched_space_needs_no_performance_table(finished: Path, tmp_path: Path) -> None:
    """With recommend.search_above below the space, the picks come from the exact search and the report
    from the score landscape: no layouts.csv or performance table, nothing retrained, the table's picks,
    and every job reads exactly its declared inputs."""
    workdir = tmp_path / "searched"
    shutil.copytree(finished, workdir, symlinks=True)
    stored = (TREE.layouts, TREE.performance_table, TREE.performance_lookup)
    for path in stored:
        (workdir / path).unlink()
    records = tmp_path / "records"
    records.mkdir()
    configfile = _configfile(workdir, "searched.yaml", recommend={**TINY["recommend"], "search_above": 0})
    done = snakemake(workdir, "--configfile", str(configfile), "--cores", "2", timeout=600,
                     env=open_audit_env(records, workdir / "results"))
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    ran = job_counts(done.stdout + done.stderr)
    assert set(ran) == {"resolved_config", "score_landscape", "recommend", "trained_finals", "report", "all"}
    assert not any((workdir / path).exists() for path in stored)
    for budget in ("1", "1.5"):
        searched, scored = (pd.read_csv(folder / TREE.recommendation(budget)) for folder in (workdir, finished))
        assert searched[["id", "layout", "flops_pct"]].equals(scored[["id", "layout", "flops_pct"]])
        pd.testing.assert_series_equal(searched["score"], scored["score"], rtol=1e-12)
    landscape = pd.read_csv(workdir / TREE.score_landscape)
    assert set(landscape["kind"]) == {"front", "sample"} and (landscape["kind"] == "sample").sum() == 4
    jobs, _ = audited_jobs(workdir, records, workdir / ".snakemake" / "metadata")
    assert {job.rule for job in jobs.values()} == {"score_landscape", "recommend", "report"}
    _assert_read_as_declared(jobs)
    assert dry_run(workdir, configfile) == {}


def test_baselines_target_searches_retrains_and_tabulates(finished: Path, tmp_path: Path) -> None:
    """``baselines`` on the finished run: Learning to Branch and AutoMTL search and retrain, the
    table sets them beside the recommender with every job's seconds, and each job reads exactly
    its declared inputs (benchmark files included)."""
    workdir = tmp_path / "baselines"
    shutil.copytree(finished, workdir, symlinks=True)
    records = tmp_path / "records"
    records.mkdir()
    configfile = _configfile(workdir, "tiny.yaml")
    done = snakemake(workdir, "--configfile", str(configfile), "--cores", "2", "baselines", timeout=600,
                     env=open_audit_env(records, workdir / "results"))
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    searched = {"learn_to_branch_search", "learn_to_branch_retrain", "automtl_search", "automtl_retrain",
                "searched_baselines_table"}
    assert set(job_counts(done.stdout + done.stderr)) == {*searched, "what_to_share", "task_grouping", "baselines"}
    table = pd.read_csv(workdir / TREE.searched_table("csv"))
    assert {"Independent", "All-shared", "Ours", "Learn-to-Branch", "AutoMTL"} == set(table["Method"])
    assert table["Δt"].notna().all() and table["Retrain s"].notna().all()
    assert table.loc[table["Method"].isin(["Ours", "Learn-to-Branch", "AutoMTL"]), "CPU s"].gt(0).all()
    assert (workdir / TREE.searched_table("png")).stat().st_size > 0
    jobs, _ = audited_jobs(workdir, records, workdir / ".snakemake" / "metadata")
    assert {job.rule for job in jobs.values()} == searched | {"what_to_share", "task_grouping"}
    _assert_read_as_declared(jobs)
    assert dry_run(workdir, configfile, "--", "baselines") == {}


def test_oracle_target_compares_with_a_search_at_each_budget(finished: Path, tmp_path: Path) -> None:
    """``oracle`` with ``baselines.learn_to_branch.budget: recommend``: one Learning to Branch search and
    retraining per budget, AutoMTL, and Table 4 with their measured rows; every job (the comparison's
    too) reads exactly its declared inputs."""
    workdir = tmp_path / "oracle"
    shutil.copytree(finished, workdir, symlinks=True)
    records = tmp_path / "records"
    records.mkdir()
    configfile = _configfile(workdir, "compare.yaml", baselines={"learn_to_branch": {"budget": "recommend"}})
    done = snakemake(workdir, "--configfile", str(configfile), "--cores", "2", "oracle", timeout=900,
                     env=open_audit_env(records, workdir / "results"))
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    ran = job_counts(done.stdout + done.stderr)
    assert ran["learn_to_branch_search"] == ran["learn_to_branch_retrain"] == 2  # budgets 1 and 1.5
    assert ran["automtl_retrain"] == ran["comparison_report"] == 1
    table = pd.read_csv(workdir / TREE.comparison_file("table4_baselines.csv"))
    ltb = table[table["Method"] == "Learn-to-Branch"]
    assert list(ltb["Budget"]) == ["1 models", "1.5 models"] and ltb["Δt"].notna().all()
    assert table.loc[table["Method"] == "AutoMTL", "Δt"].notna().all()
    jobs, _ = audited_jobs(workdir, records, workdir / ".snakemake" / "metadata")
    assert {"learn_to_branch_search", "learn_to_branch_retrain", "comparison_report"} <= {job.rule for job in jobs.values()}
    _assert_read_as_declared(jobs)
    assert dry_run(workdir, configfile, "--", "oracle") == {}


def test_second_run_has_nothing_to_do(finished: Path) -> None:
    assert dry_run(finished, _configfile(finished, "tiny.yaml")) == {}


def test_plain_rerun_rebuilds_missing_files(finished: Path, tmp_path: Path) -> None:
    """After a failure removed files (or someone deleted them), the default target rebuilds them."""
    workdir = tmp_path / "copy"
    shutil.copytree(finished, workdir, symlinks=True)
    (workdir / TREE.pair_metrics(PAIR, 2)).unlink()
    (workdir / TREE.two_task_table).unlink()
    counts = dry_run(workdir, _configfile(workdir, "tiny.yaml"))
    assert counts["train_pair"] == 1 and counts["two_task_table"] == 1
    assert "train_single" not in counts and "data" not in counts


def test_new_task_trains_only_its_models(finished: Path) -> None:
    tasks = [*TINY["tasks"], "normal"]
    counts = dry_run(finished, _configfile(finished, "three.yaml", tasks=tasks))
    assert counts["train_single"] == 1
    assert counts["train_pair"] == 2 * 3  # (segment_semantic, normal), (depth_zbuffer, normal) x 3 branches
    assert not {"data", "detect"} & set(counts)


@pytest.mark.parametrize("change", [{"iters": 20}, {"lr": 0.01}], ids=["iters", "lr"])
def test_new_training_recipe_retrains_everything(finished: Path, change: dict[str, float]) -> None:
    counts = dry_run(finished, _configfile(finished, "recipe.yaml", train={**TINY["train"], **change}))
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
    # resolved_config: the readable copy of the (changed) config
    assert set(dry_run(finished, configfile)) == {"resolved_config", "recommend", "trained_finals", "report", "all"}
    done = snakemake(finished, "--configfile", str(configfile), "--cores", "2", timeout=600)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    ran = job_counts(done.stdout + done.stderr)
    assert set(ran) <= {"resolved_config", "recommend", "train_final", "trained_finals", "report", "all"}
    assert ran["recommend"] == 1  # only the new budget
    results = finished / "results" / "tiny"
    report = pd.read_csv(results / "report" / "recommendations.csv", dtype={"budget": str})
    assert set(report["budget"]) == {"1", "2"}
    assert dry_run(finished, configfile) == {}
