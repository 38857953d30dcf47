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


def _uneven(seed: int) -> dict[str, dict[str, float]]:
    """Metrics of every task, each metric off its single-task value by its own random amount."""
    rng = np.random.default_rng(seed)
    return {task: {m.name: float(rng.uniform(0.8, 1.2)) for m in get_task(task).metrics} for task in TASKS}


def test_searched_baselines_are_measured_rows_of_table4(results: tuple[Path, Path], monkeypatch) -> None:
    """Learning to Branch (one search per budget) and AutoMTL in Table 4 and the cost/accuracy figure:
    cost from their own files, Δ per task and Δt from the relative-performance function of their metrics."""
    from treemtl.core.layout import Layout, layout_id
    from treemtl.core.relative_performance import overall_relative_performance
    from treemtl.evaluation.report import comparison
    from treemtl.results_tree import ResultsTree

    config, res = results
    config.write_text(config.read_text() + "baselines: {learn_to_branch: {budget: recommend}}\n")
    tree = ResultsTree(res)
    searched = {1.0: (Layout.parse("012|012|012"), 30.0, _uneven(1)), 2.0: (Layout.parse("012|012|01,2"), 40.0, _uneven(2))}
    for target, (layout, pct, metrics) in searched.items():
        tree.learn_to_branch_search(target).parent.mkdir(parents=True)
        tree.learn_to_branch_search(target).write_text(json.dumps(
            {"method": "learn_to_branch", "tasks": list(TASKS), "layout": layout.format(), "id": layout_id(layout),
             "models": 3 * pct / 100, "flops_pct": pct, "params_pct": pct + 5}))
        _write(tree.learn_to_branch_metrics(target), metrics)
    automtl = _uneven(3)
    _write(tree.automtl_metrics, automtl)
    tree.automtl_cost.write_text(json.dumps({"models": 2.4, "flops_pct": 80.0, "params_pct": 70.0}))
    assert _run(oracle_cli, ["oracle", "sample", "--config", str(config), "--out", str(tree.oracle_sample)]) == 0
    assert _run(oracle_cli, ["oracle", "correlate", "--config", str(config), "--results", str(res),
                             "--sample", str(tree.oracle_sample), "--performance-table", str(tree.performance_table),
                             "--what-to-share", str(tree.what_to_share_csv), "--resamples", "20",
                             "--out", str(tree.oracle_correlation), "--scatter", str(tree.oracle_scatter)]) == 0
    legends: dict[str, list[str]] = {}
    save = comparison.save_figure_atomic

    def record(path, fig):  # type: ignore[no-untyped-def]
        legends[Path(path).name] = [text.get_text() for ax in fig.axes if ax.get_legend() for text in ax.get_legend().get_texts()]
        return save(path, fig)

    monkeypatch.setattr(comparison, "save_figure_atomic", record)
    out = res / "report" / "comparison"
    assert _run(baselines_cli, ["baselines", "compare", "--config", str(config), "--results", str(res), "--out", str(out)]) == 0

    frame = pd.read_csv(out / "table4_baselines.csv")
    reference = {task: _metrics(0.0)[task] for task in TASKS}
    directions = {task: get_task(task).directions for task in TASKS}
    ltb = frame[frame["Method"] == "Learn-to-Branch"]
    assert list(ltb["Budget"]) == ["1 models", "2 models"]
    assert list(ltb["Model"]) == [f"#{layout_id(layout)}" for layout, _, _ in searched.values()]
    assert list(ltb["Layout"]) == [layout.format() for layout, _, _ in searched.values()]
    assert list(ltb["FLOPs vs ind. (%)"]) == pytest.approx([-70.0, -60.0])
    assert list(ltb["Params vs ind. (%)"]) == pytest.approx([-65.0, -55.0])
    assert set(ltb["Source"]) == {"learn-to-branch retrain"}
    (aut,) = frame[frame["Method"] == "AutoMTL"].to_dict("records")
    assert (aut["FLOPs vs ind. (%)"], aut["Params vs ind. (%)"]) == (pytest.approx(-20.0), pytest.approx(-30.0))
    assert aut["Budget"] == "over every budget"  # 2.4 models, no target: the smallest budget it fits
    rows = [*ltb.to_dict("records"), aut]
    for row, metrics in zip(rows, [m for _, _, m in searched.values()] + [automtl]):
        total, per_task = overall_relative_performance(TASKS, metrics, reference, directions)
        assert row["Δt"] == pytest.approx(total)
        for task in TASKS:
            assert row[f"Δ{comparison.short(task)}"] == pytest.approx(per_task[task].percent)
    assert {"Ours", "What-to-Share"} <= set(frame["Method"])  # beside the rankings' picks
    assert {"Learn-to-Branch", "AutoMTL"} <= set(legends["cost_vs_delta.png"])
    index = (out / "comparison.md").read_text()
    assert "Learn-to-Branch" in index and "AutoMTL" in index
