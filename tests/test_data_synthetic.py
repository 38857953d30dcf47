"""Synthetic scenes: determinism, geometric consistency of the targets, storage and errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from treemtl.training.data import build_dataset
from treemtl.training.data import synthetic as syn
from treemtl.errors import TreeMTLError

SIZE = 48


def _render(seed: int, index: int, split: str = "train", size: int = SIZE) -> tuple[syn.Scene, syn.Rendered]:
    rng = syn.image_rng(seed, split, index)
    scene = syn.sample_scene(rng, size)
    return scene, syn.render(scene, size, rng)


def test_same_seed_same_arrays_and_different_seed_different() -> None:
    a = syn.generate_image(5, "train", 3, SIZE)
    b = syn.generate_image(5, "train", 3, SIZE)
    for field in ("image", "segment_semantic", "depth_zbuffer", "normal", "keypoints2d", "edge_texture"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    c = syn.generate_image(6, "train", 3, SIZE)
    d = syn.generate_image(5, "val", 3, SIZE)
    assert not np.array_equal(a.depth_zbuffer, c.depth_zbuffer)
    assert not np.array_equal(a.depth_zbuffer, d.depth_zbuffer)


def test_blocks_do_not_depend_on_how_work_is_split() -> None:
    whole = syn.generate_block(1, "train", 0, 4, 24, syn.TASKS)
    parts = [syn.generate_block(1, "train", 0, 2, 24, syn.TASKS), syn.generate_block(1, "train", 2, 4, 24, syn.TASKS)]
    for key, value in whole.items():
        assert np.array_equal(value, np.concatenate([p[key] for p in parts])), key


def test_target_ranges_and_normals_face_the_camera() -> None:
    for index in range(4):
        scene, r = _render(0, index)
        assert r.image.shape == (SIZE, SIZE, 3) and 0.0 <= r.image.min() and r.image.max() <= 1.0
        assert np.isfinite(r.depth_zbuffer).all() and r.depth_zbuffer.min() > 0
        assert np.allclose(np.linalg.norm(r.normal, axis=2), 1.0, atol=1e-4)
        assert r.segment_semantic.max() < syn.NUM_CLASSES
        centres = (np.arange(SIZE) + 0.5 - SIZE / 2) / scene.focal
        rays = np.stack(np.broadcast_arrays(centres[None, :], centres[:, None], np.ones((SIZE, SIZE))), axis=2)
        assert (np.einsum("ijk,ijk->ij", r.normal, rays) < 0).mean() > 0.999
        assert 0.0 <= r.keypoints2d.min() and r.keypoints2d.max() <= 1.0
        assert 0.0 <= r.edge_texture.min() and r.edge_texture.max() <= 1.0
    classes = np.concatenate([_render(0, i)[1].segment_semantic.ravel() for i in range(12)])
    assert len(np.unique(classes)) >= 6


def test_normals_agree_with_the_depth_map() -> None:
    """Back-project the z-buffer, differentiate, and compare with the stored normals."""
    size = 64
    errors = []
    for index in range(6):
        scene, r = _render(2, index, size=size)
        centres = (np.arange(size) + 0.5 - size / 2) / scene.focal
        z = r.depth_zbuffer.astype(np.float64)
        points = np.stack([centres[None, :] * z, centres[:, None] * z, z], axis=2)
        du = points[1:-1, 2:] - points[1:-1, :-2]
        dv = points[2:, 1:-1] - points[:-2, 1:-1]
        estimate = np.cross(du, dv)
        estimate /= np.linalg.norm(estimate, axis=2, keepdims=True)
        estimate *= -np.sign(np.einsum("ijk,ijk->ij", estimate, points[1:-1, 1:-1]))[:, :, None]
        # Smooth interior pixels: one surface and nearly one normal over the 3x3 neighbourhood.
        inst, normal = r.instance, r.normal.astype(np.float64)
        centre = normal[1:-1, 1:-1]
        smooth = np.ones((size - 2, size - 2), dtype=bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                sl = (slice(1 + dy, size - 1 + dy), slice(1 + dx, size - 1 + dx))
                smooth &= inst[sl] == inst[1:-1, 1:-1]
                smooth &= np.einsum("ijk,ijk->ij", normal[sl], centre) > math.cos(math.radians(15))
        cos = np.clip(np.einsum("ijk,ijk->ij", estimate, centre), -1.0, 1.0)
        errors.append(np.degrees(np.arccos(cos[smooth])))
        assert smooth.mean() > 0.5
    angles = np.concatenate(errors)
    assert np.median(angles) < 2.0
    assert (angles < 10.0).mean() > 0.95


def test_edges_lie_on_segmentation_and_depth_boundaries_and_texture() -> None:
    hits, total, texture_only = 0, 0, 0
    for index in range(6):
        _, r = _render(4, index)
        seg, edge, inst = r.segment_semantic, r.edge_texture, r.instance
        for a, b in (((slice(None), slice(1, None)), (slice(None), slice(None, -1))), ((slice(1, None), slice(None)), (slice(None, -1), slice(None)))):
            boundary = seg[a] != seg[b]
            strongest = np.maximum(edge[a], edge[b])
            hits += int((strongest[boundary] > 0.95).sum())
            total += int(boundary.sum())
            depth_jump = np.abs(r.depth_zbuffer[a] - r.depth_zbuffer[b]) / np.minimum(r.depth_zbuffer[a], r.depth_zbuffer[b]) > 0.15
            assert (strongest[depth_jump] > 0.95).mean() > 0.95
            same = (inst[a] == inst[b]) & (np.einsum("ijk,ijk->ij", r.normal[a], r.normal[b]) > 0.999)
            texture_only += int(((strongest > 0.5) & same).sum())
        assert (edge > 0.5).mean() < 0.45  # edges are lines, not regions
    assert total > 0 and hits / total > 0.95
    assert texture_only > 0  # paint boundaries are edges that no geometric target shows


def test_keypoints_mark_visible_corners() -> None:
    peaks = 0
    for index in range(6):
        _, r = _render(7, index)
        peaks += int((r.keypoints2d > 0.9).sum())
        assert r.keypoints2d.mean() < 0.2
    assert peaks > 0


def _write(tmp_path: Path, **kw: object) -> tuple[Path, dict]:
    spec = syn.SynthSpec(**{"n_train": 7, "n_val": 3, "size": 24, "seed": 1, **kw})  # type: ignore[arg-type]
    out = tmp_path / "data"
    manifest = syn.write_dataset(out, spec, workers=1, contact_sheet=False)
    return out, manifest


def test_round_trip_and_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syn, "SHARD_SIZE", 4)
    out, manifest = _write(tmp_path)
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["counts"] == {"train": 7, "val": 3}
    assert [s["count"] for s in manifest["splits"]["train"]["shards"]] == [4, 3]
    assert manifest["num_classes"] == len(manifest["class_names"]) == syn.NUM_CLASSES
    assert manifest["size"] == 24 and manifest["seed"] == 1 and manifest["tasks"] == list(syn.TASKS)
    assert not list(out.glob(".tmp-*"))

    ds = syn.SyntheticDataset(out, "train", ["depth_zbuffer", "segment_semantic", "normal"])
    assert len(ds) == 7 and ds.num_classes == syn.NUM_CLASSES
    item = ds[5]
    assert set(item) == {"image", "depth_zbuffer", "segment_semantic", "normal"}
    assert item["image"].shape == (3, 24, 24) and str(item["image"].dtype) == "torch.float32"
    assert item["segment_semantic"].shape == (24, 24) and str(item["segment_semantic"].dtype) == "torch.int64"
    assert item["depth_zbuffer"].shape == (1, 24, 24) and item["normal"].shape == (3, 24, 24)
    reference = syn.generate_image(1, "train", 5, 24)
    assert np.allclose(item["depth_zbuffer"][0].numpy(), reference.depth_zbuffer)
    assert np.array_equal(item["segment_semantic"].numpy(), reference.segment_semantic)
    assert np.allclose(item["normal"].permute(1, 2, 0).numpy(), reference.normal, atol=2e-3)
    norm = manifest["normalization"]
    restored = item["image"].permute(1, 2, 0).numpy() * np.array(norm["image_std"]) + np.array(norm["image_mean"])
    assert np.allclose(restored, reference.image, atol=1 / 255 + 1e-4)
    assert len(syn.SyntheticDataset(out, "val")) == 3


def test_task_subset_is_all_that_is_stored(tmp_path: Path) -> None:
    out, manifest = _write(tmp_path, tasks=("edge_texture", "keypoints2d"))
    assert manifest["tasks"] == ["edge_texture", "keypoints2d"]
    ds = syn.SyntheticDataset(out, "train")
    assert ds.tasks == ("edge_texture", "keypoints2d")
    assert set(ds[0]) == {"image", "edge_texture", "keypoints2d"}
    with pytest.raises(TreeMTLError, match="depth_zbuffer"):
        syn.SyntheticDataset(out, "train", ["depth_zbuffer"])


def test_interrupted_write_never_looks_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, first = _write(tmp_path)

    def fail_during_generation(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(syn, "_statistics", fail_during_generation)
    with pytest.raises(KeyboardInterrupt):
        _write(tmp_path, seed=2)
    assert syn.read_manifest(out) == first  # the previous dataset is untouched
    assert len(syn.SyntheticDataset(out, "train")) == 7
    assert not list(out.glob(".tmp-*"))
    monkeypatch.undo()

    import treemtl.atomic

    monkeypatch.setattr(treemtl.atomic, "write_json_atomic", fail_during_generation)
    with pytest.raises(KeyboardInterrupt):
        _write(tmp_path, seed=2)
    assert not (out / "manifest.json").exists()  # shards replaced but no manifest: incomplete
    with pytest.raises(TreeMTLError, match="treemtl data synth"):
        syn.SyntheticDataset(out, "train")


def test_reading_errors_name_the_file(tmp_path: Path) -> None:
    out, manifest = _write(tmp_path)
    shard = out / manifest["splits"]["train"]["shards"][0]["file"]
    shard.unlink()
    with pytest.raises(TreeMTLError, match=str(shard.name)):
        syn.SyntheticDataset(out, "train")
    (out / "manifest.json").write_text("{not json")
    with pytest.raises(TreeMTLError, match="manifest.json"):
        syn.SyntheticDataset(out, "val")
    with pytest.raises(TreeMTLError, match="--n must"):
        syn.write_dataset(tmp_path / "x", syn.SynthSpec(n_train=0))
    with pytest.raises(TreeMTLError, match="task list"):
        syn.write_dataset(tmp_path / "x", syn.SynthSpec(tasks=("depth",)))


def test_build_dataset_synthetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from treemtl.training.config import config_from_dict

    monkeypatch.chdir(tmp_path)
    config = config_from_dict({"experiment": "tiny", "data": {"dataset": "synthetic", "synthetic": {"n_train": 7, "n_val": 3, "size": 24, "seed": 1}}})
    with pytest.raises(TreeMTLError, match=r"results/tiny/data.*treemtl data synth --out results/tiny/data --n 7 --n-val 3 --size 24 --seed 1"):
        build_dataset(config, "train", ["normal"])
    syn.write_dataset(tmp_path / "results" / "tiny" / "data", syn.SynthSpec(n_train=7, n_val=3, size=24, seed=1), workers=1, contact_sheet=False)
    ds = build_dataset(config, "val", ["normal", "segment_semantic"])
    assert len(ds) == 3 and ds.tasks == ("normal", "segment_semantic") and ds.num_classes == syn.NUM_CLASSES  # type: ignore[attr-defined,arg-type]
    with pytest.raises(TreeMTLError, match="split"):
        build_dataset(config, "test", ["normal"])


def test_cli_synth_and_sheet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from treemtl.cli import main

    out = tmp_path / "cli"
    assert main(["data", "synth", "--out", str(out), "--n", "4", "--n-val", "2", "--size", "16", "--seed", "3", "--tasks", "depth_zbuffer,normal", "--workers", "1"]) == 0
    assert (out / "contact_sheet.png").stat().st_size > 0
    assert json.loads((out / "manifest.json").read_text())["tasks"] == ["depth_zbuffer", "normal"]
    assert main(["data", "sheet", "--data", str(out), "--out", str(tmp_path / "s.png"), "--count", "2"]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["data", "synth", "--out", str(out), "--n", "-1"]) == 2
    assert "treemtl: error:" in capsys.readouterr().err
