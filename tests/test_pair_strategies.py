"""Cheaper two-task tables (``pairs``): interpolation along the branch axis, the warm-start
initialisation, the table built from a subset of branches / single-only repeats, and the DAG of
every strategy (dry runs)."""

from __future__ import annotations

import json
from math import comb
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from treemtl.core.branch_interpolation import check_branches, interpolate_branches
from treemtl.core.layout import Layout
from treemtl.errors import TreeMTLError
from treemtl.evaluation.two_task_table import build_two_task_table
from treemtl.nets.model import build_model
from treemtl.results_tree import ResultsTree, pair_name
from treemtl.training.checkpoint import save_model
from treemtl.training.config import config_from_dict
from treemtl.training.tasks import get_task
from treemtl.training.warm_start import warm_started
from workflow_helpers import REPO, dry_run

TASKS = ("segment_semantic", "depth_zbuffer")


# --------------------------------------------------------------------------- interpolation
def test_interpolation_is_linear_between_trained_branches_and_exact_on_them() -> None:
    curve = interpolate_branches({2: 4.0, 5: -2.0}, 5)
    np.testing.assert_allclose(curve, [0.0, 2.0, 4.0, 2.0, 0.0, -2.0])
    known = {k: float(v) for k, v in zip(range(1, 6), [0.3, -1.7, 2.9, 0.1, 5.5])}
    np.testing.assert_array_equal(interpolate_branches(known, 5)[1:], list(known.values()))  # every branch: as measured


@pytest.mark.parametrize("branches", [[1, 2], [0, 5], [2, 2, 5], [], [5, 6]])
def test_branch_subset_must_hold_the_all_shared_point(branches: list[int]) -> None:
    with pytest.raises(TreeMTLError, match=r"expected distinct branch points in 1\.\.5 including 5"):
        check_branches(branches, 5)


# --------------------------------------------------------------------------- warm start
def _config(blocks: int = 4):
    return config_from_dict({"experiment": "w", "tasks": list(TASKS),
                             "backbone": {"name": "small_cnn", "input_size": [3, 32, 32], "blocks": blocks}})


def _model(config, layout: Layout, seed: int):
    torch.manual_seed(seed)
    channels = {task: (3 if task == "segment_semantic" else 1) for task in TASKS}
    return build_model(config, channels, layout)


def test_warm_started_branched_model_starts_as_the_all_shared_model(tmp_path: Path) -> None:
    config, blocks, branch = _config(), 4, 2
    shared = _model(config, Layout.two_task(blocks, blocks), seed=1)
    source = tmp_path / "model.pt"
    save_model(source, state_dict=shared.state_dict(), config=config.to_dict(), tasks=list(TASKS),
               layout=Layout.two_task(blocks, blocks).format(), num_classes=3)
    layout = Layout.two_task(branch, blocks)
    cold = _model(config, layout, seed=2)
    warm = warm_started(lambda n: _model(config, layout, seed=2), source, TASKS)(3)
    source_state, warm_state = shared.state_dict(), warm.state_dict()
    compared = 0
    for b in range(blocks):
        groups = ["group_0_1"] if b < branch else ["group_0", "group_1"]
        for group in groups:  # shared blocks, and both branches' copies after the branch point
            for name, value in source_state.items():
                prefix = f"blocks.{b}.group_0_1."
                if name.startswith(prefix):
                    torch.testing.assert_close(warm_state[f"blocks.{b}.{group}.{name[len(prefix):]}"], value)
                    compared += 1
    for name, value in source_state.items():
        if name.startswith("heads."):
            torch.testing.assert_close(warm_state[name], value)
    assert compared > 0
    assert any(not torch.equal(cold.state_dict()[n], warm_state[n]) for n in warm_state)  # it is not a cold start


def test_warm_start_refuses_a_model_of_other_tasks(tmp_path: Path) -> None:
    config = _config()
    source = tmp_path / "model.pt"
    shared = _model(config, Layout.two_task(4, 4), seed=0)
    save_model(source, state_dict=shared.state_dict(), config=config.to_dict(), tasks=["normal", "depth_zbuffer"],
               layout="01|01|01|01", num_classes=3)
    with pytest.raises(TreeMTLError, match="a model of tasks normal,depth_zbuffer, expected one of segment_semantic,depth_zbuffer"):
        warm_started(lambda n: _model(config, Layout.two_task(1, 4), 0), source, TASKS)


