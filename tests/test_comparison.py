"""Comparison tables end to end on a hand-made results folder (no training): oracle sample,
correlation, Task-Grouping and What-to-Share outputs, and the paper-style tables built from them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from treemtl.evaluation.baselines.what_to_share import dissimilarity_costs
from treemtl.cli import baselines as baselines_cli
from treemtl.cli import oracle as oracle_cli
from treemtl.core.estimator import TwoTaskTable, write_tidy_csv
from treemtl.core.layout import enumerate_layouts
from treemtl.core.recommend import performance_table, write_performance_table
from treemtl.evaluation.report.comparison import table3
from treemtl.training.tasks import get_task

TASKS = ("segment_semantic", "depth_zbuffer", "normal")
BLOCKS = 3


def _run(module, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _metrics(quality: float) -> dict[str, dict[str, float]]:
    """Metrics of every task scaled so that relative performance is about +quality %."""
    out: dict[str, dict[str, float]] = {}
    for task in TASKS:
        spec = get_task(task)
        out[task] = {m.name: (1.0 + quality / 100) if m.higher_is_better else (1.0 - quality / 100) for m in spec.metrics}
    return out


def _write(path: Path, metrics: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": metrics}))


@pytest.fixture
def results(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "config.yaml"
    config.write_text(
        "experiment: cmp\n"
        f"tasks: [{', '.join(TASKS)}]\n"
        f"backbone: {{blocks: {BLOCKS}}}\n"
        "recommend: {budgets: [1.0, 2.0]}\n"
        "oracle: {sample: null, seeds: [0, 1]}\n"
    )
    res = tmp_path / "results"
    rng = np.random.default_rng(0)
    delta = np.zeros((3, 3, BLOCKS + 1))
    for a in range(3):
        for b in range(3):
            if a != b:
                delta[a, b, 1:] = rng.normal(size=BLOCKS)
    table = TwoTaskTable(TASKS, delta)
    write_tidy_csv(table, res / "estimator" / "two_task_table.csv")
    perf = performance_table(table)
    write_performance_table(perf, res / "performance_table.csv")
    for task in TASKS:
        _write(res / "single" / task / "metrics.json", {task: _metrics(0.0)[task]})
    # real Δt follows the predicted score loosely, with seed noise
    for i, score in enumerate(perf["score"]):
        for seed in (0, 1):
            _write(res / "oracle" / "layouts" / str(i) / f"seed{seed}" / "metrics.json", _metrics(2 * score + 0.1 * seed + 0.2 * np.sin(i)))
    layouts = enumerate_layouts(3, BLOCKS)
    diss = rng.uniform(0.2, 0.8, size=(BLOCKS, 3, 3))
    costs = dissimilarity_costs(layouts, (diss + diss.transpose(0, 2, 1)) / 2)
    frame = pd.DataFrame({"id": range(len(layouts)), "layout": [l.format() for l in layouts], "cost": costs, "score": -costs})
    (res / "baselines").mkdir(parents=True)
    frame.to_csv(res / "baselines" / "what_to_share.csv", index=False)
    (res / "baselines" / "what_to_share.json").write_text(json.dumps(
        {"choices": [{"budget": 1.0, "id": 0, "cost": float(costs[0])}, {"budget": 2.0, "id": 4, "cost": float(costs[4])}]}))
    return config, res


def test_oracle_and_baselines_cli_and_tables(results: tuple[Path, Path]) -> None:
    config, res = results
    assert _run(oracle_cli, ["oracle", "sample", "--config", str(config), "--out", str(res / "oracle" / "sample.csv")]) == 0
    sample = pd.read_csv(res / "oracle" / "sample.csv")
    assert list(sample["id"]) == list(range(len(enumerate_layouts(3, BLOCKS))))
    assert _run(baselines_cli, ["baselines", "task-grouping", "--config", str(config),
                                "--table", str(res / "estimator" / "two_task_table.csv"),
                                "--out", str(res / "baselines" / "task_grouping.csv"),
                                "--choices", str(res / "baselines" / "task_grouping.json")]) == 0
    groups = pd.read_csv(res / "baselines" / "task_grouping.csv")
    assert len(groups) == 5  # Bell(3) "groups" layouts, including #0 and the independent layout
    assert 0 in set(groups["id"])
    choices = json.loads((res / "baselines" / "task_grouping.json").read_text())["choices"]
    assert choices[0]["partition"]["id"] == 0  # one backbone: everything shared
    assert _run(oracle_cli, ["oracle", "correlate", "--config", str(config), "--results", str(res),
                             "--sample", str(res / "oracle" / "sample.csv"),
                             "--performance-table", str(res / "performance_table.csv"),
                             "--what-to-share", str(res / "baselines" / "what_to_share.csv"),
                             "--task-grouping", str(res / "baselines" / "task_grouping.csv"),
                             "--resamples", "200", "--out", str(res / "oracle" / "correlation.json"),
                             "--scatter", str(res / "oracle" / "scatter.png")]) == 0
    report = json.loads((res / "oracle" / "correlation.json").read_text())
    ours = report["methods"]["ours"]["correlation"]["pearson"]
    assert ours["value"] > 0.9 and ours["ci_low"] <= ours["value"] <= ours["ci_high"]
    assert report["methods"]["task_grouping"]["layouts"] == 5
    assert report["seed_spread"]["seeds"] == 2 and report["seed_spread"]["max_std"] > 0
    assert set(report["per_task"]) == set(TASKS)
    assert all(-1.0 <= v["pearson"] <= 1.0 for v in report["per_task"].values())
    assert (res / "oracle" / "scatter.png").stat().st_size > 1000

    out = res / "report" / "comparison"
    assert _run(baselines_cli, ["baselines", "compare", "--config", str(config), "--results", str(res), "--out", str(out)]) == 0
    md = (out / "table1_top.md").read_text()
    assert "Ind. models" in md and "All-shared #0" in md and "Independent #" in md
    top = performance_table_top(res)
    assert f"#{top}" in md
    tex = (out / "table4_baselines.tex").read_text()
    assert "What-to-Share" in tex and "Task-Grouping" in tex and "\\toprule" in tex and "Delta t" in tex
    t3 = (out / "table3_correlation.md").read_text()
    assert "Ours" in t3 and "What-to-Share" in t3 and "Pearson" in t3
    per_task = pd.read_csv(out / "table3_per_task.csv")
    assert list(per_task["Task"]) == list(TASKS) and per_task["Pearson"].between(-1, 1).all()
    t2 = pd.read_csv(out / "table2_budgets.csv")
    assert "1 models" in set(t2["Budget"].dropna())
    assert (out / "comparison.md").is_file() and (out / "cost_vs_delta.png").is_file()


def performance_table_top(res: Path) -> int:
    perf = pd.read_csv(res / "performance_table.csv")
    return int(perf.sort_values(["score", "id"], ascending=[False, True])["id"].iloc[0])


def test_table3_formats_rows() -> None:
    entry = {"value": 0.5, "p_value": 0.1, "ci_low": 0.2, "ci_high": 0.7}
    corr = {"top_k": 5, "methods": {"ours": {"layouts": 10, "correlation": {m: entry for m in ("pearson", "spearman", "kendall")},
                                            "regret": [{"budget": 1.0, "candidates": 3, "best_id": 4, "best_real": 2.0, "top1_id": 4,
                                                        "top1_real": 2.0, "regret_top1": 0.0, "regret_topk": 0.0}]}}}
    frame, regrets = table3(corr)
    assert frame.loc[0, "Method"] == "Ours" and frame.loc[0, "Pearson 95% CI"] == "[0.200, 0.700]"
    assert regrets.loc[0, "Top-1"] == "#4" and regrets.loc[0, "Regret@1"] == 0.0
