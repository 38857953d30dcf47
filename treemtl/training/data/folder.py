"""The folder format: one's own images and labels as plain files (``data.dataset: folder``).

The layout (``docs/own_tasks_and_data.md`` has the full description)::

    DIR/<split>/images/<stem>.png|.jpg     RGB images, 8 bits; one stem per sample
    DIR/<split>/<task>/<stem>.png          segmentation: class ids, 255 = ignore
    DIR/<split>/<task>/<stem>.npy          depth, regression, heatmap: float32 HxW (NaN = no label);
                                           normals: float32 HxWx3 (NaN or zero = no label)
    DIR/<split>/<task>.csv                 classification, image_regression: ``stem,label``
                                           (an empty label = no label)

Splits ``train`` and ``val`` are required; ``test`` is checked when present. A task's storage
follows from its target format (:data:`treemtl.training.registry.TARGETS`), so a plugin task is
stored like the built-in type with the same target. Opening a split checks the file *names*
(missing and extra stems, CSV rows); :func:`check_folder` (``treemtl data check``) also reads every
file and reports every problem, so a bad file is found before training rather than hours into it.
Images are normalized with the ImageNet statistics. Options: ``resize`` ([H, W]; needed when the
images differ in size) and ``num_classes`` (for the built-in ``segment_semantic`` task).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from treemtl.errors import TreeMTLError
from treemtl.training.data.common import (
    IMAGE_LEVEL,
    FileDataset,
    check_tasks,
    normalize_rgb,
    parse_size,
    unit_normals,
)
from treemtl.training.data.io import check_hw, read_npy, read_png

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg")
REQUIRED_SPLITS: tuple[str, ...] = ("train", "val")
OPTIONAL_SPLITS: tuple[str, ...] = ("test",)
#: Class id of an unlabelled pixel in a segmentation PNG.
IGNORE_PNG = 255
#: How many problems ``treemtl data check`` lists (it counts them all).
SHOWN_PROBLEMS = 20
_SUFFIX = {"class_map": ".png", "dense_map": ".npy", "normal_map": ".npy"}


@dataclass(frozen=True)
class FolderTask:
    """How one task is stored: its target format and its channels (classes for class ids)."""

    name: str
    target: str
    channels: int

    @property
    def image_level(self) -> bool:
        return self.target in IMAGE_LEVEL

    def location(self, split_dir: Path) -> Path:
        """The task's CSV file (image-level) or folder of per-image files (dense)."""
        return split_dir / f"{self.name}.csv" if self.image_level else split_dir / self.name

    def file(self, split_dir: Path, stem: str) -> Path:
        return split_dir / self.name / f"{stem}{_SUFFIX[self.target]}"

    @property
    def array_shape(self) -> str:
        """Shape of a ``.npy`` label file, in words."""
        channels = 3 if self.target == "normal_map" else self.channels
        return "HxW" if channels == 1 else f"HxWx{channels}"

    @property
    def what(self) -> str:
        return {
            "class_map": f"a PNG of class ids 0..{self.channels - 1} ({IGNORE_PNG} = ignore)",
            "dense_map": f"a float32 .npy of shape {self.array_shape}",
            "normal_map": f"a float32 .npy of shape {self.array_shape}",
            "class_label": f"a CSV stem,label with class ids 0..{self.channels - 1}",
            "scalar": "a CSV stem,label with numbers",
        }[self.target]


def folder_tasks(config: Any, tasks: Sequence[str]) -> tuple[list[FolderTask], int]:
    """The storage of each of ``tasks`` in ``config``'s folder dataset, and its ``num_classes``."""
    from treemtl.training.tasks import get_task, out_channels

    num_classes = config.data.options.get("num_classes", 0)
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 0:
        raise TreeMTLError(f"data.options.num_classes: expected an integer >= 2, got {num_classes!r}")
    stored = []
    for task in tasks:
        spec = get_task(task, config)
        if spec.target == "class_map" and spec.channels(0) == 0 and num_classes < 2:
            raise TreeMTLError(
                f"data.options.num_classes: required for the built-in task {task!r} in a folder dataset "
                f"(an integer >= 2), or declare it as {{name: {task}_classes, type: segmentation, classes: N}}"
            )
        stored.append(FolderTask(task, spec.target, out_channels(spec, num_classes)))
    return stored, num_classes


