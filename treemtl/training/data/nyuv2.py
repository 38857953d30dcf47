"""NYUv2 (segmentation, depth, surface normals) in the two layouts the community distributes.

``data.dataset: nyuv2`` — the AdaShare / AutoMTL layout. A JSON split file lists one entry
``[image, segmentation, normal, depth]`` of paths relative to ``data.root`` per sample:
images are RGB PNG/JPEG, segmentation an 8-bit PNG with 40 classes and 255 = ignore, normals an
RGB PNG mapped to ``x/255*2-1`` (pixels whose normal PNG is all zero have no normal), depth a
``.npy`` array in metres (0 = missing). ``data.options``:

* ``split_file`` (default ``nyu_v2_3task.json``): one JSON object with a list per split;
  the val split is read from key ``val`` or, failing that, ``test`` (AdaShare's name);
* ``train_split`` / ``val_split``: alternatively one JSON file per split holding the list
  (or an object with a ``train``/``val``/``test`` key); paths relative to ``data.root``;
* ``num_classes`` (default 40): labels must be below it (255 is ignore);
* ``resize`` ``[H, W]`` (default: keep the files' size): image bilinear, targets nearest.

``data.dataset: nyuv2_mtan`` — the pre-processed arrays of MTAN / LibMTL:
``<root>/<split>/{image,label,depth,normal}/<i>.npy`` with image HxWx3 float in [0, 1], label
HxW with 13 classes and -1 = ignore, depth HxWx1 or HxW (0 = missing), normal HxWx3 (zero =
missing). ``data.options``: ``train_dir`` (default ``train``), ``val_dir`` (default ``val``),
``num_classes`` (default 13), ``resize``.

Both return contract items: image normalized with ImageNet statistics, ``segment_semantic``
with -1 ignore, ``depth_zbuffer`` with ``depth_zbuffer_mask`` = depth > 0, ``normal`` (unit
vectors, zero where missing) with ``normal_mask``.
"""

from __future__ import annotations

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
from treemtl.training.data.io import check_hw, read_json, read_npy, read_png
from treemtl.errors import TreeMTLError
from treemtl.training.registry import dataset

TASKS: tuple[str, ...] = dataset("nyuv2").tasks
ADASHARE_CLASSES = 40
MTAN_CLASSES = 13
#: Column of each file in an AdaShare split entry ``[image, segmentation, normal, depth]``.
ADASHARE_COLUMNS = {"image": 0, "segment_semantic": 1, "normal": 2, "depth_zbuffer": 3}
#: Folder of each task's arrays in the MTAN layout, beside ``image/``.
MTAN_FOLDERS = {"segment_semantic": "label", "depth_zbuffer": "depth", "normal": "normal"}


