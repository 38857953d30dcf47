"""Tiny-Taskonomy loader on a tiny fixture in the real folder layout and file encodings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from treemtl.training.data import build_dataset
from treemtl.training.data.taskonomy import TASKS, Taskonomy
from treemtl.errors import TreeMTLError

S = 16


def _name(point: int, task: str) -> str:
    return f"point_{point}_view_0_domain_{task}.png"


def _building(root: Path, building: str, points: int = 2) -> None:
    rng = np.random.default_rng(sum(map(ord, building)))
    folder = root / building
    for sub in ("rgb", *TASKS):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for p in range(points):
        Image.fromarray(rng.integers(0, 256, (S, S, 3), dtype=np.uint8)).save(folder / "rgb" / _name(p, "rgb"))
        seg = rng.integers(0, 18, (S, S)).astype(np.uint8)
        seg[0, 0], seg[0, 1] = 0, 5
        Image.fromarray(seg).save(folder / "segment_semantic" / _name(p, "segment_semantic"))
        depth = rng.integers(256, 4096, (S, S)).astype(np.uint16)
        depth[0, 0], depth[0, 1] = 65535, 512
        Image.fromarray(depth).save(folder / "depth_zbuffer" / _name(p, "depth_zbuffer"))
        normal = np.full((S, S, 3), [255, 128, 128], dtype=np.uint8)
        Image.fromarray(normal).save(folder / "normal" / _name(p, "normal"))
        keypoints = np.zeros((S, S), np.uint16)
        keypoints[3, 3] = round(0.005 * 2**16)
        keypoints[3, 4] = round(0.0025 * 2**16)
        Image.fromarray(keypoints).save(folder / "keypoints2d" / _name(p, "keypoints2d"))
        edge = np.zeros((S, S), np.uint16)
        edge[5, :] = round(0.04 * 2**16)
        edge[6, :] = 60000
        Image.fromarray(edge).save(folder / "edge_texture" / _name(p, "edge_texture"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for building in ("allensville", "beechwood", "collierville"):
        _building(tmp_path, building)
    return tmp_path


OPTIONS = {"train_buildings": ["allensville", "beechwood"], "val_buildings": ["collierville"]}


def test_decoding_follows_the_standard_conventions(root: Path) -> None:
    ds = Taskonomy(root, "train", list(TASKS), OPTIONS)
    assert len(ds) == 4 and ds.num_classes == 17 and ds.tasks == TASKS
    item = ds[0]
    assert item["image"].shape == (3, S, S) and item["image"].dtype == torch.float32
    seg = item["segment_semantic"]
    assert seg.dtype == torch.int64 and seg[0, 0] == -1 and seg[0, 1] == 4
    assert seg.min() >= -1 and seg.max() <= 16
    depth, mask = item["depth_zbuffer"], item["depth_zbuffer_mask"]
    assert depth.shape == (1, S, S) and mask.dtype == torch.bool
    assert depth[0, 0, 1] == pytest.approx(1.0) and depth[0, 0, 0] == 0 and not mask[0, 0, 0]
    assert mask.sum() == S * S - 1
    normal = item["normal"]
    assert normal[0, 5, 5] == pytest.approx(1.0, abs=1e-2) and torch.allclose(normal[:, 1:, 1:].norm(dim=0), torch.ones(S - 1, S - 1), atol=1e-5)
    assert not item["normal_mask"][0, 0, 0] and (normal[:, 0, 0] == 0).all()  # masked where depth is invalid
    assert item["keypoints2d"][0, 3, 3] == pytest.approx(1.0, abs=1e-3)
    assert item["keypoints2d"][0, 3, 4] == pytest.approx(0.5, abs=1e-3)
    assert item["edge_texture"][0, 5, 0] == pytest.approx(0.5, abs=1e-3) and item["edge_texture"][0, 6, 0] == 1.0
    assert item["edge_texture"][0, 0, 0] == 0.0
    assert len(Taskonomy(root, "val", ["normal"], OPTIONS)) == 2


def test_log_depth_resize_and_split_files(root: Path) -> None:
    (root / "train.txt").write_text("allensville\n\nbeechwood\n")
    ds = Taskonomy(root, "train", ["depth_zbuffer", "edge_texture"], {"train_buildings": "train.txt", "depth": "log", "resize": [8, 8]})
    item = ds[1]
    assert set(item) == {"image", "depth_zbuffer", "depth_zbuffer_mask", "edge_texture"}
    assert item["depth_zbuffer"].shape == (1, 8, 8) and item["image"].shape == (3, 8, 8)
    valid = item["depth_zbuffer"][item["depth_zbuffer_mask"]]
    assert (valid > math.log(257) / math.log(2**16) - 1e-6).all() and (valid < 1).all()
    (root / "splits.json").write_text(json.dumps({"train": ["beechwood"], "test": ["collierville"]}))
    assert len(Taskonomy(root, "val", ["segment_semantic"], {"split_file": "splits.json"})) == 2


def test_errors_name_the_file(root: Path) -> None:
    ds = Taskonomy(root, "train", list(TASKS), OPTIONS)
    missing = root / "allensville" / "normal" / _name(0, "normal")
    missing.unlink()
    with pytest.raises(TreeMTLError, match=str(missing)):
        ds[0]
    bad_depth = root / "allensville" / "depth_zbuffer" / _name(1, "depth_zbuffer")
    Image.fromarray(np.zeros((S, S), np.uint8)).save(bad_depth)
    with pytest.raises(TreeMTLError, match=rf"{bad_depth}.*dtype uint8"):
        ds[1]
    bad_seg = root / "beechwood" / "segment_semantic" / _name(0, "segment_semantic")
    Image.fromarray(np.zeros((S, S + 2), np.uint8)).save(bad_seg)
    with pytest.raises(TreeMTLError, match=rf"{bad_seg}.*expected 16x16"):
        ds[2]
    Image.fromarray(np.full((S, S), 30, np.uint8)).save(bad_seg)
    with pytest.raises(TreeMTLError, match=rf"{bad_seg}.*label 30"):
        ds[2]
    with pytest.raises(TreeMTLError, match="val_buildings"):
        Taskonomy(root, "val", list(TASKS), {"train_buildings": ["allensville"]})
    with pytest.raises(TreeMTLError, match=r"nowhere/rgb"):
        Taskonomy(root, "train", list(TASKS), {"train_buildings": ["nowhere"]})
    with pytest.raises(TreeMTLError, match="depth"):
        Taskonomy(root, "train", list(TASKS), {**OPTIONS, "depth": "feet"})
    with pytest.raises(TreeMTLError, match="no building list"):
        (root / "s.json").write_text(json.dumps({"train": ["allensville"]}))
        Taskonomy(root, "val", list(TASKS), {"split_file": "s.json"})


def test_build_dataset_picks_taskonomy(root: Path) -> None:
    from treemtl.training.config import config_from_dict

    config = config_from_dict({"experiment": "tk", "data": {"dataset": "taskonomy", "root": str(root), "options": OPTIONS}})
    ds = build_dataset(config, "val", ["keypoints2d", "segment_semantic"])
    assert isinstance(ds, Taskonomy) and len(ds) == 2
    assert set(ds[0]) == {"image", "keypoints2d", "segment_semantic"}
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch["keypoints2d"].shape == (2, 1, S, S)


def test_every_file_of_a_building_is_checked_before_training(root: Path) -> None:
    from treemtl.training.data.common import check_sample_files

    assert check_sample_files(Taskonomy(root, "train", list(TASKS), OPTIONS), "train") == 4 * 6
    (root / "beechwood" / "keypoints2d" / _name(1, "keypoints2d")).unlink()
    (root / "beechwood" / "edge_texture" / _name(0, "edge_texture")).unlink()
    (root / "collierville" / "edge_texture" / _name(0, "edge_texture")).unlink()
    with pytest.raises(TreeMTLError) as error:
        check_sample_files(Taskonomy(root, "train", list(TASKS), OPTIONS), "train")
    assert str(error.value) == (
        f"{root / 'beechwood'}: 2 of the 24 files of the train split (4 samples) are missing; "
        f"first: {root / 'beechwood' / 'edge_texture' / _name(0, 'edge_texture')} (edge_texture of sample 2)"
    )
    assert check_sample_files(Taskonomy(root, "val", ["normal", "depth_zbuffer"], OPTIONS), "val") == 2 * 3


def test_data_check_names_the_building_and_the_missing_file(root: Path, capsys) -> None:
    import yaml

    from treemtl.cli import main

    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({"experiment": "tk", "tasks": list(TASKS),
                                      "data": {"dataset": "taskonomy", "root": str(root), "options": OPTIONS}}))
    assert main(["data", "check", "--config", str(config)]) == 0
    missing = root / "allensville" / "segment_semantic" / _name(1, "segment_semantic")
    missing.unlink()
    capsys.readouterr()
    assert main(["data", "check", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"treemtl: error: {root / 'allensville'}: 1 of the 24 files of the train split (4 samples) are missing; "
                   f"first: {missing} (segment_semantic of sample 1)"]
