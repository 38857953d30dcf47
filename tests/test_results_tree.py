"""The results tree: one place that knows every artifact's path, and the commands given explicit files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from treemtl.cli import main
from treemtl.errors import TreeMTLError
from treemtl.results_tree import ResultsTree, budget_label, learn_to_branch_name, pair_name

TASKS = ["segment_semantic", "depth_zbuffer", "keypoints2d"]
METRICS = {
    "segment_semantic": {"miou": 0.40, "pixel_acc": 0.80},
    "depth_zbuffer": {"abs_err": 0.50, "rel_err": 0.20, "delta_1": 0.6, "delta_2": 0.8, "delta_3": 0.9},
    "keypoints2d": {"error": 0.10},
}


def test_paths_of_the_documented_layout() -> None:
    tree = ResultsTree.of_experiment("exp")
    root = Path("results/exp")
    assert tree.root == root
    assert tree.single_metrics("depth_zbuffer") == root / "single/depth_zbuffer/metrics.json"
    assert tree.single_model("depth_zbuffer", 2) == root / "single/depth_zbuffer/seed2/model.pt"
    pair = pair_name("segment_semantic", "normal")
    assert tree.pair_metrics(pair, 3, 1) == root / "pairs/segment_semantic__normal/branch3/seed1/metrics.json"
    assert tree.recommendation(1.5) == root / "recommend/budget1.5.csv"
    assert tree.recommendation(2.0) == tree.recommendation("2") == root / "recommend/budget2.csv"
    assert tree.final_model(7) == root / "final/7/model.pt"
    assert tree.oracle_metrics(7, 1) == root / "oracle/layouts/7/seed1/metrics.json"
    assert tree.performance_lookup.with_suffix(".csv") == tree.performance_table
    assert tree.log("pairs/a__b/branch1") == root / "logs/pairs/a__b/branch1.log"
    assert tree.data_ready(True, None) == root / "data/manifest.json"
    assert tree.data_ready(True, "/data/synth") == Path("/data/synth/manifest.json")
    assert tree.data_ready(False, "/data/nyu") == root / "data/located.json"
    assert budget_label(1.0) == "1" and budget_label("1.50") == "1.50"


def test_wildcards_give_the_rule_patterns() -> None:
    tree = ResultsTree.of_experiment("exp")
    assert str(tree.pair_model("{pair}", "{branch}", "{repeat_seed}")) == (
        "results/exp/pairs/{pair}/branch{branch}/seed{repeat_seed}/model.pt")
    assert str(tree.final_metrics("{layout_id}")) == "results/exp/final/{layout_id}/metrics.json"


def test_each_learn_to_branch_search_has_its_folder() -> None:
    """One folder per FLOPs target (``budget<x>``, like the recommendations), ``unconstrained`` without one."""
    tree = ResultsTree.of_experiment("exp")
    root = Path("results/exp/baselines/learn_to_branch")
    assert tree.learn_to_branch_search(1.5) == root / "budget1.5/search.json"
    assert tree.learn_to_branch_metrics(2.0) == root / "budget2/final/metrics.json"
    assert tree.learn_to_branch_model(None) == root / "unconstrained/final/model.pt"
    assert tree.learn_to_branch_benchmarks(1.0) == (Path("results/exp/benchmarks/baselines/learn_to_branch/budget1/search.tsv"),
                                                    Path("results/exp/benchmarks/baselines/learn_to_branch/budget1/retrain.tsv"))
    assert tree.log(tree.learn_to_branch_log_name(None, "retrain")) == Path(
        "results/exp/logs/baselines/learn_to_branch/unconstrained/retrain.log")
    assert str(tree.learn_to_branch_search("{ltb_search}")) == "results/exp/baselines/learn_to_branch/{ltb_search}/search.json"
    assert learn_to_branch_name(2.5) == "budget2.5" and learn_to_branch_name(None) == "unconstrained"


def test_two_task_metrics_cover_every_run_once() -> None:
    tree = ResultsTree(Path("r"))
    files = tree.two_task_metrics(TASKS, 2, repeat_seeds=[5])
    assert len(files) == len(set(files)) == 2 * (3 + 3 * 2)
    assert Path("r/pairs/depth_zbuffer__keypoints2d/branch2/seed5/metrics.json") in files
    assert all(ResultsTree.of_training_run(path) == tree for path in files)


def test_imports_nothing_heavy() -> None:
    """The workflow imports the tree while Snakemake parses it: no numpy, pandas or torch."""
    code = ("import sys, treemtl.results_tree; "
            "print([m for m in ('numpy', 'pandas', 'torch', 'yaml') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_not_a_training_run_is_named() -> None:
    with pytest.raises(TreeMTLError, match="other/metrics.json: not a file of a training run"):
        ResultsTree.of_training_run("other/metrics.json")


def _write_runs(tree: ResultsTree, blocks: int) -> list[Path]:
    files = tree.two_task_metrics(TASKS, blocks)
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        tasks = [path.parent.name] if path.parent.parent.name == "single" else path.parts[-3].split("__")
        path.write_text(json.dumps({"metrics": {task: METRICS[task] for task in tasks}}))
    return files


def test_two_task_table_from_explicit_files(tmp_path: Path) -> None:
    tree = ResultsTree(tmp_path / "results" / "x")
    files = _write_runs(tree, blocks=2)
    by_files, by_folder = tmp_path / "files.csv", tmp_path / "folder.csv"
    common = ["--tasks", ",".join(TASKS), "--blocks", "2"]
    assert main(["two-task-table", "--metrics", *map(str, files), *common, "--out", str(by_files)]) == 0
    assert main(["two-task-table", "--results", str(tree.root), *common, "--out", str(by_folder)]) == 0
    assert by_files.read_text() == by_folder.read_text()
    assert len(pd.read_csv(by_files)) == 3 * 3


@pytest.mark.parametrize(
    ("drop", "add", "fragment"),
    [
        (1, None, "1 run(s) of the table not given"),
        (0, "pairs/segment_semantic__keypoints2d/branch3/metrics.json", "branch3/metrics.json is not a run"),
        (0, "../../other/single/keypoints2d/metrics.json", "files from 2 results folders"),
    ],
)
def test_two_task_table_files_must_be_exactly_the_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       drop: int, add: str | None, fragment: str) -> None:
    tree = ResultsTree(tmp_path / "results" / "x")
    files = [str(path) for path in _write_runs(tree, blocks=2)][drop:]
    if add:
        files.append(str(tree.root / add))
    argv = ["two-task-table", "--metrics", *files, "--tasks", ",".join(TASKS), "--blocks", "2",
            "--out", str(tmp_path / "t.csv")]
    assert main(argv) == 2
    assert fragment in capsys.readouterr().err
