"""Task weightings of the score: svde (the paper's, default), equal, user priorities; their CLI flags,
the priority-weighted Δt of the reports, and the oracle's side-by-side comparison of weightings."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from treemtl.cli import baselines as baselines_cli
from treemtl.cli import main
from treemtl.cli import oracle as oracle_cli
from treemtl.core.estimator import TwoTaskTable, estimate_tasks, load_two_task_table, task_weights, write_tidy_csv
from treemtl.core.layout import layout_space
from treemtl.core.recommend import performance_table, write_performance_table
from treemtl.core.relative_performance import overall_relative_performance
from treemtl.core.weighting import EQUAL, PRIORITIES, SVDE, Weighting, compared_weightings, parse_weighting
from treemtl.errors import TreeMTLError
from treemtl.evaluation.report.comparison import table3_weightings
from treemtl.evaluation.weighting_comparison import compare_weightings
from treemtl.training.config import config_from_dict
from treemtl.training.tasks import get_task

TASKS = ("segment_semantic", "depth_zbuffer", "normal")


def _table(seed: int = 0, blocks: int = 5) -> TwoTaskTable:
    rng = np.random.default_rng(seed)
    delta = np.zeros((3, 3, blocks + 1))
    for a in range(3):
        for b in range(3):
            if a != b:
                delta[a, b, 1:] = np.cumsum(rng.normal(size=blocks))
    return TwoTaskTable(TASKS, delta)


# --------------------------------------------------------------------------- parsing and weights
def test_parse_every_form() -> None:
    assert parse_weighting("svde") == Weighting(SVDE)
    assert parse_weighting(" equal ") == Weighting(EQUAL)
    given = parse_weighting("normal=2, depth_zbuffer=1,segment_semantic=1")
    assert given.kind == PRIORITIES and given.priorities == {"normal": 2.0, "depth_zbuffer": 1.0, "segment_semantic": 1.0}
    assert parse_weighting(given.text()) == given == parse_weighting(given.to_config())
    assert parse_weighting({"a": 1, "b": 0}).priorities == {"a": 1.0, "b": 0.0}


@pytest.mark.parametrize(("text", "fragment"), [
    ("entropy", "expected svde, equal or task=priority"),
    ("a=1,b", "expected task=priority, got 'b'"),
    ("a=x", "priority of a must be a number"),
    ("a=-1", "finite number >= 0"),
    ("a=0,b=0", "at least one task priority must be > 0"),
    ("a=1,a=2", "task a given twice"),
])
def test_bad_weighting_is_one_clear_error(text: str, fragment: str) -> None:
    with pytest.raises(TreeMTLError, match="--weighting") as info:
        parse_weighting(text)
    assert fragment in str(info.value)


def test_weights_of_each_weighting() -> None:
    table = _table()
    np.testing.assert_allclose(Weighting(SVDE).weights(table), task_weights(table))
    np.testing.assert_allclose(Weighting(EQUAL).weights(table), [1 / 3] * 3)
    priorities = parse_weighting("segment_semantic=2,depth_zbuffer=1,normal=1")
    np.testing.assert_allclose(priorities.weights(table), [0.5, 0.25, 0.25])
    assert priorities.delta_weights(TASKS) == {"segment_semantic": 0.5, "depth_zbuffer": 0.25, "normal": 0.25}
    assert Weighting(EQUAL).delta_weights(TASKS) is None and Weighting(SVDE).delta_weights(TASKS) is None
    with pytest.raises(TreeMTLError, match="missing normal"):
        parse_weighting("segment_semantic=1,depth_zbuffer=1").weights(table)
    assert [w.name for w in compared_weightings(Weighting(SVDE))] == ["svde", "equal"]
    assert [w.name for w in compared_weightings(priorities)] == ["svde", "equal", "priorities"]


def test_config_key_defaults_to_svde_and_checks_priorities() -> None:
    assert config_from_dict({"experiment": "x"}).estimator.weights == "svde"
    config = config_from_dict({"experiment": "x", "estimator": {"weights": {"normal": 3, "depth_zbuffer": 1,
                                                                            "segment_semantic": 0}}})
    assert config.estimator.weights == {"normal": 3.0, "depth_zbuffer": 1.0, "segment_semantic": 0.0}
    assert config_from_dict(config.to_dict()) == config
    with pytest.raises(TreeMTLError, match=r"estimator\.weights: .*missing segment_semantic"):
        config_from_dict({"experiment": "x", "estimator": {"weights": {"normal": 1, "depth_zbuffer": 1}}})
    with pytest.raises(TreeMTLError, match=r"estimator\.weights: expected one of svde, equal or a mapping"):
        config_from_dict({"experiment": "x", "estimator": {"weights": "entropy"}})


def test_priority_weighted_delta_t() -> None:
    directions = {task: get_task(task).directions for task in TASKS}
    reference = {task: {m: 1.0 for m in directions[task]} for task in TASKS}
    gains = {"segment_semantic": 10.0, "depth_zbuffer": -4.0, "normal": 1.0}
    metrics = {task: {m: 1.0 + (g / 100 if up else -g / 100) for m, up in directions[task].items()}
               for task, g in gains.items()}
    mean, _ = overall_relative_performance(TASKS, metrics, reference, directions)
    weighted, _ = overall_relative_performance(TASKS, metrics, reference, directions,
                                               weights={"segment_semantic": 0.5, "depth_zbuffer": 0.25, "normal": 0.25})
    assert mean == pytest.approx(7 / 3) and weighted == pytest.approx(5.0 - 1.0 + 0.25)


# --------------------------------------------------------------------------- CLI
def test_weights_command_records_its_weighting(tmp_path: Path) -> None:
    table = tmp_path / "table.csv"
    write_tidy_csv(_table(), table)
    out = tmp_path / "w.json"
    assert main(["weights", "--table", str(table), "--out", str(out)]) == 0
    svde = json.loads(out.read_text())
    assert svde["weighting"] == "svde" and svde["entropy"] is not None  # the default: the paper's weights
    assert list(svde["weights"].values()) == pytest.approx(task_weights(_table()).tolist())
    assert main(["weights", "--table", str(table), "--weighting", "normal=2,depth_zbuffer=1,segment_semantic=1",
                 "--out", str(out)]) == 0
    given = json.loads(out.read_text())
    assert given["weighting"] == {"normal": 2.0, "depth_zbuffer": 1.0, "segment_semantic": 1.0}
    assert given["weights"] == {"segment_semantic": 0.25, "depth_zbuffer": 0.25, "normal": 0.5}


def test_performance_table_and_recommend_take_the_weighting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "table.csv"
    write_tidy_csv(_table(), table)
    out = tmp_path / "perf.csv"
    assert main(["performance-table", "--table", str(table), "--blocks", "5", "--weighting", "equal",
                 "--out", str(out), "--npz", str(tmp_path / "perf.npz")]) == 0
    frame = pd.read_csv(out)
    estimates = frame[[f"est_{t}" for t in TASKS]].to_numpy()
    np.testing.assert_allclose(frame["score"], estimates.mean(axis=1))
    capsys.readouterr()
    assert main(["recommend", "--table", str(table), "--blocks", "5", "--weighting", "equal",
                 "--format", "csv", "--top-k", "3"]) == 0
    top = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert list(top["id"]) == list(frame.sort_values(["score", "id"], ascending=[False, True])["id"][:3])
    assert main(["recommend", "--performance-table", str(tmp_path / "perf.npz"), "--weighting", "equal"]) == 2
    assert "already holds its task weights" in capsys.readouterr().err
    weights = tmp_path / "w.json"
    assert main(["weights", "--table", str(table), "--out", str(weights)]) == 0
    assert main(["performance-table", "--table", str(table), "--blocks", "5", "--weights", str(weights),
                 "--weighting", "equal", "--out", str(out)]) == 2
    assert "written with weighting svde, but --weighting equal" in capsys.readouterr().err


# --------------------------------------------------------------------------- oracle and Table 3
def test_compare_weightings_finds_the_weighting_the_real_delta_uses() -> None:
    table = _table(seed=3)
    estimates = estimate_tasks(table, layout_space(3, 5))
    priorities = parse_weighting("segment_semantic=1,depth_zbuffer=0,normal=3")
    real = {i: float(v) for i, v in enumerate(estimates @ priorities.weights(table))}
    masks = {2.0: np.ones(len(estimates), dtype=bool)}
    result = compare_weightings(table, estimates, real, masks, compared_weightings(priorities), resamples=50, top_k=5)
    assert list(result) == ["svde", "equal", "priorities"]
    assert result["priorities"]["correlation"]["pearson"]["value"] == pytest.approx(1.0)
    assert result["priorities"]["regret"][0]["regret_top1"] == pytest.approx(0.0)
    assert result["equal"]["correlation"]["pearson"]["value"] < 0.999
    assert result["svde"]["weights"] == pytest.approx(dict(zip(TASKS, task_weights(table))))


def _run(module, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _metrics_with(gains: dict[str, float]) -> dict[str, dict[str, float]]:
    """Metrics whose relative performance against all-ones references is exactly ``gains`` (%)."""
    out = {}
    for task, gain in gains.items():
        spec = get_task(task)
        out[task] = {m.name: 1.0 + (gain if m.higher_is_better else -gain) / 100 for m in spec.metrics}
    return out


def test_oracle_correlation_and_table3_report_each_weighting(tmp_path: Path) -> None:
    """With priorities, the real Δt is priority-weighted and the priority score ranks it exactly."""
    blocks = 3
    config = tmp_path / "config.yaml"
    config.write_text(
        "experiment: w\n"
        f"tasks: [{', '.join(TASKS)}]\n"
        f"backbone: {{blocks: {blocks}}}\n"
        "recommend: {budgets: [1.0, 2.0]}\n"
        "estimator: {weights: {segment_semantic: 1, depth_zbuffer: 0, normal: 3}}\n"
        "oracle: {sample: null, seeds: [0]}\n"
    )
    res = tmp_path / "results"
    table = _table(seed=5, blocks=blocks)
    write_tidy_csv(table, res / "estimator" / "two_task_table.csv")
    perf = performance_table(table, weights=np.array([0.25, 0.0, 0.75]))
    write_performance_table(perf, res / "performance_table.csv")
    ones = _metrics_with({task: 0.0 for task in TASKS})
    for task in TASKS:
        (res / "single" / task).mkdir(parents=True)
        (res / "single" / task / "metrics.json").write_text(json.dumps({"metrics": {task: ones[task]}}))
    for i, row in perf.iterrows():
        path = res / "oracle" / "layouts" / str(i) / "seed0" / "metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"metrics": _metrics_with({t: float(row[f"est_{t}"]) for t in TASKS})}))
    sample = res / "oracle" / "sample.csv"
    assert _run(oracle_cli, ["oracle", "sample", "--config", str(config), "--out", str(sample)]) == 0
    out = res / "oracle" / "correlation.json"
    assert _run(oracle_cli, ["oracle", "correlate", "--config", str(config), "--results", str(res),
                             "--sample", str(sample), "--performance-table", str(res / "performance_table.csv"),
                             "--table", str(res / "estimator" / "two_task_table.csv"),
                             "--resamples", "50", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["weighting"] == {"segment_semantic": 1.0, "depth_zbuffer": 0.0, "normal": 3.0}
    assert set(report["weightings"]) == {"svde", "equal", "priorities"}
    assert report["weightings"]["priorities"]["correlation"]["pearson"]["value"] == pytest.approx(1.0)
    assert report["methods"]["ours"]["correlation"]["pearson"]["value"] == pytest.approx(1.0)
    assert all(item["regret_topk"] == pytest.approx(0.0) for item in report["weightings"]["priorities"]["regret"])
    point = report["points"][7]
    assert point["real"] == pytest.approx(0.25 * point["real_per_task"]["segment_semantic"]
                                          + 0.75 * point["real_per_task"]["normal"])

    frame = table3_weightings(report)
    assert list(frame["Weighting"]) == ["svde", "equal", "priorities (used)"]
    assert {"Pearson", "Spearman", "Kendall", "Regret@1 (1)", "Regret@5 (2)"} <= set(frame.columns)
    assert frame.loc[2, "Weights"] == "seg 0.25 / depth 0.00 / normal 0.75"
    for name in ("what_to_share.json", "task_grouping.json"):
        (res / "baselines").mkdir(exist_ok=True)
        (res / "baselines" / name).write_text(json.dumps({"choices": []}))
    compare = res / "report" / "comparison"
    assert _run(baselines_cli, ["baselines", "compare", "--config", str(config), "--results", str(res),
                                "--out", str(compare)]) == 0
    assert "Table 3d" in (compare / "comparison.md").read_text()
    assert pd.read_csv(compare / "table3_weightings.csv")["Pearson"].iloc[2] == pytest.approx(1.0)
    table1 = pd.read_csv(compare / "table1_top.csv").set_index("Model")
    row = table1.loc["All-shared #0"]  # the reports' Δt uses the same priorities
    assert row["Δt"] == pytest.approx(0.25 * row["Δseg"] + 0.75 * row["Δnormal"])
