"""Tiny-Taskonomy in its distributed folder layout (five tasks of the paper).

Layout: ``<root>/<building>/rgb/point_<p>_view_<v>_domain_rgb.png`` and, for each task, a
folder ``<root>/<building>/<task>/`` holding ``point_<p>_view_<v>_domain_<task>.png`` for the
tasks ``segment_semantic``, ``normal``, ``depth_zbuffer``, ``keypoints2d``, ``edge_texture``.

Decoding follows the conventions of the loaders the paper's baselines use (AdaShare):

* ``segment_semantic``: 8-bit labels 0..17 where 0 is background/unlabelled -> ignore (-1);
  labels 1..17 become classes 0..16 (17 classes);
* ``depth_zbuffer``: 16-bit, units of 1/512 m; values >= ``depth_invalid_from`` (default
  65535) have no depth -> 0 and ``depth_zbuffer_mask`` false; returned in metres, or as
  AdaShare's ``log(1 + raw) / log(2**16)`` with ``depth: log``;
* ``normal``: RGB 8-bit mapped to ``x/255*2-1``, unit length; its mask is the depth mask when
  the depth file exists (as in AdaShare), otherwise "vector not zero";
* ``keypoints2d`` / ``edge_texture``: 16-bit, divided by 2**16 and by AdaShare's clipping range
  (0.005 and 0.08 of full scale) and clipped, giving targets in [0, 1] like the synthetic data.

``data.options``:

* ``train_buildings`` / ``val_buildings``: a list of building names, or a path (relative to
  ``data.root``) of a text file with one name per line;
* ``split_file``: alternatively a JSON file ``{"train": [...], "val": [...]}`` of building names
  (``test`` is accepted for val);
* ``resize`` ``[H, W]`` (e.g. ``[256, 256]`` as in AdaShare; default: the files' size);
* ``depth`` (``metres`` | ``log``), ``depth_invalid_from`` (AdaShare masks from 64500),
  ``keypoints_max`` (0.005), ``edge_max`` (0.08).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from treemtl.training.data.common import (
    ListedFileDataset,
    check_tasks,
    normalize_rgb,
    parse_size,
    unit_normals,
)
from treemtl.training.data.io import check_hw, read_json, read_png, require_file
from treemtl.errors import TreeMTLError
from treemtl.training.registry import dataset

TASKS: tuple[str, ...] = dataset("taskonomy").tasks
NUM_CLASSES = 17
DEPTH_UNITS_PER_METRE = 512.0
_RGB_SUFFIX = "_domain_rgb.png"


def _number(options: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise TreeMTLError(f"{where}: data.options.{key}: expected a positive number, got {value!r}")
    return float(value)


class Taskonomy(ListedFileDataset):
    """Tiny-Taskonomy samples of the buildings assigned to one split."""

    def __init__(self, root: str | Path, split: str, tasks: Sequence[str], options: Mapping[str, Any]) -> None:
        self.root = Path(root)
        where = str(self.root)
        if not self.root.is_dir():
            raise TreeMTLError(f"{self.root}: Taskonomy folder not found (set data.root to the folder holding the buildings)")
        tasks = check_tasks(tasks, TASKS, "taskonomy")
        self.depth_mode = str(options.get("depth", "metres"))
        if self.depth_mode not in ("metres", "log"):
            raise TreeMTLError(f"{where}: data.options.depth: expected 'metres' or 'log', got {self.depth_mode!r}")
        self.depth_invalid_from = _number(options, "depth_invalid_from", 65535, where)
        self.keypoints_max = _number(options, "keypoints_max", 0.005, where)
        self.edge_max = _number(options, "edge_max", 0.08, where)
        self.buildings = self._buildings(split, options)
        self.samples: list[tuple[Path, str]] = []  # (building folder, "point_<p>_view_<v>")
        for building in self.buildings:
            folder = self.root / building
            rgb = folder / "rgb"
            if not rgb.is_dir():
                raise TreeMTLError(f"{rgb}: folder not found (building {building!r} of split {split!r})")
            for task in tasks:
                if not (folder / task).is_dir():
                    raise TreeMTLError(f"{folder / task}: folder for task {task} not found")
            stems = sorted(p.name[: -len(_RGB_SUFFIX)] for p in rgb.glob(f"*{_RGB_SUFFIX}"))
            if not stems:
                raise TreeMTLError(f"{rgb}: no *{_RGB_SUFFIX} images")
            self.samples.extend((folder, stem) for stem in stems)
        super().__init__(tasks, NUM_CLASSES, parse_size(options.get("resize"), f"{where}: data.options.resize"), len(self.samples))

    def _buildings(self, split: str, options: Mapping[str, Any]) -> list[str]:
        keys = ("train",) if split == "train" else ("val", "test")
        value = options.get(f"{split}_buildings")
        source = f"data.options.{split}_buildings"
        if value is None and options.get("split_file") is not None:
            path = self.root / str(options["split_file"])
            data = read_json(path, "Taskonomy split file")
            value = next((data[k] for k in keys if k in data), None) if isinstance(data, dict) else None
            source = str(path)
            if value is None:
                raise TreeMTLError(f"{path}: no building list for split {split!r} (looked for key {' or '.join(keys)})")
        if value is None:
            raise TreeMTLError(
                f"{self.root}: no buildings for split {split!r}; set data.options.{split}_buildings "
                "(a list or a text file of names) or data.options.split_file"
            )
        if isinstance(value, str):
            path = require_file(self.root / value, "building list")
            value = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            source = str(path)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise TreeMTLError(f"{source}: expected a non-empty list of building names, got {value!r}")
        return list(value)

    def _path(self, index: int, task: str) -> Path:
        """The file of ``task`` (or ``rgb``) of sample ``index``."""
        folder, stem = self.samples[index]
        return folder / task / f"{stem}_domain_{task}.png"

    def sample_files(self, index: int) -> dict[str, Path]:
        return {"image": self._path(index, "rgb"), **{task: self._path(index, task) for task in self.tasks}}

    def sample_source(self, index: int) -> Path:
        return self.samples[index][0]

    def _read16(self, path: Path, task: str, hw: tuple[int, int]) -> np.ndarray:
        raw = read_png(path, dtypes={"uint16", "int32"}, channels={1}, what=f"{task} (16-bit PNG)")
        check_hw(raw, hw, path, task)
        return raw.astype(np.float64)

    def load_arrays(self, index: int) -> dict[str, np.ndarray]:
        files = self.sample_files(index)
        image = read_png(files["image"], dtypes={"uint8"}, channels={3}, what="RGB image")
        hw = (int(image.shape[0]), int(image.shape[1]))
        out: dict[str, np.ndarray] = {"image": normalize_rgb(image)}
        depth_valid: np.ndarray | None = None
        depth_path = self._path(index, "depth_zbuffer")  # the normals' mask when present
        if "depth_zbuffer" in self.tasks or ("normal" in self.tasks and depth_path.is_file()):
            raw = self._read16(depth_path, "depth_zbuffer", hw)
            depth_valid = raw < self.depth_invalid_from
            if "depth_zbuffer" in self.tasks:
                if self.depth_mode == "metres":
                    depth = raw / DEPTH_UNITS_PER_METRE
                else:
                    depth = np.log1p(raw) / math.log(2.0**16)
                out["depth_zbuffer"] = np.where(depth_valid, depth, 0.0).astype(np.float32)
                out["depth_zbuffer_mask"] = depth_valid & (out["depth_zbuffer"] > 0)
        if "segment_semantic" in self.tasks:
            path = files["segment_semantic"]
            seg = read_png(path, dtypes={"uint8"}, channels={1}, what="segment_semantic (8-bit PNG)").astype(np.int64)
            check_hw(seg, hw, path, "segment_semantic")
            if seg.max() > NUM_CLASSES:
                raise TreeMTLError(f"{path}: segmentation label {int(seg.max())} out of range; expected 0..{NUM_CLASSES} (0 = unlabelled)")
            out["segment_semantic"] = seg - 1  # 0 (unlabelled) -> -1 ignore
        if "normal" in self.tasks:
            path = files["normal"]
            raw_n = read_png(path, dtypes={"uint8"}, channels={3}, what="normal (RGB PNG)")
            check_hw(raw_n, hw, path, "normal")
            vectors = raw_n.astype(np.float32) / 255.0 * 2.0 - 1.0
            valid = depth_valid if depth_valid is not None else raw_n.any(axis=2)
            out["normal"] = unit_normals(vectors, valid)
            out["normal_mask"] = valid & out["normal"].any(axis=2)
        if "keypoints2d" in self.tasks:
            raw = self._read16(files["keypoints2d"], "keypoints2d", hw)
            out["keypoints2d"] = np.clip(raw / 2.0**16 / self.keypoints_max, 0.0, 1.0).astype(np.float32)
        if "edge_texture" in self.tasks:
            raw = self._read16(files["edge_texture"], "edge_texture", hw)
            out["edge_texture"] = np.clip(raw / 2.0**16 / self.edge_max, 0.0, 1.0).astype(np.float32)
        return out