@dataclass
class SplitIndex:
    """The samples of one split: stem -> image file, and the labels read from the CSV files."""

    split_dir: Path
    images: dict[str, Path] = field(default_factory=dict)
    labels: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def stems(self) -> list[str]:
        return sorted(self.images)


def index_split(root: Path, split: str, tasks: Sequence[FolderTask], problems: list[str]) -> SplitIndex:
    """List a split's samples and check its file *names*, appending every problem to ``problems``."""
    split_dir = root / split
    index = SplitIndex(split_dir)
    image_dir = split_dir / "images"
    if not image_dir.is_dir():
        problems.append(f"{image_dir}: image folder not found (expected {split}/images/<stem>.png or .jpg)")
        return index
    for path in sorted(image_dir.iterdir()):
        if path.name.startswith("."):
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            problems.append(f"{path}: not an image (expected <stem>{' or <stem>'.join(IMAGE_SUFFIXES)})")
        elif path.stem in index.images:
            problems.append(f"{path}: stem {path.stem!r} has two images ({index.images[path.stem].name} too)")
        else:
            index.images[path.stem] = path
    if not index.images:
        problems.append(f"{image_dir}: no images; the {split} split is empty")
        return index
    for task in tasks:
        location = task.location(split_dir)
        if task.image_level:
            index.labels[task.name] = _read_labels(location, task, set(index.images), problems)
            continue
        if not location.is_dir():
            problems.append(f"{location}: folder of task {task.name!r} not found (expected {task.what} per image)")
            continue
        suffix = _SUFFIX[task.target]
        found = {p.stem: p for p in location.iterdir() if not p.name.startswith(".")}
        for stem in index.stems:
            if stem not in found:
                problems.append(f"{task.file(split_dir, stem)}: missing (image {index.images[stem].name} has no {task.name} label)")
            elif found[stem].suffix != suffix:
                problems.append(f"{found[stem]}: expected {task.file(split_dir, stem).name} ({task.what})")
        for stem in sorted(set(found) - set(index.images)):
            problems.append(f"{found[stem]}: stem {stem!r} has no image in {image_dir}")
    return index


def _read_labels(path: Path, task: FolderTask, stems: set[str], problems: list[str]) -> dict[str, float | None]:
    """``stem -> label`` of an image-level task's CSV (None = no label), checking every row."""
    labels: dict[str, float | None] = {}
    if not path.is_file():
        problems.append(f"{path}: label file of task {task.name!r} not found (expected {task.what})")
        return labels
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        problems.append(f"{path}: cannot read CSV: {error}")
        return labels
    if not rows or [cell.strip() for cell in rows[0]] != ["stem", "label"]:
        problems.append(f"{path}: expected the header 'stem,label', got {','.join(rows[0]) if rows else 'an empty file'!r}")
        return labels
    listed: set[str] = set()
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 2:
            problems.append(f"{path}: line {line}: expected 2 columns stem,label, got {row!r}")
            continue
        stem, text = row[0].strip(), row[1].strip()
        if stem in listed:
            problems.append(f"{path}: line {line}: stem {stem!r} listed twice")
        elif stem not in stems:
            problems.append(f"{path}: line {line}: stem {stem!r} has no image")
        else:
            listed.add(stem)
            try:
                labels[stem] = _parse_label(text, task)
            except ValueError as error:
                problems.append(f"{path}: line {line}: {error}")
    for stem in sorted(stems - listed):
        problems.append(f"{path}: no row for stem {stem!r} (leave its label empty if it has none)")
    return labels