# --------------------------------------------------------------------------- the table
def _write(path: Path, metrics: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": metrics}))


def _metrics(gains: dict[str, float]) -> dict[str, dict[str, float]]:
    out = {}
    for task, gain in gains.items():
        out[task] = {m.name: 1.0 + (gain if m.higher_is_better else -gain) / 100 for m in get_task(task).metrics}
    return out


def test_table_from_a_branch_subset_and_single_only_repeats(tmp_path: Path) -> None:
    tree = ResultsTree(tmp_path)
    pair = pair_name(*TASKS)
    for task in TASKS:
        _write(tree.single_metrics(task), _metrics({task: 0.0}))
        _write(tree.single_metrics(task, 7), _metrics({task: 0.0}))
    _write(tree.pair_metrics(pair, 2), _metrics({"segment_semantic": 4.0, "depth_zbuffer": -2.0}))
    _write(tree.pair_metrics(pair, 4), _metrics({"segment_semantic": 8.0, "depth_zbuffer": 2.0}))
    files = tree.two_task_metrics(TASKS, 4, [7], branches=[2, 4], repeat_pairs=False)
    assert all(path.is_file() for path in files) and len(files) == 2 + 2 + 2  # no repeat of any pair
    table = build_two_task_table(tmp_path, TASKS, 4, [7], branches=[4, 2], repeat_pairs=False)
    np.testing.assert_allclose(table["delta_a"], [0.0, 2.0, 4.0, 6.0, 8.0], atol=1e-9)
    np.testing.assert_allclose(table["delta_b"], [0.0, -1.0, -2.0, 0.0, 2.0], atol=1e-9)
    with pytest.raises(TreeMTLError, match="not found|missing"):  # every branch needs every run
        build_two_task_table(tmp_path, TASKS, 4, [7])


def test_a_table_from_chosen_runs_uses_only_those_runs(tmp_path: Path) -> None:
    """One repeat seed alone is a table of its own (what one seed would have measured)."""
    from treemtl.evaluation.two_task_table import table_from_runs

    tree = ResultsTree(tmp_path)
    pair = pair_name(*TASKS)
    for run, gain in ((None, 0.0), (7, 0.0)):
        for task in TASKS:
            _write(tree.single_metrics(task, run), _metrics({task: gain}))
    for run, gain in ((None, 4.0), (7, 8.0)):
        _write(tree.pair_metrics(pair, 1, run), _metrics({"segment_semantic": gain, "depth_zbuffer": -gain}))
    alone = table_from_runs(tmp_path, TASKS, 1, [7], [7])
    np.testing.assert_allclose(alone["delta_a"], [0.0, 8.0], atol=1e-9)
    both = table_from_runs(tmp_path, TASKS, 1, [None, 7], [None, 7])
    assert both.equals(build_two_task_table(tmp_path, TASKS, 1, [7]))
    np.testing.assert_allclose(both["delta_a"], [0.0, 6.0], atol=1e-9)
    with pytest.raises(TreeMTLError, match="at least one run of each model"):
        table_from_runs(tmp_path, TASKS, 1, [7], [])


def test_two_task_table_cli_checks_the_files_of_the_subset(tmp_path: Path) -> None:
    from treemtl.cli import main

    tree = ResultsTree(tmp_path / "r")
    pair = pair_name(*TASKS)
    for task in TASKS:
        _write(tree.single_metrics(task), _metrics({task: 0.0}))
    for branch, gain in ((1, 1.0), (3, 3.0)):
        _write(tree.pair_metrics(pair, branch), _metrics({"segment_semantic": gain, "depth_zbuffer": gain}))
    files = [str(p) for p in tree.two_task_metrics(TASKS, 3, branches=[1, 3])]
    out = tmp_path / "t.csv"
    assert main(["two-task-table", "--tasks", ",".join(TASKS), "--blocks", "3", "--branches", "1,3",
                 "--metrics", *files, "--out", str(out)]) == 0
    row = out.read_text().splitlines()[3].split(",")
    assert row[:3] == ["segment_semantic", "depth_zbuffer", "2"] and [float(v) for v in row[3:]] == pytest.approx([2.0, 2.0])
    assert main(["two-task-table", "--tasks", ",".join(TASKS), "--blocks", "3", "--metrics", *files,
                 "--out", str(out)]) == 2  # without --branches every branch point is expected


# --------------------------------------------------------------------------- the DAG
def _configfile(tmp_path: Path, **changes: object) -> Path:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_warm_start_dag_fine_tunes_from_the_all_shared_models(tmp_path: Path) -> None:
    counts = dry_run(tmp_path, _configfile(tmp_path, pairs={"strategy": "warm_start"}, repeat_seeds=[1]))
    pairs, blocks = comb(3, 2), 5
    assert counts["train_pair"] == pairs and counts["train_pair_repeat"] == pairs  # the all-shared models
    assert counts["train_pair_warm"] == pairs * (blocks - 1) == counts["train_pair_warm_repeat"]
    from workflow_helpers import snakemake

    done = snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "--dry-run", "--printshellcmds")
    fine_tunes = [line for line in done.stdout.splitlines() if " --init " in line]
    assert len(fine_tunes) == 2 * pairs * (blocks - 1)
    assert all("/branch5/" in line.split(" --init ")[1].split()[0] and "--iters 38" in line for line in fine_tunes)