def _option_int(options: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = options.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TreeMTLError(f"{where}: data.options.{key}: expected a positive integer, got {value!r}")
    return value


def _check_labels(seg: np.ndarray, num_classes: int, ignore: int, path: Path) -> None:
    bad = (seg != ignore) & ((seg < 0) | (seg >= num_classes))
    if bad.any():
        raise TreeMTLError(f"{path}: segmentation label {int(seg[bad][0])} out of range; expected 0..{num_classes - 1} or {ignore} (ignore)")


def _depth_arrays(depth: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """HxW or HxWx1 depth -> (depth with missing = 0, mask = depth > 0)."""
    if depth.ndim == 3:
        if depth.shape[2] != 1:
            raise TreeMTLError(f"{path}: depth has shape {depth.shape}; expected HxW or HxWx1")
        depth = depth[:, :, 0]
    depth = depth.astype(np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    return np.where(valid, depth, 0.0).astype(np.float32), valid


class NYUv2AdaShare(ListedFileDataset):
    """NYUv2 in the AdaShare/AutoMTL layout (JSON split file of relative paths)."""

    def __init__(self, root: str | Path, split: str, tasks: Sequence[str], options: Mapping[str, Any]) -> None:
        self.root = Path(root)
        where = str(self.root)
        if not self.root.is_dir():
            raise TreeMTLError(f"{self.root}: NYUv2 folder not found (set data.root to the AdaShare-layout NYUv2 folder)")
        tasks = check_tasks(tasks, TASKS, "nyuv2")
        self.split_file, self.entries = self._read_split(split, options)
        super().__init__(
            tasks,
            _option_int(options, "num_classes", ADASHARE_CLASSES, where),
            parse_size(options.get("resize"), f"{where}: data.options.resize"),
            len(self.entries),
        )

    def _read_split(self, split: str, options: Mapping[str, Any]) -> tuple[Path, list[tuple[str, str, str, str]]]:
        """The split file read and its entries."""
        keys = ("train",) if split == "train" else ("val", "test")
        per_split = options.get(f"{split}_split")
        if per_split is not None:
            path = self.root / str(per_split)
            data = read_json(path, f"NYUv2 {split} split file")
            if isinstance(data, dict):
                data = next((data[k] for k in keys if k in data), None)
        else:
            path = self.root / str(options.get("split_file", "nyu_v2_3task.json"))
            data = read_json(path, "NYUv2 split file")
            if not isinstance(data, dict):
                raise TreeMTLError(f"{path}: expected a JSON object with a list per split")
            data = next((data[k] for k in keys if k in data), None)
        if not isinstance(data, list) or not data:
            raise TreeMTLError(f"{path}: no sample list for split {split!r} (looked for key {' or '.join(keys)})")
        entries = []
        for k, entry in enumerate(data):
            if not (isinstance(entry, (list, tuple)) and len(entry) == 4 and all(isinstance(e, str) for e in entry)):
                raise TreeMTLError(f"{path}: entry {k} of split {split!r} is {entry!r}; expected [image, segmentation, normal, depth] paths")
            entries.append((entry[0], entry[1], entry[2], entry[3]))
        return path, entries

    def sample_files(self, index: int) -> dict[str, Path]:
        entry = self.entries[index]
        return {key: self.root / entry[ADASHARE_COLUMNS[key]] for key in ("image", *self.tasks)}

    def sample_source(self, index: int) -> Path:
        return self.split_file

    def load_arrays(self, index: int) -> dict[str, np.ndarray]:
        files = self.sample_files(index)
        image = read_png(files["image"], dtypes={"uint8"}, channels={3}, what="NYUv2 image")
        hw = image.shape[:2]
        out = {"image": normalize_rgb(image)}
        if "segment_semantic" in self.tasks:
            path = files["segment_semantic"]
            seg = read_png(path, dtypes={"uint8"}, channels={1}, what="NYUv2 segmentation").astype(np.int64)
            check_hw(seg, hw, path, "segmentation")
            _check_labels(seg, self.num_classes, 255, path)
            out["segment_semantic"] = np.where(seg == 255, -1, seg)
        if "depth_zbuffer" in self.tasks:
            path = files["depth_zbuffer"]
            depth = read_npy(path, ndims={2, 3}, what="NYUv2 depth")
            check_hw(depth, hw, path, "depth")
            out["depth_zbuffer"], out["depth_zbuffer_mask"] = _depth_arrays(depth, path)
        if "normal" in self.tasks:
            path = files["normal"]
            raw = read_png(path, dtypes={"uint8"}, channels={3}, what="NYUv2 normal")
            check_hw(raw, hw, path, "normal")
            valid = raw.any(axis=2)
            out["normal"] = unit_normals(raw.astype(np.float32) / 255.0 * 2.0 - 1.0, valid)
            out["normal_mask"] = valid & out["normal"].any(axis=2)
        return out


class NYUv2Mtan(ListedFileDataset):
    """NYUv2 as MTAN/LibMTL's pre-processed ``.npy`` arrays (13 classes)."""

    def __init__(self, root: str | Path, split: str, tasks: Sequence[str], options: Mapping[str, Any]) -> None:
        self.root = Path(root)
        where = str(self.root)
        folder = str(options.get("train_dir" if split == "train" else "val_dir", split))
        self.split_dir = self.root / folder
        image_dir = self.split_dir / "image"
        if not image_dir.is_dir():
            raise TreeMTLError(f"{image_dir}: NYUv2 (mtan layout) image folder not found; expected <root>/{folder}/image/<i>.npy")
        tasks = check_tasks(tasks, TASKS, "nyuv2_mtan")
        self.names = sorted((p.name for p in image_dir.glob("*.npy")), key=_numeric_key)
        if not self.names:
            raise TreeMTLError(f"{image_dir}: no .npy images")
        for task in tasks:
            if not (self.split_dir / MTAN_FOLDERS[task]).is_dir():
                raise TreeMTLError(f"{self.split_dir / MTAN_FOLDERS[task]}: folder for {task} not found")
        super().__init__(
            tasks,
            _option_int(options, "num_classes", MTAN_CLASSES, where),
            parse_size(options.get("resize"), f"{where}: data.options.resize"),
            len(self.names),
        )

    def sample_files(self, index: int) -> dict[str, Path]:
        name = self.names[index]
        return {"image": self.split_dir / "image" / name,
                **{task: self.split_dir / MTAN_FOLDERS[task] / name for task in self.tasks}}

    def sample_source(self, index: int) -> Path:
        return self.split_dir

    def load_arrays(self, index: int) -> dict[str, np.ndarray]:
        files = self.sample_files(index)
        img_path = files["image"]
        image = read_npy(img_path, ndims={3}, what="NYUv2 image")
        if image.shape[2] != 3:
            raise TreeMTLError(f"{img_path}: image has shape {image.shape}; expected HxWx3")
        if np.issubdtype(image.dtype, np.integer):
            raise TreeMTLError(f"{img_path}: image has dtype {image.dtype}; expected floats in [0, 1]")
        hw = image.shape[:2]
        out = {"image": normalize_rgb(image, full_scale=1.0)}
        if "segment_semantic" in self.tasks:
            path = files["segment_semantic"]
            seg = read_npy(path, ndims={2}, what="NYUv2 label")
            check_hw(seg, hw, path, "label")
            seg = np.round(seg).astype(np.int64)
            _check_labels(seg, self.num_classes, -1, path)
            out["segment_semantic"] = seg
        if "depth_zbuffer" in self.tasks:
            path = files["depth_zbuffer"]
            depth = read_npy(path, ndims={2, 3}, what="NYUv2 depth")
            check_hw(depth, hw, path, "depth")
            out["depth_zbuffer"], out["depth_zbuffer_mask"] = _depth_arrays(depth, path)
        if "normal" in self.tasks:
            path = files["normal"]
            normal = read_npy(path, ndims={3}, what="NYUv2 normal")
            if normal.shape[2] != 3:
                raise TreeMTLError(f"{path}: normal has shape {normal.shape}; expected HxWx3")
            check_hw(normal, hw, path, "normal")
            normal = normal.astype(np.float32)
            valid = np.isfinite(normal).all(axis=2) & (np.abs(normal).sum(axis=2) > 0)
            out["normal"] = unit_normals(np.nan_to_num(normal), valid)
            out["normal_mask"] = valid & out["normal"].any(axis=2)
        return out


def _numeric_key(name: str) -> tuple[int, int | str]:
    stem = name[: -len(".npy")]
    return (0, int(stem)) if stem.isdigit() else (1, stem)
