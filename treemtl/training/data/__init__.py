"""Datasets: the built-in synthetic scenes, NYUv2 (two layouts), Tiny-Taskonomy, the folder
format for one's own data (:mod:`treemtl.training.data.folder`) and dataset plugins.

:func:`build_dataset` is the one entry point the training code uses; it opens the dataset that
:mod:`treemtl.training.registry` registers under ``config.data.dataset`` with one of the
``open_*`` functions below. Loaders are imported lazily so that the torch-free parts (scene
generation in worker processes, the CLI's ``data synth``) start fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treemtl.errors import TreeMTLError

if TYPE_CHECKING:
    from torch.utils.data import Dataset

SPLITS: tuple[str, ...] = ("train", "val")


def synthetic_root(config: Any) -> Path:
    """Folder of the synthetic data: ``data.root`` or ``results/<experiment>/data``."""
    root = config.data.root
    return Path(root) if root else Path("results") / str(config.experiment) / "data"


def build_dataset(config: Any, split: str, tasks: Sequence[str]) -> Dataset[Any]:
    """The ``split`` (``train`` or ``val``) of the configured dataset, restricted to ``tasks``.

    ``config`` is an :class:`treemtl.training.config.ExperimentConfig`; the dataset named by
    ``data.dataset`` is looked up in :mod:`treemtl.training.registry`, and its items go through
    ``data.augment`` (:mod:`treemtl.training.data.augment`) when that asks for anything.
    """
    # The registry imports this package for the openers below, so it is imported here.
    from treemtl.training.registry import dataset

    if split not in SPLITS:
        raise TreeMTLError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    opened = dataset(config.data.dataset).open(config, split, tasks)
    settings = config.data.augment
    if settings.scale is None and not settings.flip and settings.crop is None:
        return opened  # type: ignore[no-any-return]
    from treemtl.training.data.augment import AugmentedDataset
    from treemtl.training.tasks import get_task

    targets = {task: get_task(task, config).target for task in tasks}
    return AugmentedDataset(opened, targets, train=split == "train", seed=config.seed, scale=settings.scale,
                            flip=settings.flip, crop=settings.crop)


def open_synthetic(config: Any, split: str, tasks: Sequence[str]) -> Dataset[Any]:
    """The rendered benchmark under :func:`synthetic_root`; it must have been generated."""
    from treemtl.training.data.synthetic import SyntheticDataset

    root = synthetic_root(config)
    if not (root / "manifest.json").is_file():
        synth = config.data.synthetic
        raise TreeMTLError(
            f"{root}: synthetic dataset not found; create it with `treemtl data synth --out {root} "
            f"--n {synth.n_train} --n-val {synth.n_val} --size {synth.size} --seed {synth.seed}` "
            "(the workflow does this in its data step)"
        )
    return SyntheticDataset(root, split, tasks)  # type: ignore[return-value]


def open_nyuv2(config: Any, split: str, tasks: Sequence[str]) -> Dataset[Any]:
    """NYUv2 in the AdaShare / AutoMTL layout."""
    from treemtl.training.data.nyuv2 import NYUv2AdaShare

    return NYUv2AdaShare(_existing_root(config), split, tasks, config.data.options)


def open_nyuv2_mtan(config: Any, split: str, tasks: Sequence[str]) -> Dataset[Any]:
    """NYUv2 as the MTAN / LibMTL arrays."""
    from treemtl.training.data.nyuv2 import NYUv2Mtan

    return NYUv2Mtan(_existing_root(config), split, tasks, config.data.options)


def open_taskonomy(config: Any, split: str, tasks: Sequence[str]) -> Dataset[Any]:
    """Tiny-Taskonomy in its distributed folder layout."""
    from treemtl.training.data.taskonomy import Taskonomy

    return Taskonomy(_existing_root(config), split, tasks, config.data.options)


def open_folder(config: Any, split: str, tasks: Sequence[str]) -> Dataset[Any]:
    """One's own data in the folder format (``docs/own_tasks_and_data.md``)."""
    from treemtl.training.data.folder import FolderDataset

    return FolderDataset.from_config(config, _existing_root(config), split, tasks)


def plugin_opener(spec: str) -> Callable[[Any, str, Sequence[str]], Dataset[Any]]:
    """The opener of the dataset plugin ``package.module:callable`` (``data.dataset``)."""

    def open_plugin(config: Any, split: str, tasks: Sequence[str]) -> Dataset[Any]:
        from treemtl.training.data.plugin import open_plugin_dataset

        return open_plugin_dataset(spec, config, split, tasks)

    return open_plugin


def _existing_root(config: Any) -> Path:
    """``data.root`` of a dataset read from files: required, and an existing folder."""
    dataset = config.data.dataset
    if config.data.root is None:
        raise TreeMTLError(f"data.root: required for dataset {dataset!r} (the folder holding the dataset)")
    root = Path(config.data.root)
    if not root.is_dir():
        raise TreeMTLError(f"data.root: dataset folder {root} does not exist (dataset {dataset!r}; download and prepare it there)")
    return root
