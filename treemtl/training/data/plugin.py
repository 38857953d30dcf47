"""Dataset plugins: ``data.dataset: "package.module:callable"`` for data no built-in reader knows.

The callable has the signature of the built-in openers (:data:`treemtl.training.registry.DatasetOpener`)::

    def open_my_data(config: ExperimentConfig, split: str, tasks: Sequence[str]) -> Dataset

It is called once per split (``train``, ``val``) with the tasks to load, and returns a map-style
dataset (``__len__`` and ``__getitem__``) whose items follow the item contract of
:mod:`treemtl.training.data.common` for those tasks; ``num_classes`` is read from it when present.
The result is wrapped so that every item is checked: a wrong type or shape is one error naming
the plugin and the item, not a failure inside a training step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset

from treemtl.errors import TreeMTLError
from treemtl.plugin import call_plugin
from treemtl.training.data.common import Item, check_item


class CheckedDataset(Dataset[Item]):
    """A plugin's dataset whose items are checked against the item contract as they are read."""

    def __init__(self, dataset: Any, spec: str, split: str, shapes: dict[str, tuple[str, int]], num_classes: int) -> None:
        self.dataset = dataset
        self.where = f"data.dataset {spec!r} ({split} split)"
        self.shapes = shapes
        self.num_classes = num_classes
        self.tasks = tuple(shapes)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Item:
        try:
            item = self.dataset[index]
        except TreeMTLError:
            raise
        except Exception as error:  # user code may raise anything while reading a sample
            raise TreeMTLError(f"{self.where}: item {index} raised {type(error).__name__}: {error}") from error
        check_item(item, self.shapes, f"{self.where}: item {index}")
        return item  # type: ignore[no-any-return]


def open_plugin_dataset(spec: str, config: Any, split: str, tasks: Sequence[str]) -> CheckedDataset:
    """Call the plugin for ``split`` and check what it returns (a non-empty map-style dataset)."""
    from treemtl.training.tasks import get_task, out_channels

    dataset = call_plugin(spec, "data.dataset", config, split, tuple(tasks))
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise TreeMTLError(f"data.dataset {spec!r}: returned {type(dataset).__name__} for the {split} split; "
                           "expected a dataset with __len__ and __getitem__ (e.g. a torch Dataset)")
    if len(dataset) == 0:
        raise TreeMTLError(f"data.dataset {spec!r}: the {split} split is empty")
    num_classes = getattr(dataset, "num_classes", 0)
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 0:
        raise TreeMTLError(f"data.dataset {spec!r}: num_classes is {num_classes!r}; expected a non-negative integer")
    shapes = {}
    for task in tasks:
        task_spec = get_task(task, config)
        shapes[task] = (task_spec.target, out_channels(task_spec, num_classes))
    return CheckedDataset(dataset, spec, split, shapes, num_classes)
