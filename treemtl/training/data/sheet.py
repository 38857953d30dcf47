"""Contact sheet of a synthetic dataset: a few images with every target, to eyeball the data.

A generator bug (flipped normals, edges off by a pixel, keypoints behind walls) is obvious in a
picture and nearly invisible in numbers; the sheet is written next to the data for that reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from treemtl.atomic import save_figure_atomic
from treemtl.errors import TreeMTLError


def save_contact_sheet(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    manifest: dict[str, Any] | None = None,
    split: str = "train",
    count: int = 6,
) -> Path:
    """Draw ``count`` samples of ``split`` (one row each: RGB and every stored target) to ``out``;
    per-image targets are written under the RGB image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from treemtl.training.data.synthetic import IMAGE_LEVEL, load_split_arrays, read_manifest

    root = Path(root)
    manifest = manifest if manifest is not None else read_manifest(root)
    if not manifest["splits"].get(split, {}).get("shards"):
        split = next((s for s, e in manifest["splits"].items() if e["shards"]), "")
        if not split:
            raise TreeMTLError(f"{root}: dataset has no images to draw")
    arrays = load_split_arrays(root, split, manifest)
    count = max(1, min(count, len(arrays["image"])))
    tasks = [t for t in ("segment_semantic", "depth_zbuffer", "normal", "edge_texture", "keypoints2d", "edge_occlusion",
                         "reshading", "reflectance", "mean_curvature") if t in arrays]
    labels = [t for t in sorted(IMAGE_LEVEL) if t in arrays]
    columns = ["image", *tasks]
    num_classes = int(manifest["num_classes"])
    fig, axes = plt.subplots(count, len(columns), figsize=(1.9 * len(columns), 1.9 * count), squeeze=False)
    for row in range(count):
        for col, key in enumerate(columns):
            ax = axes[row][col]
            value = arrays[key][row]
            if key == "image":
                ax.imshow(value)
                if labels:
                    ax.set_xlabel(", ".join(f"{t} {int(arrays[t][row])}" for t in labels), fontsize=6)
            elif key == "segment_semantic":
                ax.imshow(value, cmap="tab10", vmin=0, vmax=max(9, num_classes - 1), interpolation="nearest")
            elif key == "depth_zbuffer":
                ax.imshow(value, cmap="magma_r")
            elif key in ("reshading", "mean_curvature"):
                ax.imshow(value.astype(np.float32), cmap="gray" if key == "reshading" else "viridis")
            elif key == "normal":
                n = value.astype(np.float32)
                ax.imshow(np.clip((n * np.array([1.0, -1.0, -1.0]) + 1.0) / 2.0, 0.0, 1.0))
            else:
                ax.imshow(value.astype(np.float32), cmap="gray", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(key, fontsize=8)
    fig.suptitle(f"{root.name}: {split}, classes {', '.join(manifest['class_names'])}", fontsize=7)
    fig.tight_layout()
    return save_figure_atomic(out, fig, dpi=110)
