"""Datasets: the built-in synthetic scenes, NYUv2 (two layouts) and Tiny-Taskonomy.

:func:`build_dataset` is the one entry point the training code uses; it picks the loader named
by ``config.data.dataset``. Loaders are imported lazily so that the torch-free parts (scene
generation in worker processes, the CLI's ``data synth``) start fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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

    ``config`` is an :class:`treemtl.training.config.ExperimentConfig`; only ``data.dataset``,
    ``data.root``, ``data.options`` and ``experiment`` are read.
    """
    if split not in SPLITS:
        raise TreeMTLError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    data = config.data
    dataset = data.dataset
    options: Mapping[str, Any] = data.options or {}
    if dataset == "synthetic":
        from treemtl.training.data.synthetic import SyntheticDataset

        root = synthetic_root(config)
        if not (root / "manifest.json").is_file():
            synth = data.synthetic
            raise TreeMTLError(
                f"{root}: synthetic dataset not found; create it with `treemtl data synth --out {root} "
                f"--n {synth.n_train} --n-val {synth.n_val} --size {synth.size} --seed {synth.seed}` "
                "(the workflow does this in its data step)"
            )
        return SyntheticDataset(root, split, tasks)  # type: ignore[return-value]
    if data.root is None:
        raise TreeMTLError(f"data.root: required for dataset {dataset!r} (the folder holding the dataset)")
    root = Path(data.root)
    if not root.is_dir():
        raise TreeMTLError(f"data.root: dataset folder {root} does not exist (dataset {dataset!r}; download and prepare it there)")
    if dataset == "nyuv2":
        from treemtl.training.data.nyuv2 import NYUv2AdaShare

        return NYUv2AdaShare(root, split, tasks, options)
    if dataset == "nyuv2_mtan":
        from treemtl.training.data.nyuv2 import NYUv2Mtan

        return NYUv2Mtan(root, split, tasks, options)
    if dataset == "taskonomy":
        from treemtl.training.data.taskonomy import Taskonomy

        return Taskonomy(root, split, tasks, options)
    raise TreeMTLError(f"data.dataset: unknown dataset {dataset!r}; expected synthetic, nyuv2, nyuv2_mtan or taskonomy")
