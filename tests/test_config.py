"""Config loading: schema defaults, round trip, and one clear error per kind of mistake."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from treemtl.errors import TreeMTLError
from treemtl.training.config import (
    SCHEMA_PATH,
    ExperimentConfig,
    config_from_dict,
    config_schema,
    fill_defaults,
    load_config,
)

REPO = Path(__file__).resolve().parents[1]

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
    assert config == config_from_dict({"experiment": "synthetic3"})
    assert config.backbone.input_size == (3, 64, 64)
    assert config.recommend.budgets == (1.0, 1.5, 2.0)
    assert isinstance(config.train.iters, int) and isinstance(config.train.weight_decay, float)


def test_defaults_come_from_the_schema() -> None:
    schema = config_schema()
    config = config_from_dict({"experiment": "x"})
    train = schema["properties"]["train"]["properties"]
    assert config.train.lr == train["lr"]["default"] and config.train.iters == train["iters"]["default"]
    assert list(config.tasks) == schema["properties"]["tasks"]["default"]
    assert config.data.synthetic.n_train == schema["properties"]["data"]["properties"]["synthetic"]["properties"]["n_train"]["default"]
    # the dataclasses declare no defaults of their own
    with pytest.raises(TypeError):
        ExperimentConfig()  # type: ignore[call-arg]


def _schema_keys(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: _schema_keys(sub) if "properties" in sub else None for key, sub in schema["properties"].items()}


def _dataclass_keys(cls: type) -> dict[str, Any]:
    """Config keys of a dataclass; a field derived from another key (``task_entries`` from ``tasks``)
    is not a key, but the key it is derived from must be one."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    names = {f.name for f in fields}
    assert all(f.metadata["derived_from"] in names for f in fields if "derived_from" in f.metadata)
    return {
        f.name: _dataclass_keys(hints[f.name]) if dataclasses.is_dataclass(hints[f.name]) else None
        for f in fields
        if "derived_from" not in f.metadata
    }


def test_dataclasses_and_schema_have_the_same_keys() -> None:
    assert _dataclass_keys(ExperimentConfig) == _schema_keys(config_schema())


def test_schema_is_valid_and_shipped_in_the_package() -> None:
    jsonschema.Draft202012Validator.check_schema(config_schema())
    assert SCHEMA_PATH.parent.name == "training" and SCHEMA_PATH.is_file()
    package_data = (REPO / "pyproject.toml").read_text()
    assert '"training/config.schema.yaml"' in package_data
    assert "SCHEMA_PATH" in (REPO / "workflow" / "Snakefile").read_text()


def test_fill_defaults_is_recursive_and_keeps_given_values() -> None:
    values: dict[str, Any] = {"train": {"lr": 0.5}, "data": {"synthetic": {"size": 32}}}
    fill_defaults(values, config_schema())
    assert values["train"]["lr"] == 0.5 and values["train"]["iters"] == 400
    assert values["data"]["synthetic"] == {"size": 32, "n_train": 1200, "n_val": 300, "seed": 0}
    assert values["recommend"] == {"budgets": [1.0, 1.5, 2.0], "top_k": 3, "search_above": 200_000}
    assert "experiment" not in values
    values["recommend"]["budgets"].append(9.0)  # a filled default is a copy, never the schema's object
    assert config_schema()["properties"]["recommend"]["properties"]["budgets"]["default"] == [1.0, 1.5, 2.0]


def test_snakemake_validate_fills_the_same_defaults() -> None:
    from snakemake.utils import validate

    given = {"experiment": "x", "train": {"lr": 0.5}}
    snakemake_view = yaml.safe_load(yaml.safe_dump(given))
    validate(snakemake_view, str(SCHEMA_PATH))
    ours = yaml.safe_load(yaml.safe_dump(given))
    fill_defaults(ours, config_schema())
    assert snakemake_view == ours
    assert config_from_dict(snakemake_view) == config_from_dict(given)



@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ({"tasks": ["normal", "depth_zbuffer"]}, "'experiment' is a required property"),
        ({"experiment": "x", "tasks": ["normal"]}, "is too short"),
        ({"experiment": "x", "tasks": ["normal", "normal"]}, "non-unique"),
    ],
)
def test_snakemake_stops_on_the_same_schema(given: dict[str, Any], fragment: str) -> None:
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    with pytest.raises(WorkflowError) as info:
        validate(given, str(SCHEMA_PATH))
    assert fragment in str(info.value)

