"""Config loading: defaults, round trip, and one clear error per kind of mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from treemtl.training.config import (
    ExperimentConfig,
    TrainConfig,
    config_from_dict,
    load_config,
    paper_train_defaults,
)
from treemtl.errors import TreeMTLError

CONTRACT_YAML = """
experiment: synthetic3
tasks: [segment_semantic, depth_zbuffer, normal]
seed: 0
data:
  dataset: synthetic
  root: null
  synthetic: {n_train: 1200, n_val: 300, size: 64, seed: 0}
  options: {}
backbone:
  name: small_cnn
  input_size: [3, 64, 64]
  blocks: 5
  add_branch_points: []
  remove_branch_points: []
  weights: null
head: light
train:
  iters: 400
  batch_size: 32
  optimizer: adam
  lr: 0.002
  momentum: 0.9
  weight_decay: 0.0
  lr_step: 150
  lr_gamma: 0.5
  eval_every: 100
  checkpoint_every: 100
  early_stop_patience: 0
  loss_weights: {}
  amp: auto
  workers: 0
recommend:
  budgets: [1.0, 1.5, 2.0]
  top_k: 3
oracle:
  sample: null
  seeds: [0]
baselines:
  what_to_share: {images: 64}
  task_grouping: {}
"""


def test_contract_yaml_equals_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONTRACT_YAML)
    config = load_config(path)
    assert config == ExperimentConfig()
    assert config.backbone.input_size == (3, 64, 64)
    assert config.recommend.budgets == (1.0, 1.5, 2.0)


def test_empty_file_gives_defaults_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path) == ExperimentConfig()
    config = config_from_dict({"tasks": ["normal", "keypoints2d"], "train": {"lr": 0.01, "loss_weights": {"normal": 2}},
                               "backbone": {"blocks": 4, "remove_branch_points": [2]}})
    plain = config.to_dict()
    assert yaml.safe_load(yaml.safe_dump(plain)) == plain
    assert config_from_dict(plain) == config
    assert plain["tasks"] == ["normal", "keypoints2d"] and plain["train"]["loss_weights"] == {"normal": 2.0}


def test_yaml_quirks_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 1e-3\n  amp: off\n  iters: 10\n")
    config = load_config(path)
    assert config.train.lr == 0.001 and config.train.amp == "off" and config.train.iters == 10


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"train": {"lr": "abc"}}, "config.yaml: train.lr: expected a positive number, got 'abc'"),
        ({"train": {"lr": 0}}, "config.yaml: train.lr: expected a positive number, got 0"),
        ({"train": {"lr": -1.0}}, "train.lr: expected a positive number"),
        ({"train": {"iters": 2.5}}, "train.iters: expected a positive integer, got 2.5"),
        ({"train": {"iters": True}}, "train.iters: expected a positive integer, got True"),
        ({"train": {"optimizer": "rmsprop"}}, "train.optimizer: expected one of adam, sgd"),
        ({"train": {"lr_gamma": 1.5}}, "train.lr_gamma: expected a number in (0, 1]"),
        ({"train": {"amp": "fp8"}}, "train.amp: expected one of auto, off"),
        ({"train": {"loss_weights": {"normal": -1}}}, "train.loss_weights.normal: expected a non-negative number"),
        ({"train": {"loss_weights": {"depth": 1}}}, "train.loss_weights.depth: unknown task"),
        ({"tasks": ["normal"], "train": {"loss_weights": {"keypoints2d": 1}}},
         "train.loss_weights.keypoints2d: task is not in tasks"),
        ({"train": {"lrr": 0.1}}, "config.yaml: train.lrr: unknown key"),
        ({"colour": "red"}, "config.yaml: colour: unknown key"),
        ({"train": [1, 2]}, "config.yaml: train: expected a mapping"),
        ({"tasks": ["segment_semantic", "depth"]}, "config.yaml: tasks[1]: expected a task name"),
        ({"tasks": ["normal", "normal"]}, "config.yaml: tasks[1]: duplicate task"),
        ({"tasks": []}, "config.yaml: tasks: expected at least one task"),
        ({"tasks": "normal"}, "config.yaml: tasks: expected a list"),
        ({"backbone": {"blocks": 0}}, "config.yaml: backbone.blocks: expected a positive integer, got 0"),
        ({"backbone": {"input_size": [3, 64]}}, "backbone.input_size: expected [channels, height, width]"),
        ({"backbone": {"remove_branch_points": [5]}}, "backbone.remove_branch_points: expected coarse boundaries"),
        ({"backbone": {"add_branch_points": [1, 1]}}, "backbone.add_branch_points: expected distinct values"),
        ({"recommend": {"budgets": [1.0, 0]}}, "config.yaml: recommend.budgets[1]: expected a positive number, got 0"),
        ({"recommend": {"budgets": []}}, "recommend.budgets: expected at least one budget"),
        ({"recommend": {"top_k": 0}}, "recommend.top_k: expected a positive integer"),
        ({"oracle": {"sample": -3}}, "oracle.sample: expected a positive integer"),
        ({"oracle": {"seeds": [0, 0]}}, "oracle.seeds: expected distinct seeds"),
        ({"data": {"dataset": "imagenet"}}, "data.dataset: expected one of synthetic, nyuv2, nyuv2_mtan, taskonomy"),
        ({"data": {"synthetic": {"size": 4}}}, "data.synthetic.size: expected an integer image size >= 8"),
        ({"data": {"synthetic": {"n_train": 0}}}, "data.synthetic.n_train: expected a positive integer"),
        ({"head": "big"}, "config.yaml: head: expected one of light, aspp"),
        ({"experiment": "a/b"}, "config.yaml: experiment: expected a folder name"),
        ({"seed": -1}, "config.yaml: seed: expected a non-negative integer"),
        ({"repeat_seeds": [1, 1]}, "config.yaml: repeat_seeds: expected distinct seeds"),
        ({"seed": 3, "repeat_seeds": [1, 3]}, "config.yaml: repeat_seeds: expected seeds other than seed (3)"),
        ({"repeat_seeds": 2}, "config.yaml: repeat_seeds: expected a list"),
    ],
)
def test_config_errors_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(TreeMTLError) as info:
        config_from_dict(data, source="config.yaml")
    assert message in str(info.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(TreeMTLError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(TreeMTLError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    top = tmp_path / "list.yaml"
    top.write_text("- 1\n- 2\n")
    with pytest.raises(TreeMTLError, match="list.yaml: expected a mapping"):
        load_config(top)


def test_paper_train_defaults() -> None:
    nyu = paper_train_defaults("nyuv2")
    assert (nyu.lr, nyu.lr_gamma, nyu.lr_step, nyu.iters) == (0.001, 0.5, 4000, 20000)
    assert paper_train_defaults("nyuv2_mtan") == nyu
    taskonomy = paper_train_defaults("taskonomy")
    assert (taskonomy.lr, taskonomy.lr_gamma, taskonomy.lr_step, taskonomy.iters) == (0.0001, 0.3, 10000, 50000)
    assert isinstance(taskonomy, TrainConfig)
    with pytest.raises(TreeMTLError):
        paper_train_defaults("synthetic")