def _parse_label(text: str, task: FolderTask) -> float | None:
    if text == "":
        return None
    if task.target == "class_label":
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"label {text!r} is not a class id (an integer 0..{task.channels - 1})") from None
        if not 0 <= value < task.channels:
            raise ValueError(f"class id {value} out of range 0..{task.channels - 1}")
        return value
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"label {text!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"label {text!r} is not finite (leave it empty if there is none)")
    return number


# ----------------------------------------------------------------------------------------------
# reading files


def read_image(path: Path) -> np.ndarray:
    """An 8-bit image as uint8 HxWx3 (grey and RGBA are converted); unreadable -> TreeMTLError."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode not in ("L", "RGB", "RGBA", "P", "LA"):
                raise TreeMTLError(f"{path}: image mode {image.mode}; expected an 8-bit RGB or grey image")
            array = np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise TreeMTLError(f"{path}: cannot read image: {error}") from None
    return array


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image, from its header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise TreeMTLError(f"{path}: cannot read image: {error}") from None
    return height, width


def read_target(task: FolderTask, index: SplitIndex, stem: str, hw: tuple[int, int]) -> dict[str, np.ndarray]:
    """The target (and validity mask) of ``task`` for ``stem``, checked; TreeMTLError names the file."""
    if task.image_level:
        value = index.labels[task.name].get(stem)
        if task.target == "class_label":
            return {task.name: np.asarray(-1 if value is None else int(value))}
        return {task.name: np.asarray(0.0 if value is None else value), f"{task.name}_mask": np.asarray(value is not None)}
    path = task.file(index.split_dir, stem)
    if task.target == "class_map":
        labels = read_png(path, dtypes={"uint8", "uint16"}, channels={1}, what=f"{task.name} label map").astype(np.int64)
        check_hw(labels, hw, path, f"{task.name} label map")
        bad = labels[(labels != IGNORE_PNG) & (labels >= task.channels)]
        if bad.size:
            raise TreeMTLError(f"{path}: class id {int(bad.max())} out of range 0..{task.channels - 1} ({IGNORE_PNG} = ignore)")
        return {task.name: np.where(labels == IGNORE_PNG, -1, labels)}
    array = read_npy(path, ndims={2, 3}, what=f"{task.name} array")
    if not np.issubdtype(array.dtype, np.floating):
        raise TreeMTLError(f"{path}: {task.name} array has dtype {array.dtype}; expected float32")
    channels = 3 if task.target == "normal_map" else task.channels
    if array.ndim == 2 and channels == 1:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] != channels:
        raise TreeMTLError(f"{path}: {task.name} array has shape {tuple(array.shape)}; expected {task.array_shape}")
    check_hw(array, hw, path, f"{task.name} array")
    array = array.astype(np.float32)
    if task.target == "normal_map":
        valid = np.isfinite(array).all(axis=2) & (np.abs(np.nan_to_num(array)).sum(axis=2) > 0)
        normals = unit_normals(np.nan_to_num(array), valid)
        return {task.name: normals, f"{task.name}_mask": valid & normals.any(axis=2)}
    valid = np.isfinite(array).all(axis=2)
    values = np.where(np.isfinite(array), array, 0.0).astype(np.float32)
    return {task.name: values[:, :, 0] if channels == 1 else values, f"{task.name}_mask": valid}


# ----------------------------------------------------------------------------------------------
# the dataset


class FolderDataset(FileDataset):
    """One split of a folder dataset; files are decoded (and checked) on access."""

    def __init__(self, root: str | Path, split: str, tasks: Sequence[FolderTask], num_classes: int,
                 size: tuple[int, int] | None) -> None:
        self.root = Path(root)
        self.split = split
        self.stored = list(tasks)
        problems: list[str] = []
        self.index = index_split(self.root, split, self.stored, problems)
        if problems:
            more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
            raise TreeMTLError(f"{problems[0]}{more}; `treemtl data check --config CONFIG` lists them")
        self.stems = self.index.stems
        self.hw = image_size(self.index.images[self.stems[0]])
        names = tuple(task.name for task in self.stored)
        super().__init__(names, num_classes, size, len(self.stems), {task.name: task.target for task in self.stored})

    @classmethod
    def from_config(cls, config: Any, root: Path, split: str, tasks: Sequence[str]) -> FolderDataset:
        tasks = check_tasks(tasks, list(config.tasks), "folder dataset")
        stored, num_classes = folder_tasks(config, tasks)
        return cls(root, split, stored, num_classes, parse_size(config.data.options.get("resize"), "data.options.resize"))

    def load_arrays(self, index: int) -> dict[str, np.ndarray]:
        stem = self.stems[index]
        path = self.index.images[stem]
        image = read_image(path)
        hw = (int(image.shape[0]), int(image.shape[1]))
        if self.size is None and hw != self.hw:
            first = self.index.images[self.stems[0]].name
            raise TreeMTLError(f"{path}: image is {hw[0]}x{hw[1]}, {first} is {self.hw[0]}x{self.hw[1]}; "
                               "set data.options.resize: [H, W] to train on images of different sizes")
        arrays: dict[str, np.ndarray] = {"image": normalize_rgb(image)}
        for task in self.stored:
            arrays.update(read_target(task, self.index, stem, hw))
        return arrays


# ----------------------------------------------------------------------------------------------
# the complete check


@dataclass(frozen=True)
class FolderReport:
    """What :func:`check_folder` found: samples per split, image sizes, and every problem."""

    samples: dict[str, int]
    image_sizes: list[tuple[int, int]]
    problems: list[str]


def check_folder(config: Any, tasks: Sequence[str]) -> FolderReport:
    """Read every file of every split of ``config``'s folder dataset and collect every problem:
    missing or extra stems, unreadable images, shapes, dtypes, class ids out of range, CSV rows."""
    from treemtl.training.data import _existing_root

    root = _existing_root(config)
    stored, _ = folder_tasks(config, check_tasks(tasks, list(config.tasks), "folder dataset"))
    resize = parse_size(config.data.options.get("resize"), "data.options.resize")
    problems: list[str] = []
    samples: dict[str, int] = {}
    sizes: dict[tuple[int, int], str] = {}
    splits = [*REQUIRED_SPLITS, *(s for s in OPTIONAL_SPLITS if (root / s).is_dir())]
    for split in splits:
        if not (root / split).is_dir():
            problems.append(f"{root / split}: split folder not found (expected {split}/images/ and one entry per task)")
            continue
        index = index_split(root, split, stored, problems)
        samples[split] = len(index.images)
        for stem in index.stems:
            try:
                image = read_image(index.images[stem])
            except TreeMTLError as error:
                problems.append(str(error))
                continue
            hw = (int(image.shape[0]), int(image.shape[1]))
            sizes.setdefault(hw, str(index.images[stem]))
            for task in stored:
                if task.image_level or task.file(index.split_dir, stem).is_file():
                    try:
                        read_target(task, index, stem, hw)
                    except (TreeMTLError, KeyError) as error:
                        problems.append(str(error))
    if len(sizes) > 1 and resize is None:
        (first, first_path), (other, other_path) = list(sizes.items())[:2]
        problems.append(f"{other_path}: image is {other[0]}x{other[1]}, {first_path} is {first[0]}x{first[1]}; "
                        "set data.options.resize: [H, W] to train on images of different sizes")
    return FolderReport(samples, sorted(sizes), problems)


def problems_text(problems: Sequence[str], shown: int = SHOWN_PROBLEMS) -> list[str]:
    """The first ``shown`` problems and a count of the rest, one line each."""
    lines = list(problems[:shown])
    if len(problems) > shown:
        lines.append(f"... and {len(problems) - shown} more ({len(problems)} problems in all)")
    return lines