@pytest.mark.parametrize("path", sorted((REPO / "config").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_loads(path: Path) -> None:
    config = load_config(path)
    assert config.experiment == path.stem or config.experiment == "synthetic3"
    assert len(config.tasks) >= 2


def test_empty_file_names_the_missing_experiment_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(TreeMTLError, match=r"empty.yaml: experiment: required key is missing"):
        load_config(path)
    config = config_from_dict({"experiment": "rt", "tasks": ["normal", "keypoints2d"],
                               "train": {"lr": 0.01, "loss_weights": {"normal": 2}},
                               "backbone": {"blocks": 4, "remove_branch_points": [2]}})
    plain = config.to_dict()
    assert yaml.safe_load(yaml.safe_dump(plain)) == plain
    assert config_from_dict(plain) == config
    assert plain["tasks"] == ["normal", "keypoints2d"] and plain["train"]["loss_weights"] == {"normal": 2.0}


def test_yaml_quirks_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("experiment: q\ntrain:\n  lr: 1e-3\n  amp: off\n  iters: 10.0\n")
    config = load_config(path)
    assert config.train.lr == 0.001 and config.train.amp == "off" and config.train.iters == 10
    assert isinstance(config.train.iters, int)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"train": {"lr": "abc"}}, "config.yaml: train.lr: expected a number > 0, got 'abc'"),
        ({"train": {"lr": 0}}, "config.yaml: train.lr: expected a number > 0, got 0"),
        ({"train": {"lr": -1.0}}, "train.lr: expected a number > 0, got -1.0"),
        ({"train": {"iters": 2.5}}, "train.iters: expected an integer >= 1, got 2.5"),
        ({"train": {"iters": True}}, "train.iters: expected an integer >= 1, got True"),
        ({"train": {"optimizer": "rmsprop"}}, "train.optimizer: expected one of adam, sgd, got 'rmsprop'"),
        ({"train": {"lr_gamma": 1.5}}, "train.lr_gamma: expected a number in (0, 1], got 1.5"),
        ({"train": {"momentum": 1}}, "train.momentum: expected a number in [0, 1), got 1"),
        ({"train": {"amp": "fp8"}}, "train.amp: expected one of auto, off, got 'fp8'"),
        ({"train": {"loss_weights": {"normal": -1}}}, "train.loss_weights.normal: expected a number >= 0, got -1"),
        ({"train": {"loss_weights": {"depth": 1}}},
         "train.loss_weights.depth: unknown task (known tasks: segment_semantic, depth_zbuffer, normal, keypoints2d, edge_texture, "
         "edge_occlusion, reshading, reflectance, mean_curvature, object_count, sphere_visible)"),
        ({"tasks": ["normal", "depth_zbuffer"], "train": {"loss_weights": {"keypoints2d": 1}}},
         "train.loss_weights.keypoints2d: task is not in tasks ['normal', 'depth_zbuffer']"),
        ({"train": {"lrr": 0.1}}, "config.yaml: train.lrr: unknown key (expected one of: iters, batch_size, "),
        ({"colour": "red"}, "config.yaml: colour: unknown key (expected one of: experiment, tasks, "),
        ({"train": [1, 2]}, "config.yaml: train: expected a mapping, got [1, 2]"),
        ({"tasks": ["segment_semantic", "depth"]},
         "config.yaml: tasks[1]: unknown task 'depth' (known tasks: segment_semantic, depth_zbuffer, normal, keypoints2d, edge_texture, "
         "edge_occlusion, reshading, reflectance, mean_curvature, object_count, sphere_visible)"),
        ({"tasks": ["normal", "normal"]}, "config.yaml: tasks: expected distinct entries, got ['normal', 'normal']"),
        ({"tasks": []}, "config.yaml: tasks: expected at least 2 entries, got []"),
        ({"tasks": "normal"}, "config.yaml: tasks: expected a list, got 'normal'"),
        ({"tasks": ["normal", "a__b"]}, "config.yaml: tasks[1]: expected a string matching ^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$, got 'a__b'"),
        ({"backbone": {"blocks": 0}}, "config.yaml: backbone.blocks: expected an integer >= 1, got 0"),
        ({"backbone": {"input_size": [3, 64]}}, "backbone.input_size: expected at least 3 entries, got [3, 64]"),
        ({"backbone": {"input_size": [3, 64, 64, 1]}}, "backbone.input_size: expected at most 3 entries, got [3, 64, 64, 1]"),
        ({"backbone": {"remove_branch_points": [5]}},
         "backbone.remove_branch_points: expected coarse boundaries between 1 and blocks-1 = 4, got [5]"),
        ({"backbone": {"add_branch_points": [1, 1]}}, "backbone.add_branch_points: expected distinct entries, got [1, 1]"),
        ({"recommend": {"budgets": [1.0, 0]}}, "config.yaml: recommend.budgets[1]: expected a number > 0, got 0"),
        ({"recommend": {"budgets": []}}, "recommend.budgets: expected at least 1 entry, got []"),
        ({"recommend": {"top_k": 0}}, "recommend.top_k: expected an integer >= 1, got 0"),
        ({"oracle": {"sample": -3}}, "oracle.sample: expected an integer >= 1 or null, got -3"),
        ({"oracle": {"seeds": [0, 0]}}, "oracle.seeds: expected distinct entries, got [0, 0]"),
        ({"data": {"dataset": "imagenet"}},
         "data.dataset: unknown dataset 'imagenet' (known datasets: synthetic, nyuv2, nyuv2_mtan, taskonomy, folder; "),
        ({"data": {"root": 3}}, "data.root: expected a string or null, got 3"),
        ({"data": {"synthetic": {"size": 4}}}, "data.synthetic.size: expected an integer >= 8, got 4"),
        ({"data": {"synthetic": {"n_train": 0}}}, "data.synthetic.n_train: expected an integer >= 1, got 0"),
        ({"head": "big"}, "config.yaml: head: expected one of light, aspp, got 'big'"),
        ({"experiment": "a/b"}, "config.yaml: experiment: expected a string matching "),
        ({"experiment": ".."}, "config.yaml: experiment: expected a string matching "),
        ({"experiment": ""}, "config.yaml: experiment: expected a string matching "),
        ({"seed": -1}, "config.yaml: seed: expected an integer >= 0, got -1"),
        ({"repeat_seeds": [1, 1]}, "config.yaml: repeat_seeds: expected distinct entries, got [1, 1]"),
        ({"seed": 3, "repeat_seeds": [1, 3]}, "config.yaml: repeat_seeds: expected seeds other than seed (3), got [1, 3]"),
        ({"repeat_seeds": 2}, "config.yaml: repeat_seeds: expected a list, got 2"),
    ],
)
def test_config_errors_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(TreeMTLError) as info:
        config_from_dict({"experiment": "t", **data}, source="config.yaml")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_one_task_is_rejected_up_front() -> None:
    with pytest.raises(TreeMTLError, match=r"^config.yaml: tasks: expected at least 2 entries, got \['normal'\]$"):
        config_from_dict({"experiment": "t", "tasks": ["normal"]}, source="config.yaml")


