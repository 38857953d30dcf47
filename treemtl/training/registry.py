"""What an experiment config may name: its tasks and its datasets, in one registry.

Every list of task or dataset names (the config's checks, the data loaders, the workflow's head
profile, the CLI) is read from here, so adding a task or a dataset is one ``register_*`` call.
Entries are plain declarations and this module is torch-free: validating a config or parsing
the workflow must not pay for importing torch. How a task is trained and measured comes from
its *type* (:mod:`treemtl.training.tasks` builds the losses and metrics of each type); how a
dataset is read comes from its ``open`` function, whose loader is imported only when called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from treemtl.errors import TreeMTLError
from treemtl.training import data as _data


@dataclass(frozen=True)
class TaskEntry:
    """A task name and its type (``segmentation``, ``depth``, ``normals``, ``heatmap``)."""

    name: str
    type: str


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


_TASKS: dict[str, TaskEntry] = {}
_DATASETS: dict[str, DatasetEntry] = {}


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
    if unknown or not entry.tasks:
        raise TreeMTLError(
            f"dataset {entry.name!r}: provides unknown tasks {unknown or '(none)'}; "
            f"expected registered tasks ({', '.join(_TASKS)})"
        )
    _DATASETS[entry.name] = entry


def task(name: str) -> TaskEntry:
    """The registered task ``name``; TreeMTLError listing the known tasks otherwise."""
    try:
        return _TASKS[name]
    except KeyError:
        raise TreeMTLError(f"unknown task {name!r}; expected one of {', '.join(_TASKS)}") from None


def task_names() -> tuple[str, ...]:
    """Every registered task, in registration order."""
    return tuple(_TASKS)


def dataset(name: str) -> DatasetEntry:
    """The registered dataset ``name``; TreeMTLError listing the known datasets otherwise."""
    try:
        return _DATASETS[name]
    except KeyError:
        raise TreeMTLError(f"unknown dataset {name!r}; expected one of {', '.join(_DATASETS)}") from None


def dataset_names() -> tuple[str, ...]:
    """Every registered dataset, in registration order."""
    return tuple(_DATASETS)


# ----------------------------------------------------------------------------------------------
# built-in tasks (paper 4.1) and datasets

for _entry in (
    TaskEntry("segment_semantic", "segmentation"),
    TaskEntry("depth_zbuffer", "depth"),
    TaskEntry("normal", "normals"),
    TaskEntry("keypoints2d", "heatmap"),
    TaskEntry("edge_texture", "heatmap"),
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
        task_names(),
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
