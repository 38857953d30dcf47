"""What an experiment config may name: task types, tasks and datasets, in one registry.

Every list of task, task-type or dataset names (the config's checks, the data loaders, the workflow's head
profile, the CLI) is read from here, so adding a task or a dataset is one ``register_*`` call.
Entries are plain declarations and this module is torch-free: validating a config or parsing
the workflow must not pay for importing torch. How a task is trained and measured comes from
its *type* (:mod:`treemtl.training.tasks` builds the losses and metrics of each type); how a
dataset is read comes from its ``open`` function, whose loader is imported only when called.

A config names tasks three ways: a built-in name (registered here), a mapping that declares a
task by type (``{name: drivable, type: segmentation, classes: 2}``), or a mapping naming a
plugin (``{name: count, spec: "package.module:callable"}``). The last two become
:class:`TaskEntry` values of that config only; they are never registered, so two configs may
use one name differently. ``data.dataset`` may likewise be a plugin ``package.module:callable``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from treemtl.errors import TreeMTLError
from treemtl.plugin import is_spec
from treemtl.training import data as _data

#: How a task's targets are stored and batched (see :mod:`treemtl.training.data.common`):
#: ``class_map`` int64 [H,W] class ids (-1 ignore); ``dense_map`` float32 [C,H,W];
#: ``normal_map`` float32 [3,H,W] unit vectors (zero = no target); ``class_label`` int64 []
#: (-1 = no label); ``scalar`` float32 [1].
TARGETS: tuple[str, ...] = ("class_map", "dense_map", "normal_map", "class_label", "scalar")
#: Where a head predicts: per pixel (``dense``, [B,C,H,W]) or per image (``pooled``, [B,C]).
HEADS: tuple[str, ...] = ("dense", "pooled")
#: The type of a task whose specification comes from a plugin callable.
PLUGIN_TYPE = "plugin"


@dataclass(frozen=True)
class TaskType:
    """What every task of a type shares, torch-free: its head, its target format, its channels.

    ``channels`` None means the task's ``classes`` (declared tasks) or the dataset's number of
    classes (the built-in ``segment_semantic``). Losses and metrics: :mod:`treemtl.training.tasks`.
    """

    name: str
    head: str
    target: str
    channels: int | None

    @property
    def needs_classes(self) -> bool:
        return self.channels is None


@dataclass(frozen=True)
class TaskEntry:
    """A task: its name and type, ``classes`` for class-valued types, ``spec`` for a plugin task."""

    name: str
    type: str
    classes: int | None = None
    spec: str | None = None

    def to_config(self) -> str | dict[str, Any]:
        """The config's spelling of this task: a built-in name, or its declaring mapping."""
        if self.name in _TASKS and _TASKS[self.name] == self:
            return self.name
        if self.spec is not None:
            return {"name": self.name, "spec": self.spec}
        return {"name": self.name, "type": self.type, **({} if self.classes is None else {"classes": self.classes})}