def test_duplicate_task_is_rejected() -> None:
    with pytest.raises(TreeMTLError, match=r"tasks: expected distinct entries, got \['normal', 'depth_zbuffer', 'normal'\]"):
        config_from_dict({"experiment": "t", "tasks": ["normal", "depth_zbuffer", "normal"]})


def test_experiment_is_required() -> None:
    schema = config_schema()
    assert "experiment" in schema["required"] and "default" not in schema["properties"]["experiment"]
    with pytest.raises(TreeMTLError) as info:
        config_from_dict({"tasks": ["normal", "depth_zbuffer"]}, source="c.yaml")
    assert str(info.value).startswith("c.yaml: experiment: required key is missing (")


def test_unknown_data_option_names_the_key_and_the_known_options() -> None:
    with pytest.raises(TreeMTLError) as info:
        config_from_dict({"experiment": "t", "data": {"dataset": "nyuv2", "root": "/x", "options": {"num_class": 13}}},
                         source="c.yaml")
    assert str(info.value) == (
        "c.yaml: data.options.num_class: unknown option of dataset nyuv2 "
        "(known options: split_file, train_split, val_split, num_classes, resize)"
    )
    with pytest.raises(TreeMTLError, match=r"data.options.resize: unknown option of dataset synthetic \(it takes no options\)"):
        config_from_dict({"experiment": "t", "data": {"options": {"resize": [32, 32]}}})
    known = {"train_buildings": ["a"], "val_buildings": ["b"], "resize": [64, 64], "depth": "log", "edge_max": 0.1}
    config = config_from_dict({"experiment": "t", "data": {"dataset": "taskonomy", "root": "/x", "options": known}})
    assert config.data.options == known


def test_task_missing_from_the_dataset_is_named() -> None:
    with pytest.raises(TreeMTLError) as info:
        config_from_dict({"experiment": "t", "tasks": ["normal", "keypoints2d"], "data": {"dataset": "nyuv2_mtan"}},
                         source="c.yaml")
    assert str(info.value) == (
        "c.yaml: tasks[1]: task 'keypoints2d' is not provided by dataset nyuv2_mtan "
        "(it provides segment_semantic, depth_zbuffer, normal)"
    )


def test_budgets_that_name_the_same_file_are_rejected() -> None:
    with pytest.raises(TreeMTLError) as info:
        config_from_dict({"experiment": "t", "recommend": {"budgets": [1.0, 2.0, 1.00000001]}}, source="c.yaml")
    message = str(info.value)
    assert message.startswith("c.yaml: recommend.budgets: 1.0 and 1.00000001 are the same budget 1 to the workflow")
    config = config_from_dict({"experiment": "t", "recommend": {"budgets": [1.0, 1.00001]}})
    assert [f"{b:g}" for b in config.recommend.budgets] == ["1", "1.00001"]


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