def test_short_dag_trains_its_own_singles_and_pairs(tmp_path: Path) -> None:
    counts = dry_run(tmp_path, _configfile(tmp_path, pairs={"strategy": "short", "fraction": 0.2}))
    assert counts["train_single_short"] == 3 and counts["train_pair_short"] == 15
    assert counts["train_single"] == 3 and "train_pair" not in counts  # full singles: reference of the finals


def test_branch_subset_and_single_repeats_shrink_the_dag(tmp_path: Path) -> None:
    counts = dry_run(tmp_path, _configfile(tmp_path, pairs={"branches": [2, 5], "repeat_seeds_for": "singles"},
                                           repeat_seeds=[1, 2]))
    assert counts["train_pair"] == 3 * 2 and counts["train_single_repeat"] == 3 * 2
    assert "train_pair_repeat" not in counts


# --------------------------------------------------------------------------- the preset
PRESET = REPO / "config" / "presets" / "cheap_two_task_table.yaml"


@pytest.mark.parametrize("config_path", sorted((REPO / "config").glob("*.yaml")), ids=lambda p: p.stem)
def test_the_preset_layers_over_every_shipped_config(config_path: Path) -> None:
    from snakemake.utils import update_config

    config = yaml.safe_load(config_path.read_text())
    update_config(config, yaml.safe_load(PRESET.read_text()))
    resolved = config_from_dict(config)
    assert resolved.pairs.branches == (1, 3, 5) and resolved.pairs.repeat_seeds_for == "all"
    assert len(resolved.repeat_seeds) == 1 and resolved.estimator.weights == "equal"
    config["backbone"]["blocks"] = 4  # every other branch point of this backbone, ending at its last
    assert config_from_dict(config).pairs.branches == (2, 4)
    config["pairs"]["branches"] = [1, 3]  # a list must end at the backbone's last block
    with pytest.raises(TreeMTLError, match=r"config: pairs.branches: expected distinct branch points in 1\.\.4 including 4"):
        config_from_dict(config)


@pytest.mark.parametrize(("blocks", "points"), [(5, (1, 3, 5)), (4, (2, 4)), (1, (1,)), (2, (2,))])
def test_every_other_branch_point_ends_at_the_all_shared_one(blocks: int, points: tuple[int, ...]) -> None:
    from treemtl.core.branch_interpolation import trained_branches

    assert trained_branches("every_other", blocks) == points
    assert trained_branches(None, blocks) == tuple(range(1, blocks + 1))
    with pytest.raises(TreeMTLError, match="pairs.branches: expected a list of branch points, null or 'every_other'"):
        trained_branches("odd", blocks)


def test_the_preset_trains_three_branch_points_per_pair_and_two_seeds_of_every_model(tmp_path: Path) -> None:
    configfile = tmp_path / "config.yaml"
    configfile.write_text((REPO / "config" / "config.yaml").read_text())
    counts = dry_run(tmp_path, [configfile, PRESET])
    assert counts["train_single"] == 3 == counts["train_single_repeat"]
    assert counts["train_pair"] == comb(3, 2) * 3 == counts["train_pair_repeat"]
    (resolved,) = (tmp_path / ResultsTree.of_experiment("synthetic3").resolved_config("x").parent).iterdir()
    assert yaml.safe_load(resolved.read_text())["estimator"]["weights"] == "equal"
