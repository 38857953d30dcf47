"""The task and dataset registry: lookups, registration, and every other list derived from it."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from treemtl.errors import TreeMTLError
from treemtl.training import registry
from treemtl.training.config import config_from_dict, config_schema
from treemtl.training.registry import DatasetEntry, TaskEntry

BUILTIN_TASKS = ("segment_semantic", "depth_zbuffer", "normal", "keypoints2d", "edge_texture")
SYNTHETIC_TASKS = ("edge_occlusion", "reshading", "reflectance", "mean_curvature", "object_count", "sphere_visible")


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test are dropped after it."""
    monkeypatch.setattr(registry, "_TASKS", dict(registry._TASKS))
    monkeypatch.setattr(registry, "_DATASETS", dict(registry._DATASETS))


def test_builtin_lookups() -> None:
    assert registry.task_names() == BUILTIN_TASKS + SYNTHETIC_TASKS
    assert registry.PAPER_TASKS == BUILTIN_TASKS
    assert registry.dataset_names() == ("synthetic", "nyuv2", "nyuv2_mtan", "taskonomy", "folder")
    assert registry.task("normal") == TaskEntry("normal", "normals")
    assert registry.dataset("nyuv2").tasks == ("segment_semantic", "depth_zbuffer", "normal")
    assert registry.dataset("taskonomy").tasks == registry.dataset("folder").tasks == BUILTIN_TASKS
    assert registry.dataset("synthetic").tasks == BUILTIN_TASKS + SYNTHETIC_TASKS
    assert registry.task("sphere_visible") == TaskEntry("sphere_visible", "classification", classes=2)
    assert registry.task("object_count").type == "image_regression"
    assert registry.dataset("synthetic").options == {}
    with pytest.raises(TreeMTLError, match=r"^unknown task 'depth'; expected one of segment_semantic, depth_zbuffer, "):
        registry.task("depth")
    with pytest.raises(TreeMTLError, match=r"^unknown dataset 'imagenet'; expected one of synthetic, nyuv2, "):
        registry.dataset("imagenet")


def test_registering_twice_or_with_unknown_tasks_is_refused(scratch_registry: None) -> None:
    with pytest.raises(TreeMTLError, match="task 'normal' is already registered"):
        registry.register_task(TaskEntry("normal", "depth"))
    with pytest.raises(TreeMTLError, match="dataset 'nyuv2' is already registered"):
        registry.register_dataset(DatasetEntry("nyuv2", ("normal",), registry.dataset("nyuv2").open))
    with pytest.raises(TreeMTLError, match=r"dataset 'mine': provides unknown tasks \['albedo'\]"):
        registry.register_dataset(DatasetEntry("mine", ("normal", "albedo"), registry.dataset("nyuv2").open))
    assert "mine" not in registry.dataset_names()


def test_a_registered_task_and_dataset_are_usable_from_the_config(scratch_registry: None, tmp_path: Path) -> None:
    from treemtl.training.data import build_dataset
    from treemtl.training.tasks import get_task, head_channels

    opened: list[tuple[str, tuple[str, ...], dict[str, Any]]] = []

    def open_mine(config: Any, split: str, tasks: Any) -> list[int]:
        opened.append((split, tuple(tasks), config.data.options))
        return [1, 2, 3]

    registry.register_task(TaskEntry("shading", "heatmap"))
    registry.register_dataset(DatasetEntry("mine", ("normal", "shading"), open_mine, {"gamma": "display gamma"}))
    assert registry.task_names()[-1] == "shading"
    config = config_from_dict({
        "experiment": "own",
        "tasks": ["normal", "shading"],
        "data": {"dataset": "mine", "root": str(tmp_path), "options": {"gamma": 2.2}},
        "train": {"loss_weights": {"shading": 0.5}},
    })
    assert build_dataset(config, "val", config.tasks) == [1, 2, 3]
    assert opened == [("val", ("normal", "shading"), {"gamma": 2.2})]
    assert get_task("shading").metric_names == ("error",)
    assert head_channels(config.tasks, 0) == {"normal": 3, "shading": 1}
    with pytest.raises(TreeMTLError, match=r"data.options.resize: unknown option of dataset mine \(known options: gamma\)"):
        config_from_dict({"experiment": "own", "tasks": ["normal", "shading"],
                          "data": {"dataset": "mine", "options": {"resize": 3}}})


def test_a_task_of_an_unknown_type_fails_when_its_spec_is_needed(scratch_registry: None) -> None:
    from treemtl.training.tasks import get_task

    registry.register_task(TaskEntry("caption", "text"))
    with pytest.raises(TreeMTLError, match=r"task 'caption': unknown task type 'text'; expected one of segmentation, "):
        get_task("caption")


def test_schema_leaves_task_and_dataset_names_to_the_registry() -> None:
    properties = config_schema()["properties"]
    # an entry is a name or a declaring mapping; neither lists task names or task types
    name, declared = properties["tasks"]["items"]["anyOf"]
    assert set(name) == {"type", "pattern"}
    assert "enum" not in declared["properties"]["name"] and "enum" not in declared["properties"]["type"]
    assert "enum" not in properties["data"]["properties"]["dataset"]
    assert "propertyNames" not in properties["train"]["properties"]["loss_weights"]


def test_head_kinds_of_the_schema_are_the_nets_head_kinds() -> None:
    from treemtl.nets.heads import HEAD_KINDS

    assert tuple(config_schema()["properties"]["head"]["enum"]) == HEAD_KINDS


def test_data_loaders_take_their_task_lists_from_the_registry() -> None:
    for module, name in (("synthetic", "synthetic"), ("nyuv2", "nyuv2"), ("taskonomy", "taskonomy")):
        loader = importlib.import_module(f"treemtl.training.data.{module}")
        assert loader.TASKS == registry.dataset(name).tasks


@pytest.mark.parametrize(("name", "module"), [("nyuv2", "nyuv2"), ("nyuv2_mtan", "nyuv2"), ("taskonomy", "taskonomy")])
def test_declared_dataset_options_are_documented_by_the_loader(name: str, module: str) -> None:
    doc = importlib.import_module(f"treemtl.training.data.{module}").__doc__ or ""
    for option in registry.dataset(name).options:
        assert f"``{option}``" in doc, option


def test_no_other_hard_coded_task_list() -> None:
    root = Path(registry.__file__).resolve().parents[2]
    listed = ", ".join(f'"{t}"' for t in BUILTIN_TASKS)
    offenders = [
        str(path.relative_to(root))
        for folder in ("treemtl", "workflow", "scripts")
        for path in (root / folder).rglob("*")
        if path.suffix in (".py", ".smk", ".yaml") or path.name == "Snakefile"
        if path.is_file() and (listed in path.read_text(encoding="utf-8") or ",".join(BUILTIN_TASKS) in path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_config_and_registry_do_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, treemtl.training.config, treemtl.training.registry; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
