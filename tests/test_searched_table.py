"""The searched baselines' table on a hand-made results folder (no training): rows, Δ, cost, the
compute read from benchmark files, the figure, and a missing benchmark named."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from treemtl.cli import baselines as baselines_cli
from treemtl.core.layout import Layout, layout_id
from treemtl.core.relative_performance import overall_relative_performance
from treemtl.errors import TreeMTLError
from treemtl.results_tree import ResultsTree
from treemtl.training.tasks import get_task

TASKS = ("segment_semantic", "depth_zbuffer")
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
#: The recommender's picks per budget: (id, FLOPs % of independent, predicted score, trained Δ).
PICKS = {1.0: [(0, 50.0, 0.5, 1.0)], 1.5: [(5, 75.0, 2.0, 3.0), (4, 70.0, 1.5, 2.5)]}
LTB = Layout.parse("01|0,1|0,1")
INDEPENDENT = f"#{layout_id(Layout.independent(len(TASKS), 3))}"


def _metrics(quality: float) -> dict[str, dict[str, float]]:
    """Metrics of every task with a relative performance of exactly +quality % against all-ones."""
    out: dict[str, dict[str, float]] = {}
    for task in TASKS:
        out[task] = {m.name: 1.0 + quality / 100 if m.higher_is_better else 1.0 - quality / 100
                     for m in get_task(task).metrics}
    return out


def _write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


def _benchmark(path: Path, wall: float, cpu: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:01\t1\t1\t1\t1\t0\t0\t50\t{cpu}\n")
    return path


@pytest.fixture
def results(tmp_path: Path) -> tuple[Path, ResultsTree, list[Path]]:
    config = tmp_path / "config.yaml"
    config.write_text(f"experiment: fake\ntasks: [{', '.join(TASKS)}]\nbackbone: {{blocks: 3}}\n"
                      "recommend: {budgets: [1.0, 1.5]}\n")
    tree = ResultsTree(tmp_path / "results")
    for task in TASKS:
        _write_json(tree.single_metrics(task), {"metrics": {task: _metrics(0.0)[task]}})
        _benchmark(tree.benchmark(f"single/{task}"), 10.0, 9.0)
    recommender = [tree.benchmark(f"single/{task}") for task in TASKS]
    recommender += [_benchmark(tree.benchmark(f"pairs/{'__'.join(TASKS)}/branch{k}"), 20.0, 18.0) for k in (1, 2, 3)]
    _write_json(tree.final_metrics(0), {"metrics": _metrics(1.0)})
    _benchmark(tree.benchmark("final/0"), 5.0, 4.0)
    for budget, picks in PICKS.items():
        rows = []
        for pick_id, flops, score, delta in picks:
            rows.append({"id": pick_id, "layout": f"layout {pick_id}", "score": score, "flops_pct": flops, "params_pct": flops})
            _write_json(tree.final_metrics(pick_id), {"metrics": _metrics(delta)})
            _benchmark(tree.benchmark(f"final/{pick_id}"), 6.0 + pick_id, 5.0 + pick_id)
        tree.recommendation(budget).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(tree.recommendation(budget), index=False)
    _write_search(tree, None, LTB, 1.4, _metrics(-2.0), (30.0, 7.0))
    _write_json(tree.automtl_metrics, {"metrics": _metrics(-4.0)})
    _write_json(tree.automtl_cost, {"models": 1.6, "flops_pct": 80.0, "params_pct": 90.0})
    for path, wall in zip(tree.automtl_benchmarks, (40.0, 8.0)):
        _benchmark(path, wall, wall - 1.0)
    return config, tree, recommender


def _write_search(tree: ResultsTree, target: float | None, layout: Layout, models: float,
                  metrics: dict[str, dict[str, float]], walls: tuple[float, float]) -> None:
    """One Learning to Branch search (FLOPs target ``target``) and its retraining, with their benchmarks."""
    pct = 100.0 * models / len(TASKS)
    _write_json(tree.learn_to_branch_search(target),
                {"method": "learn_to_branch", "tasks": list(TASKS), "layout": layout.format(), "id": layout_id(layout),
                 "models": models, "flops_pct": pct, "params_pct": pct + 10.0})
    _write_json(tree.learn_to_branch_metrics(target), {"metrics": metrics})
    for path, wall in zip(tree.learn_to_branch_benchmarks(target), walls):
        _benchmark(path, wall, wall - 1.0)


def _table(config: Path, tree: ResultsTree, benchmarks: list[Path]) -> int:
    parser = argparse.ArgumentParser()
    baselines_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["baselines", "searched-table", "--config", str(config), "--results", str(tree.root),
                              "--recommender-benchmarks", *map(str, benchmarks),
                              "--out", str(tree.searched_table("md"))])
    return args.func(args)


def test_searched_table_sets_each_method_beside_the_recommender(results) -> None:
    config, tree, recommender = results
    assert _table(config, tree, recommender) == 0
    for suffix in ("md", "csv", "tex", "png"):
        assert tree.searched_table(suffix).stat().st_size > 0
    frame = pd.read_csv(tree.searched_table("csv"))
    by_model = frame.set_index(["Method", "Model"])
    assert list(frame["Method"]) == ["Independent", "All-shared", "Ours", "Ours", "Ours", "Learn-to-Branch", "AutoMTL"]
    # trained Δ per task and Δt of every row, from its own metrics.json against the singles
    expected = {("Independent", INDEPENDENT): 0.0, ("All-shared", "#0"): 1.0, ("Ours", "#0 (rank 1)"): 1.0,
                ("Ours", "#5 (rank 1)"): 3.0, ("Ours", "#4 (rank 2)"): 2.5,
                ("Learn-to-Branch", f"#{layout_id(LTB)}"): -2.0, ("AutoMTL", "derived model"): -4.0}
    for key, delta in expected.items():
        row = by_model.loc[key]
        assert row["Δt"] == pytest.approx(delta) and row["Δseg"] == pytest.approx(delta)
        assert row["Δdepth"] == pytest.approx(delta)
    # cost: change vs independent, backbones' worth of FLOPs, the budget each searched model fits
    assert by_model.loc[("All-shared", "#0"), "FLOPs vs ind. (%)"] == pytest.approx(-50.0)
    assert by_model.loc[("Ours", "#5 (rank 1)"), "Models"] == pytest.approx(1.5)
    assert by_model.loc[("Ours", "#5 (rank 1)"), "Budget"] == "1.5 models"
    ltb = by_model.loc[("Learn-to-Branch", f"#{layout_id(LTB)}")]
    assert (ltb["Layout"], ltb["Budget"]) == (LTB.format(), "1.5 models")
    assert (ltb["FLOPs vs ind. (%)"], ltb["Params vs ind. (%)"]) == (pytest.approx(-30.0), pytest.approx(-20.0))
    automtl = by_model.loc[("AutoMTL", "derived model")]
    assert (automtl["FLOPs vs ind. (%)"], automtl["Params vs ind. (%)"]) == (pytest.approx(-20.0), pytest.approx(-10.0))
    assert automtl["Budget"] == "over every budget"
    # compute: the recommender's singles + pairs once per pick, plus that pick's final training
    ours = by_model.loc[("Ours", "#5 (rank 1)")]
    assert (ours["Search s"], ours["Retrain s"], ours["CPU s"]) == (80.0, 11.0, 2 * 9.0 + 3 * 18.0 + 10.0)
    assert (ltb["Search s"], ltb["Retrain s"], ltb["CPU s"]) == (30.0, 7.0, 29.0 + 6.0)
    assert (automtl["Search s"], automtl["Retrain s"], automtl["CPU s"]) == (40.0, 8.0, 39.0 + 7.0)
    independent = by_model.loc[("Independent", INDEPENDENT)]
    assert pd.isna(independent["Search s"]) and independent["Retrain s"] == 20.0
    markdown = tree.searched_table("md").read_text()
    assert "| Learn-to-Branch" in markdown and "| AutoMTL" in markdown


def test_a_missing_benchmark_file_is_named(results) -> None:
    config, tree, recommender = results
    tree.automtl_benchmarks[0].unlink()
    with pytest.raises(TreeMTLError, match=r"automtl/search\.tsv: benchmark file not found"):
        _table(config, tree, recommender)


def test_a_searched_baseline_not_yet_retrained_has_no_row(results) -> None:
    config, tree, recommender = results
    tree.automtl_metrics.unlink()
    assert _table(config, tree, recommender) == 0
    assert "AutoMTL" not in set(pd.read_csv(tree.searched_table("csv"))["Method"])


def _uneven(seed: int) -> dict[str, dict[str, float]]:
    """Metrics of every task, each metric off its single-task value by its own random amount."""
    rng = np.random.default_rng(seed)
    return {task: {m.name: float(rng.uniform(0.8, 1.2)) for m in get_task(task).metrics} for task in TASKS}


def test_one_learn_to_branch_row_per_recommend_budget(results) -> None:
    """``budget: recommend``: one retrained search per recommend budget, each in a row at the budget it
    targeted, with its own measured cost and Δ from the relative-performance function of its metrics."""
    config, tree, recommender = results
    config.write_text(config.read_text() + "baselines: {learn_to_branch: {budget: recommend}}\n")
    searched = {1.0: (Layout.parse("01|01|0,1"), 1.3, _uneven(1)), 1.5: (LTB, 1.7, _uneven(2))}
    for target, (layout, models, metrics) in searched.items():
        _write_search(tree, target, layout, models, metrics, (20.0 + target, 5.0))
    assert _table(config, tree, recommender) == 0
    frame = pd.read_csv(tree.searched_table("csv"))
    ltb = frame[frame["Method"] == "Learn-to-Branch"]
    # the fixture's unconstrained search is not one of this config's searches
    assert list(ltb["Budget"]) == ["1 models", "1.5 models"]
    assert list(ltb["Model"]) == [f"#{layout_id(layout)}" for layout, _, _ in searched.values()]
    assert list(ltb["Models"]) == pytest.approx([1.3, 1.7])  # measured: 1.7 is over its 1.5 target
    reference = {task: _metrics(0.0)[task] for task in TASKS}
    directions = {task: get_task(task).directions for task in TASKS}
    for (_, row), (target, (_, _, metrics)) in zip(ltb.iterrows(), searched.items()):
        total, per_task = overall_relative_performance(TASKS, metrics, reference, directions)
        assert row["Δt"] == pytest.approx(total)
        assert (row["Δseg"], row["Δdepth"]) == (pytest.approx(per_task[TASKS[0]].percent),
                                              pytest.approx(per_task[TASKS[1]].percent))
        assert (row["Search s"], row["Retrain s"]) == (20.0 + target, 5.0)


def test_a_budget_whose_search_is_not_retrained_has_no_row(results) -> None:
    config, tree, recommender = results
    config.write_text(config.read_text() + "baselines: {learn_to_branch: {budget: recommend}}\n")
    _write_search(tree, 1.5, LTB, 1.4, _metrics(1.0), (9.0, 3.0))
    assert _table(config, tree, recommender) == 0
    frame = pd.read_csv(tree.searched_table("csv"))
    assert list(frame.loc[frame["Method"] == "Learn-to-Branch", "Budget"]) == ["1.5 models"]
