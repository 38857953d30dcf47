"""Write a folder dataset (the format of ``docs/own_tasks_and_data.md``) from the synthetic scenes.

It stands in for one's own data: RGB images with two dense tasks and two image-level tasks,

* ``surfaces`` — segmentation into the 7 surface classes (PNG of class ids);
* ``distance`` — depth in metres (float32 ``.npy``);
* ``has_sphere`` — classification: 1 if a sphere is visible, else 0 (``has_sphere.csv``);
* ``objects`` — the number of visible objects (boxes, spheres, cylinders; ``objects.csv``),
  learnt with the custom task of ``scene_tasks.py``.

Usage: ``python examples/own_data/make_scenes.py --out data/scenes [--train 600 --val 150 --size 64]``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image

from treemtl.training.data.synthetic import CLASS_NAMES, Rendered, generate_image

OBJECT_CLASSES = tuple(CLASS_NAMES.index(name) for name in ("box", "sphere", "cylinder"))
SPHERE = CLASS_NAMES.index("sphere")
#: An object counts as visible when it covers at least this many pixels.
MIN_PIXELS = 4


def visible_objects(scene: Rendered) -> int:
    """Distinct object surfaces covering at least :data:`MIN_PIXELS` pixels."""
    on_object = np.isin(scene.segment_semantic, OBJECT_CLASSES)
    ids, counts = np.unique(scene.instance[on_object], return_counts=True)
    return int((counts >= MIN_PIXELS).sum())


def write_split(out: Path, split: str, count: int, size: int, seed: int) -> None:
    """Images, per-image label files and the two CSV files of one split."""
    split_dir = out / split
    for folder in ("images", "surfaces", "distance"):
        (split_dir / folder).mkdir(parents=True, exist_ok=True)
    rows_sphere, rows_objects = [], []
    for index in range(count):
        stem = f"{split}_{index:05d}"
        scene = generate_image(seed, split, index, size)
        Image.fromarray(np.round(scene.image * 255.0).astype(np.uint8)).save(split_dir / "images" / f"{stem}.png")
        Image.fromarray(scene.segment_semantic.astype(np.uint8)).save(split_dir / "surfaces" / f"{stem}.png")
        np.save(split_dir / "distance" / f"{stem}.npy", scene.depth_zbuffer.astype(np.float32))
        rows_sphere.append((stem, int((scene.segment_semantic == SPHERE).sum() >= MIN_PIXELS)))
        rows_objects.append((stem, visible_objects(scene)))
    for name, rows in (("has_sphere", rows_sphere), ("objects", rows_objects)):
        with open(split_dir / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(("stem", "label"))
            writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="dataset folder to write (train/ and val/ inside)")
    parser.add_argument("--train", type=int, default=600, help="train images (default 600)")
    parser.add_argument("--val", type=int, default=150, help="val images (default 150)")
    parser.add_argument("--size", type=int, default=64, help="image height = width (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    for split, count in (("train", args.train), ("val", args.val)):
        write_split(out, split, count, args.size, args.seed)
    print(f"{out}: {args.train} train and {args.val} val images with surfaces, distance, has_sphere, objects")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
