"""A few random samples written in a real dataset's on-disk format (NYUv2, Tiny-Taskonomy).

Why: the paper configs need data a user has not downloaded yet to be tried end to end — a dry run
that checks the folder layout and the job counts, or a few timed iterations on a GPU to price an
experiment before it runs. The files follow the exact layouts the loaders of
:mod:`treemtl.training.data.nyuv2` and :mod:`treemtl.training.data.taskonomy` read (file types,
bit depths, label ranges, ignore values, split files); only the pixel values are random.

    treemtl data format-samples --dataset nyuv2 --out /tmp/nyuv2 --train 32 --val 8
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from treemtl.errors import TreeMTLError

NYUV2_SIZE = (480, 640)  # NYUv2's Kinect frames
TASKONOMY_SIZE = (512, 512)  # Tiny-Taskonomy's renders
TASKONOMY_TASKS = ("segment_semantic", "normal", "depth_zbuffer", "keypoints2d", "edge_texture")
TASKONOMY_SPLIT_FILE = "splits.json"


@dataclass(frozen=True)
class SampleCounts:
    """How many samples to write per split, and their height and width."""

    train: int
    val: int
    size: tuple[int, int]

    def __post_init__(self) -> None:
        if self.train < 1 or self.val < 1:
            raise TreeMTLError(f"format samples: expected at least one train and one val sample, got {self.train}/{self.val}")
        if min(self.size) < 8:
            raise TreeMTLError(f"format samples: expected a size of at least 8x8, got {self.size}")


def _normals(rng: np.random.Generator, hw: tuple[int, int]) -> np.ndarray:
    """Unit vectors facing the camera, as 8-bit RGB (x/255*2-1 decodes them)."""
    vectors = rng.normal(0.0, 0.3, (*hw, 3))
    vectors[..., 2] = np.abs(vectors[..., 2]) + 1.0
    vectors /= np.linalg.norm(vectors, axis=2, keepdims=True)
    return np.clip(np.round((vectors + 1.0) / 2.0 * 255.0), 0, 255).astype(np.uint8)


def write_nyuv2(root: str | Path, counts: SampleCounts, seed: int = 0) -> Path:
    """NYUv2 in the AdaShare layout: ``img/``, ``seg/``, ``normal_mask/`` PNGs, ``depth/`` .npy and
    ``nyu_v2_3task.json`` (``train`` / ``test`` lists of relative paths); 40 classes, 255 = ignore."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for sub in ("img", "seg", "normal_mask", "depth"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(counts.train + counts.val):
        name = f"{index:04d}"
        Image.fromarray(rng.integers(0, 256, (*counts.size, 3), dtype=np.uint8)).save(root / "img" / f"{name}.png")
        seg = rng.integers(0, 40, counts.size).astype(np.uint8)
        seg[rng.random(counts.size) < 0.1] = 255
        Image.fromarray(seg).save(root / "seg" / f"{name}.png")
        Image.fromarray(_normals(rng, counts.size)).save(root / "normal_mask" / f"{name}.png")
        depth = rng.uniform(0.5, 10.0, counts.size).astype(np.float32)
        depth[rng.random(counts.size) < 0.05] = 0.0  # no depth reading
        np.save(root / "depth" / f"{name}.npy", depth)
        entries.append([f"img/{name}.png", f"seg/{name}.png", f"normal_mask/{name}.png", f"depth/{name}.npy"])
    split = {"train": entries[: counts.train], "test": entries[counts.train:]}
    (root / "nyu_v2_3task.json").write_text(json.dumps(split, indent=1))
    return root


def write_taskonomy(root: str | Path, counts: SampleCounts, seed: int = 0) -> Path:
    """Tiny-Taskonomy's layout: ``<building>/<rgb|task>/point_<p>_view_0_domain_<task>.png`` with
    a train building and a val building, and ``splits.json`` naming them (``data.options.split_file``)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    buildings = {"train": ("allensville", counts.train), "val": ("collierville", counts.val)}
    for building, points in buildings.values():
        folder = root / building
        for sub in ("rgb", *TASKONOMY_TASKS):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        for point in range(points):
            stem = f"point_{point}_view_0_domain_"
            Image.fromarray(rng.integers(0, 256, (*counts.size, 3), dtype=np.uint8)).save(folder / "rgb" / f"{stem}rgb.png")
            Image.fromarray(rng.integers(0, 18, counts.size).astype(np.uint8)).save(
                folder / "segment_semantic" / f"{stem}segment_semantic.png")
            depth = rng.integers(256, 8192, counts.size).astype(np.uint16)
            depth[rng.random(counts.size) < 0.05] = 65535  # no depth reading
            Image.fromarray(depth).save(folder / "depth_zbuffer" / f"{stem}depth_zbuffer.png")
            Image.fromarray(_normals(rng, counts.size)).save(folder / "normal" / f"{stem}normal.png")
            for task, full_scale in (("keypoints2d", 0.005), ("edge_texture", 0.08)):
                values = rng.uniform(0.0, full_scale * 2**16, counts.size).astype(np.uint16)
                Image.fromarray(values).save(folder / task / f"{stem}{task}.png")
    split = {split: [building] for split, (building, _) in buildings.items()}
    (root / TASKONOMY_SPLIT_FILE).write_text(json.dumps(split))
    return root


WRITERS = {"nyuv2": (write_nyuv2, NYUV2_SIZE), "taskonomy": (write_taskonomy, TASKONOMY_SIZE)}


def write_format_samples(dataset: str, root: str | Path, train: int, val: int,
                         size: tuple[int, int] | None = None, seed: int = 0) -> Path:
    """Write ``train`` + ``val`` random samples of ``dataset`` (``nyuv2`` or ``taskonomy``) under ``root``."""
    if dataset not in WRITERS:
        raise TreeMTLError(f"format samples: expected a dataset among {', '.join(WRITERS)}, got {dataset!r}")
    writer, default_size = WRITERS[dataset]
    return writer(root, SampleCounts(train, val, size or default_size), seed)


def sample_options(dataset: str) -> dict[str, str]:
    """The ``data.options`` a config of ``dataset`` needs on top of its own to read the samples."""
    return {"split_file": TASKONOMY_SPLIT_FILE} if dataset == "taskonomy" else {}
