"""Tidy two-task table from metrics.json files: Δ per task and branch, completeness, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from treemtl.cli import main
from treemtl.errors import TreeMTLError
from treemtl.core.estimator import load_two_task_table
from treemtl.core.relative_performance import relative_performance
from treemtl.training.tasks import get_task
from treemtl.evaluation.two_task_table import COLUMNS, build_two_task_table
from treemtl.results_tree import ResultsTree, pair_name


def single_path(root: Path, task: str, seed: int | None = None) -> Path:
    return ResultsTree(root).single_metrics(task, seed)


def pair_path(root: Path, task_a: str, task_b: str, branch: int, seed: int | None = None) -> Path:
    return ResultsTree(root).pair_metrics(pair_name(task_a, task_b), branch, seed)


TASKS = ["segment_semantic", "depth_zbuffer", "keypoints2d"]
SINGLE = {
    "segment_semantic": {"miou": 0.40, "pixel_acc": 0.80},
    "depth_zbuffer": {"abs_err": 0.50, "rel_err": 0.20, "delta_1": 0.6, "delta_2": 0.8, "delta_3": 0.9},
    "keypoints2d": {"error": 0.10},
}


def _write(path: Path, metrics: dict[str, dict[str, float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"tasks": list(metrics), "metrics": metrics}))


def _scaled(task: str, factor: float) -> dict[str, float]:
    return {name: value * factor for name, value in SINGLE[task].items()}


def _results(root: Path, blocks: int) -> Path:
    """Singles plus pairs whose metrics drift with the branch point in a known way."""
    for task in TASKS:
        _write(single_path(root, task), {task: SINGLE[task]})
    for i, a in enumerate(TASKS):
        for b in TASKS[i + 1:]:
            for k in range(1, blocks + 1):
                _write(pair_path(root, a, b, k), {a: _scaled(a, 1 + 0.01 * k), b: _scaled(b, 1 - 0.02 * k)})
    return root


def test_table_matches_relative_performance(tmp_path: Path) -> None:
    root = _results(tmp_path, blocks=4)
    table = build_two_task_table(root, TASKS, 4)
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 3 * 5  # C(3,2) pairs x branches 0..4
    zero = table[table["branch"] == 0]
    assert (zero[["delta_a", "delta_b"]] == 0).all().all()
    row = table[(table.task_a == "depth_zbuffer") & (table.task_b == "keypoints2d") & (table.branch == 3)].iloc[0]
    assert row.delta_a == pytest.approx(relative_performance("depth_zbuffer", _scaled("depth_zbuffer", 1.03), SINGLE["depth_zbuffer"], get_task("depth_zbuffer").directions).percent)
    assert row.delta_b == pytest.approx(relative_performance("keypoints2d", _scaled("keypoints2d", 0.94), SINGLE["keypoints2d"], get_task("keypoints2d").directions).percent)
    assert row.delta_b == pytest.approx(6.0)  # a 6 % lower keypoint error is +6 %


def test_cli_output_loads_as_a_two_task_table(tmp_path: Path) -> None:
    root = _results(tmp_path / "results", blocks=3)
    out = tmp_path / "table.csv"
    assert main(["two-task-table", "--results", str(root), "--tasks", ",".join(TASKS), "--blocks", "3", "--out", str(out)]) == 0
    loaded = load_two_task_table(out, TASKS, 3)
    assert loaded.num_tasks == 3 and loaded.num_blocks == 3


def test_missing_pair_names_the_file(tmp_path: Path) -> None:
    root = _results(tmp_path, blocks=3)
    missing = pair_path(root, "segment_semantic", "keypoints2d", 2)
    missing.unlink()
    with pytest.raises(TreeMTLError, match="segment_semantic__keypoints2d/branch2/metrics.json: missing"):
        build_two_task_table(root, TASKS, 3)


def test_pair_without_a_task_is_rejected(tmp_path: Path) -> None:
    root = _results(tmp_path, blocks=2)
    _write(pair_path(root, "segment_semantic", "depth_zbuffer", 1), {"segment_semantic": SINGLE["segment_semantic"]})
    with pytest.raises(TreeMTLError, match="no metrics for task 'depth_zbuffer'"):
        build_two_task_table(root, TASKS, 2)


def test_cli_reports_errors_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["two-task-table", "--results", str(tmp_path), "--tasks", "normal", "--blocks", "2", "--out", str(tmp_path / "t.csv")]) == 2
    assert "at least two tasks" in capsys.readouterr().err


def test_zero_reference_metrics_are_left_out_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _results(tmp_path / "results", blocks=1)
    reference = {"abs_err": 0.5, "rel_err": 0.2, "delta_1": 0.0, "delta_2": 0.0, "delta_3": 0.5}
    _write(single_path(root, "depth_zbuffer"), {"depth_zbuffer": reference})
    metrics = {"abs_err": 0.4, "rel_err": 0.2, "delta_1": 0.1, "delta_2": 0.2, "delta_3": 0.55}
    for task in ("segment_semantic", "keypoints2d"):
        a, b = sorted([task, "depth_zbuffer"], key=TASKS.index)
        _write(pair_path(root, a, b, 1), {task: SINGLE[task], "depth_zbuffer": metrics})
    table = build_two_task_table(root, TASKS, 1)
    depth = table[(table.task_b == "depth_zbuffer") & (table.branch == 1)]
    assert list(depth.delta_b) == pytest.approx([100 * (0.2 + 0.0 + 0.1) / 3])
    assert "depth_zbuffer: reference delta_1, delta_2 is 0 or not finite; left out of Δ" in capsys.readouterr().err


def test_repeat_seeds_average_metrics_before_delta(tmp_path: Path) -> None:
    root = _results(tmp_path / "results", blocks=2)
    # seed 1: a worse single-task keypoints model and a pair run that is better than the main one
    _write(single_path(root, "keypoints2d", 1), {"keypoints2d": _scaled("keypoints2d", 1.2)})
    for task in TASKS[:2]:
        _write(single_path(root, task, 1), {task: SINGLE[task]})
    for i, a in enumerate(TASKS):
        for b in TASKS[i + 1:]:
            for k in (1, 2):
                _write(pair_path(root, a, b, k, 1), {a: _scaled(a, 1 + 0.01 * k), b: _scaled(b, 1 - 0.06 * k)})
    out = tmp_path / "table.csv"
    assert main(["two-task-table", "--results", str(root), "--tasks", ",".join(TASKS), "--blocks", "2",
                 "--repeat-seeds", "1", "--out", str(out)]) == 0
    table = load_two_task_table(out, TASKS, 2)
    reference = {"error": SINGLE["keypoints2d"]["error"] * 1.1}  # mean of 1.0 and 1.2
    pair = {"error": SINGLE["keypoints2d"]["error"] * (1 - 0.08)}  # mean of 0.96 and 0.88 at branch 2
    expected = relative_performance("keypoints2d", pair, reference, get_task("keypoints2d").directions).percent
    assert table.delta[2, 0, 2] == pytest.approx(expected)  # keypoints beside segmentation, branch 2
    assert expected != pytest.approx(relative_performance("keypoints2d", {"error": 0.096}, SINGLE["keypoints2d"], get_task("keypoints2d").directions).percent)
    with pytest.raises(TreeMTLError, match=r"seed2/metrics.json: missing"):
        build_two_task_table(root, TASKS, 2, repeat_seeds=[1, 2])