#: ``open(config, split, tasks)`` -> the split of the dataset restricted to ``tasks``.
DatasetOpener = Callable[[Any, str, Sequence[str]], Any]


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset: the tasks its files provide, the ``data.options`` it reads, and its reader."""

    name: str
    tasks: tuple[str, ...]
    open: DatasetOpener
    #: ``data.options`` key -> what it means; any other key is a config error.
    options: Mapping[str, str] = field(default_factory=dict)
    #: Reads any task the config declares (by type or plugin), not only ``tasks``.
    declared_tasks: bool = False

    def provides(self, name: str) -> bool:
        return self.declared_tasks or name in self.tasks


_TYPES: dict[str, TaskType] = {}
_TASKS: dict[str, TaskEntry] = {}
_DATASETS: dict[str, DatasetEntry] = {}
_Entry = TypeVar("_Entry")


def _lookup(entries: Mapping[str, _Entry], name: str, what: str) -> _Entry:
    """``entries[name]``; an unknown name is one error listing the known ones."""
    try:
        return entries[name]
    except KeyError:
        raise TreeMTLError(f"unknown {what} {name!r}; expected one of {', '.join(entries)}") from None


def register_task_type(entry: TaskType) -> None:
    """Make ``entry.name`` a ``type`` configs may declare tasks with (losses and metrics:
    :data:`treemtl.training.tasks.TASK_TYPES`)."""
    if entry.name in _TYPES or entry.name == PLUGIN_TYPE:
        raise TreeMTLError(f"task type {entry.name!r} is already registered")
    if entry.head not in HEADS or entry.target not in TARGETS:
        raise TreeMTLError(f"task type {entry.name!r}: expected head in {HEADS} and target in {TARGETS}")
    _TYPES[entry.name] = entry


def task_type(name: str) -> TaskType:
    """The registered task type ``name``; TreeMTLError listing the known types otherwise."""
    return _lookup(_TYPES, name, "task type")


def task_type_names() -> tuple[str, ...]:
    """Every registered task type, in registration order."""
    return tuple(_TYPES)


def register_task(entry: TaskEntry) -> None:
    """Make ``entry.name`` a task configs may list; a name can be registered once."""
    if entry.name in _TASKS:
        raise TreeMTLError(f"task {entry.name!r} is already registered (as type {_TASKS[entry.name].type})")
    _TASKS[entry.name] = entry


def register_dataset(entry: DatasetEntry) -> None:
    """Make ``entry.name`` a value of ``data.dataset``; its tasks must be registered first."""
    if entry.name in _DATASETS:
        raise TreeMTLError(f"dataset {entry.name!r} is already registered")
    unknown = [name for name in entry.tasks if name not in _TASKS]
    if unknown or not (entry.tasks or entry.declared_tasks):
        raise TreeMTLError(
            f"dataset {entry.name!r}: provides unknown tasks {unknown or '(none)'}; "
            f"expected registered tasks ({', '.join(_TASKS)})"
        )
    _DATASETS[entry.name] = entry


def task(name: str) -> TaskEntry:
    """The registered task ``name``; TreeMTLError listing the known tasks otherwise."""
    return _lookup(_TASKS, name, "task")


def task_names() -> tuple[str, ...]:
    """Every registered task, in registration order."""
    return tuple(_TASKS)


def dataset(name: str) -> DatasetEntry:
    """The registered dataset ``name``, or the plugin dataset a ``package.module:callable`` names
    (it reads the config's tasks and any ``data.options``); TreeMTLError otherwise."""
    if name in _DATASETS:
        return _DATASETS[name]
    if is_spec(name):
        return DatasetEntry(name, (), _data.plugin_opener(name), declared_tasks=True)
    raise TreeMTLError(
        f"unknown dataset {name!r}; expected one of {', '.join(_DATASETS)} or a plugin 'package.module:callable'"
    )


def dataset_names() -> tuple[str, ...]:
    """Every registered dataset, in registration order."""
    return tuple(_DATASETS)


# ----------------------------------------------------------------------------------------------
# built-in task types, tasks (paper 4.1) and datasets

for _type in (
    TaskType("segmentation", "dense", "class_map", None),
    TaskType("depth", "dense", "dense_map", 1),
    TaskType("regression", "dense", "dense_map", 1),
    TaskType("normals", "dense", "normal_map", 3),
    TaskType("heatmap", "dense", "dense_map", 1),
    TaskType("classification", "pooled", "class_label", None),
    TaskType("image_regression", "pooled", "scalar", 1),
):
    register_task_type(_type)

for _entry in (
    TaskEntry("segment_semantic", "segmentation"),
    TaskEntry("depth_zbuffer", "depth"),
    TaskEntry("normal", "normals"),
    TaskEntry("keypoints2d", "heatmap"),
    TaskEntry("edge_texture", "heatmap"),
):
    register_task(_entry)

#: The five Taskonomy tasks of the paper: what Tiny-Taskonomy and the folder dataset know by name.
PAPER_TASKS: tuple[str, ...] = task_names()

# Tasks only the synthetic renderer provides: it knows each pixel's surface, material and light
# (how each is computed: treemtl.training.data.synthetic).
for _entry in (
    TaskEntry("edge_occlusion", "heatmap"),
    TaskEntry("reshading", "regression"),
    TaskEntry("reflectance", "regression"),
    TaskEntry("mean_curvature", "regression"),
    TaskEntry("object_count", "image_regression"),
    TaskEntry("sphere_visible", "classification", classes=2),
):
    register_task(_entry)

_RESIZE = "[H, W] to resize to (default: the files' size)"
_NUM_CLASSES = "segmentation classes; labels must be below it"

register_dataset(DatasetEntry("synthetic", task_names(), _data.open_synthetic))
register_dataset(
    DatasetEntry(
        "nyuv2",
        ("segment_semantic", "depth_zbuffer", "normal"),
        _data.open_nyuv2,
        {
            "split_file": "JSON object with a sample list per split (default nyu_v2_3task.json)",
            "train_split": "JSON file of the train samples, instead of split_file",
            "val_split": "JSON file of the val samples, instead of split_file",
            "num_classes": _NUM_CLASSES + " (default 40)",
            "resize": _RESIZE,
        },
    )
)
register_dataset(
    DatasetEntry(
        "nyuv2_mtan",
        ("segment_semantic", "depth_zbuffer", "normal"),
        _data.open_nyuv2_mtan,
        {
            "train_dir": "folder of the train arrays (default train)",
            "val_dir": "folder of the val arrays (default val)",
            "num_classes": _NUM_CLASSES + " (default 13)",
            "resize": _RESIZE,
        },
    )
)
register_dataset(
    DatasetEntry(
        "taskonomy",
        PAPER_TASKS,
        _data.open_taskonomy,
        {
            "train_buildings": "train building names, or a text file of them",
            "val_buildings": "val building names, or a text file of them",
            "split_file": "JSON object {train: [...], val: [...]} of building names",
            "resize": _RESIZE,
            "depth": "metres | log",
            "depth_invalid_from": "raw depth from which a pixel has no depth (default 65535)",
            "keypoints_max": "clipping range of keypoints2d (default 0.005)",
            "edge_max": "clipping range of edge_texture (default 0.08)",
        },
    )
)
register_dataset(
    DatasetEntry(
        "folder",
        PAPER_TASKS,
        _data.open_folder,
        {
            "resize": _RESIZE + "; required when the images differ in size",
            "num_classes": "classes of the built-in segment_semantic task (required when it is listed)",
        },
        declared_tasks=True,
    )
)
