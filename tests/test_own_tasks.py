"""Tasks declared by type and task plugins: config entries, losses and metrics of the new types,
pooled heads, and one-line errors for everything a user can get wrong."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from treemtl.core.relative_performance import relative_performance
from treemtl.errors import TreeMTLError
from treemtl.training import registry
from treemtl.training.config import config_from_dict
from treemtl.training.tasks import (
    TASK_TYPES,
    classification_loss,
    get_task,
    head_channels,
    pooled_tasks,
    regression_loss,
    task_directions,
)

FOLDER = {"dataset": "folder", "root": "data"}

def _config(tasks: list[Any], **extra: Any) -> Any:
    return config_from_dict({"experiment": "own", "tasks": tasks, "data": FOLDER, **extra}, source="own.yaml")


def test_every_registered_type_has_losses_and_metrics(every_task_type: list[dict[str, Any]]) -> None:
    assert registry.task_type_names() == tuple(TASK_TYPES)
    assert {t["type"] for t in every_task_type} == set(TASK_TYPES)


def test_declared_tasks_bring_their_head_channels_and_metric_directions(every_task_type: list[dict[str, Any]]) -> None:
    config = _config(every_task_type)
    assert config.tasks == tuple(t["name"] for t in every_task_type)
    assert head_channels(config.tasks, 0, config) == {
        "drivable": 2, "distance": 1, "height": 1, "surface_normals": 3, "edges": 1, "weather": 4, "age": 1,
    }
    assert pooled_tasks(config.tasks, config) == {"weather", "age"}
    directions = task_directions(config.tasks, config)
    assert directions["drivable"] == {"miou": True, "pixel_acc": True}
    assert directions["distance"]["abs_err"] is False and directions["distance"]["delta_1"] is True
    assert directions["height"] == {"abs_err": False, "rmse": False}
    assert directions["surface_normals"]["mean_angle"] is False
    assert directions["edges"] == {"error": False}
    assert directions["weather"] == {"accuracy": True}
    assert directions["age"] == {"abs_err": False}
    # Δ follows the directions: better accuracy and lower error are both positive
    assert relative_performance("weather", {"accuracy": 0.6}, {"accuracy": 0.5}, directions["weather"]).percent == pytest.approx(20.0)
    assert relative_performance("age", {"abs_err": 4.0}, {"abs_err": 5.0}, directions["age"]).percent == pytest.approx(20.0)


def test_built_in_names_mix_with_declared_tasks_and_round_trip() -> None:
    config = _config(["normal", {"name": "weather", "type": "classification", "classes": 3}],
                     train={"loss_weights": {"weather": 0.5}}, data={**FOLDER, "options": {"resize": [32, 32]}})
    plain = config.to_dict()
    assert plain["tasks"] == ["normal", {"name": "weather", "type": "classification", "classes": 3}]
    assert config_from_dict(plain) == config
    assert config.task_entry("normal") == registry.task("normal")  # a built-in is exactly the built-in
    assert get_task("normal", config).metrics == get_task("normal").metrics
    with pytest.raises(TreeMTLError, match="unknown task 'weather'"):
        get_task("weather")  # declared tasks belong to their config only


def test_one_name_may_mean_different_tasks_in_two_configs() -> None:
    first = _config([{"name": "label", "type": "classification", "classes": 3}, "normal"])
    second = _config([{"name": "label", "type": "image_regression"}, "normal"])
    assert get_task("label", first).metric_names == ("accuracy",)
    assert get_task("label", second).metric_names == ("abs_err",)


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ([{"name": "a", "type": "segmentaton", "classes": 3}, "normal"],
         "own.yaml: tasks[0].type: unknown task type 'segmentaton'; expected one of segmentation, depth, regression, "),
        ([{"name": "a", "type": "segmentation"}, "normal"],
         "own.yaml: tasks[0].classes: required for a segmentation task (an integer >= 2)"),
        ([{"name": "a", "type": "classification", "classes": 1}, "normal"],
         "own.yaml: tasks[0].classes: expected an integer >= 2, got 1"),
        ([{"name": "a", "type": "depth", "classes": 3}, "normal"], "own.yaml: tasks[0].classes: a depth task has no classes"),
        (["normal", {"name": "x", "type": "depth"}, {"name": "x", "type": "heatmap"}],
         "own.yaml: tasks[2]: duplicate task name 'x' (also tasks[1])"),
        ([{"name": "road-area", "type": "depth"}, "normal"], "own.yaml: tasks[0].name: expected a string matching "),
        ([{"name": "a__b", "type": "depth"}, "normal"], "own.yaml: tasks[0].name: expected a string matching "),
        ([{"name": "normal", "type": "depth"}, "depth_zbuffer"], "own.yaml: tasks[0].name: 'normal' is a built-in task"),
        ([{"name": "a"}, "normal"], "own.yaml: tasks[0]: expected exactly one of 'type' (a task type) or 'spec' (a plugin)"),
        ([{"name": "a", "type": "depth", "spec": "m:f"}, "normal"], "own.yaml: tasks[0]: expected exactly one of 'type'"),
        ([{"name": "a", "spec": "not a spec"}, "normal"], "own.yaml: tasks[0].spec: expected a string matching "),
        ([{"name": "a", "type": "depth", "weight": 2}, "normal"], "own.yaml: tasks[0].weight: unknown key"),
        ([3, "normal"], "own.yaml: tasks[0]: expected a string matching ^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$ or a mapping"),
    ],
)
def test_bad_task_entries_name_the_key(tasks: list[Any], message: str) -> None:
    with pytest.raises(TreeMTLError) as info:
        _config(tasks)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_declared_tasks_need_a_dataset_that_reads_them() -> None:
    with pytest.raises(TreeMTLError, match=r"tasks\[1\]: task 'weather' is not provided by dataset synthetic .*"
                                           r"need data.dataset: folder or a dataset plugin"):
        config_from_dict({"experiment": "x", "tasks": ["normal", {"name": "weather", "type": "classification",
                                                                   "classes": 2}]})
    with pytest.raises(TreeMTLError, match=r"train.loss_weights.wether: unknown task"):
        _config(["normal", {"name": "weather", "type": "classification", "classes": 2}],
                train={"loss_weights": {"wether": 1}})


# ----------------------------------------------------------------------------------------------
# losses and metrics of the new types, hand-computed


def test_classification_loss_and_accuracy() -> None:
    spec = get_task("weather", _config(["normal", {"name": "weather", "type": "classification", "classes": 3}]))
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0], [1.0, 0.0, 0.0]])
    target = torch.tensor([0, 1, -1])  # the third image has no label
    expected = (torch.nn.functional.cross_entropy(logits[:2], target[:2])).item()
    assert float(spec.loss(logits, target, None)) == pytest.approx(expected)
    assert float(classification_loss(logits, torch.full((3,), -1), None)) == 0.0
    acc = spec.new_accumulator(0)
    acc.update(logits[:1], target[:1])
    acc.update(logits[1:], target[1:])
    assert acc.compute() == {"accuracy": pytest.approx(0.5)}


def test_regression_types_mask_missing_labels() -> None:
    config = _config([{"name": "height", "type": "regression"}, {"name": "age", "type": "image_regression"}])
    target = torch.tensor([1.0, 3.0, 0.0]).reshape(1, 1, 1, 3)
    mask = torch.tensor([True, True, False]).reshape(1, 1, 1, 3)
    pred = torch.tensor([2.0, 1.0, 50.0]).reshape(1, 1, 1, 3)
    assert float(regression_loss(pred, target, mask)) == pytest.approx(1.5)
    acc = get_task("height", config).new_accumulator(0)
    acc.update(pred, target, mask)
    assert acc.compute() == {"abs_err": pytest.approx(1.5), "rmse": pytest.approx((2.5) ** 0.5)}
    age = get_task("age", config)
    values, labelled = torch.tensor([[30.0], [20.0]]), torch.tensor([[True], [False]])
    assert float(age.loss(torch.tensor([[28.0], [0.0]]), values, labelled)) == pytest.approx(2.0)
    acc = age.new_accumulator(0)
    acc.update(torch.tensor([[28.0], [0.0]]), values, labelled)
    assert acc.compute() == {"abs_err": pytest.approx(2.0)}


def test_declared_segmentation_uses_its_own_classes() -> None:
    spec = get_task("drivable", _config([{"name": "drivable", "type": "segmentation", "classes": 2}, "normal"]))
    assert spec.out_channels(40) == 2
    acc = spec.new_accumulator(40)
    acc.update(torch.tensor([[[[3.0, 0.0]], [[0.0, 3.0]]]]), torch.tensor([[[0, 1]]]))
    assert acc.compute() == {"miou": 1.0, "pixel_acc": 1.0}


def test_pooled_heads_predict_per_image_in_a_tree_model() -> None:
    from treemtl.core.layout import Layout
    from treemtl.nets.model import build_model

    config = config_from_dict({"experiment": "own", "data": FOLDER,
                               "tasks": [{"name": "drivable", "type": "segmentation", "classes": 2},
                                         {"name": "weather", "type": "classification", "classes": 4}],
                               "backbone": {"input_size": [3, 32, 32], "blocks": 3}})
    model = build_model(config, head_channels(config.tasks, 0, config), Layout.two_task(2, 3),
                        pooled_tasks(config.tasks, config))
    outputs = model(torch.randn(2, 3, 32, 32))
    assert outputs["drivable"].shape == (2, 2, 32, 32)
    assert outputs["weather"].shape == (2, 4)


# ----------------------------------------------------------------------------------------------
# task plugins


PLUGIN = '''
from treemtl.training.tasks import MetricSpec, TaskSpec, RegressionAccumulator, regression_loss

def counting(name):
    return TaskSpec(name="ignored", channels=lambda n: 1, loss=regression_loss,
                    metrics=(MetricSpec("abs_err", False),), accumulator=lambda n: RegressionAccumulator(rmse=False),
                    head="pooled", target="scalar")

def raising(name):
    raise ValueError("no such counter")

def not_a_spec(name):
    return {"channels": 1}

def dense_scalar(name):
    spec = counting(name)
    return type(spec)(**{**spec.__dict__, "head": "dense"})

def no_metrics(name):
    spec = counting(name)
    return type(spec)(**{**spec.__dict__, "metrics": ()})
'''


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"own_task_plugin_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(PLUGIN))
    (tmp_path / "crashing_task_module.py").write_text("raise RuntimeError('missing licence')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_a_plugin_task_is_trained_and_measured_with_its_spec(plugin_module: str) -> None:
    config = _config(["normal", {"name": "count", "spec": f"{plugin_module}:counting"}])
    spec = get_task("count", config)
    assert spec.name == "count" and spec.head == "pooled" and spec.target == "scalar"
    assert pooled_tasks(config.tasks, config) == {"count"}
    assert task_directions(config.tasks, config)["count"] == {"abs_err": False}
    assert config.to_dict()["tasks"][1] == {"name": "count", "spec": f"{plugin_module}:counting"}


@pytest.mark.parametrize(
    ("callable_", "message"),
    [
        ("raising", r"task 'count': plugin '{m}:raising': raising\(\) raised ValueError: no such counter$"),
        ("not_a_spec", r"task 'count': plugin '{m}:not_a_spec' returned dict; expected a treemtl.training.tasks.TaskSpec$"),
        ("dense_scalar", r"returned a TaskSpec with bad target 'scalar' with a dense head"),
        ("no_metrics", r"returned a TaskSpec with bad metrics \(expected a non-empty tuple of MetricSpec\)"),
        ("missing", r"task 'count': plugin '{m}:missing': '{m}' has no callable 'missing'$"),
    ],
)
def test_a_failing_plugin_is_one_line_naming_it(plugin_module: str, callable_: str, message: str) -> None:
    config = _config(["normal", {"name": "count", "spec": f"{plugin_module}:{callable_}"}])
    with pytest.raises(TreeMTLError, match=message.format(m=plugin_module)) as info:
        get_task("count", config)
    assert "\n" not in str(info.value)


def test_a_plugin_module_that_cannot_be_imported_is_named(plugin_module: str) -> None:
    config = _config(["normal", {"name": "count", "spec": "no_such_package.tasks:count"}])
    with pytest.raises(TreeMTLError, match=r"task 'count': plugin 'no_such_package.tasks:count': cannot import module 'no_such_package.tasks'"):
        get_task("count", config)
    config = _config(["normal", {"name": "count", "spec": "crashing_task_module:count"}])
    with pytest.raises(TreeMTLError, match=r"importing 'crashing_task_module' raised RuntimeError: missing licence"):
        get_task("count", config)
