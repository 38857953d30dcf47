"""NYUv2 loaders on tiny fixtures written in the real on-disk formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from treemtl.training.data import build_dataset
from treemtl.training.data.nyuv2 import NYUv2AdaShare, NYUv2Mtan
from treemtl.errors import TreeMTLError

TASKS = ["segment_semantic", "depth_zbuffer", "normal"]
H, W = 16, 12


def _adashare(root: Path, count: int = 3) -> dict[str, list[list[str]]]:
    """AdaShare layout: img/seg/normal_mask PNGs, depth .npy, one JSON split file."""
    rng = np.random.default_rng(0)
    for sub in ("img", "seg", "normal_mask", "depth"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    entries = []
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / "img" / f"{i:04d}.png")
        seg = rng.integers(0, 40, (H, W)).astype(np.uint8)
        seg[0, :] = 255
        Image.fromarray(seg).save(root / "seg" / f"{i:04d}.png")
        normal = np.full((H, W, 3), [128, 128, 255], dtype=np.uint8)
        normal[:, 0] = 0  # no ground truth in the first column
        Image.fromarray(normal).save(root / "normal_mask" / f"{i:04d}.png")
        depth = rng.uniform(0.5, 8.0, (H, W)).astype(np.float32)
        depth[1, 1] = 0.0
        np.save(root / "depth" / f"{i:04d}.npy", depth)
        entries.append([f"img/{i:04d}.png", f"seg/{i:04d}.png", f"normal_mask/{i:04d}.png", f"depth/{i:04d}.npy"])
    split = {"train": entries[:2], "test": entries[2:]}
    (root / "nyu_v2_3task.json").write_text(json.dumps(split))
    return split


def test_adashare_items_follow_the_contract(tmp_path: Path) -> None:
    _adashare(tmp_path)
    ds = NYUv2AdaShare(tmp_path, "train", TASKS, {})
    assert len(ds) == 2 and ds.num_classes == 40 and ds.tasks == tuple(TASKS)
    item = ds[0]
    assert item["image"].shape == (3, H, W) and item["image"].dtype == torch.float32
    seg = item["segment_semantic"]
    assert seg.shape == (H, W) and seg.dtype == torch.int64
    assert (seg[0] == -1).all() and seg[1:].min() >= 0 and seg.max() < 40
    raw_seg = np.asarray(Image.open(tmp_path / "seg" / "0000.png"))
    assert np.array_equal(seg[1:].numpy(), raw_seg[1:])
    assert item["depth_zbuffer"].shape == (1, H, W)
    assert item["depth_zbuffer_mask"].dtype == torch.bool
    assert not item["depth_zbuffer_mask"][0, 1, 1] and item["depth_zbuffer_mask"].sum() == H * W - 1
    normal = item["normal"]
    assert normal.shape == (3, H, W)
    assert not item["normal_mask"][0, :, 0].any() and item["normal_mask"][0, :, 1:].all()
    assert torch.allclose(normal[:, :, 1:].norm(dim=0), torch.ones(H, W - 1), atol=1e-5)
    assert (normal[:, :, 0] == 0).all()
    assert normal[2, 5, 5] > 0.99  # (128, 128, 255) points along +z
    val = NYUv2AdaShare(tmp_path, "val", ["depth_zbuffer"], {})
    assert len(val) == 1 and set(val[0]) == {"image", "depth_zbuffer", "depth_zbuffer_mask"}


def test_adashare_per_split_files_and_resize(tmp_path: Path) -> None:
    split = _adashare(tmp_path)
    (tmp_path / "train.json").write_text(json.dumps(split["train"]))
    (tmp_path / "val.json").write_text(json.dumps({"val": split["test"]}))
    options = {"train_split": "train.json", "val_split": "val.json", "resize": [8, 6]}
    train = NYUv2AdaShare(tmp_path, "train", TASKS, options)
    item = train[1]
    assert item["image"].shape == (3, 8, 6) and item["segment_semantic"].shape == (8, 6)
    assert item["normal_mask"].shape == (1, 8, 6) and item["normal_mask"].dtype == torch.bool
    assert len(NYUv2AdaShare(tmp_path, "val", TASKS, options)) == 1


def test_adashare_errors_name_the_file(tmp_path: Path) -> None:
    _adashare(tmp_path)
    ds = NYUv2AdaShare(tmp_path, "train", TASKS, {})
    (tmp_path / "depth" / "0000.npy").unlink()
    with pytest.raises(TreeMTLError, match=r"depth/0000\.npy.*not found"):
        ds[0]
    np.save(tmp_path / "depth" / "0000.npy", np.ones((H, W + 1), np.float32))
    with pytest.raises(TreeMTLError, match=r"depth/0000\.npy.*expected 16x12"):
        ds[0]
    Image.fromarray(np.zeros((H, W), np.uint16)).save(tmp_path / "seg" / "0001.png")
    with pytest.raises(TreeMTLError, match=r"seg/0001\.png.*dtype uint16"):
        ds[1]
    Image.fromarray(np.full((H, W), 41, np.uint8)).save(tmp_path / "seg" / "0001.png")
    with pytest.raises(TreeMTLError, match=r"seg/0001\.png.*label 41"):
        ds[1]
    with pytest.raises(TreeMTLError, match=r"nyu_v2_3task\.json.*'val'"):
        (tmp_path / "nyu_v2_3task.json").write_text(json.dumps({"train": []}))
        NYUv2AdaShare(tmp_path, "val", TASKS, {})
    with pytest.raises(TreeMTLError, match="missing.json"):
        NYUv2AdaShare(tmp_path, "train", TASKS, {"split_file": "missing.json"})
    (tmp_path / "nyu_v2_3task.json").write_text(json.dumps({"train": [["a", "b"]]}))
    with pytest.raises(TreeMTLError, match="entry 0"):
        NYUv2AdaShare(tmp_path, "train", TASKS, {})
    with pytest.raises(TreeMTLError, match="keypoints2d"):
        NYUv2AdaShare(tmp_path, "train", ["keypoints2d"], {})


def _mtan(root: Path, split: str = "train", count: int = 2) -> None:
    """MTAN/LibMTL layout: <split>/{image,label,depth,normal}/<i>.npy."""
    rng = np.random.default_rng(1)
    for sub in ("image", "label", "depth", "normal"):
        (root / split / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        np.save(root / split / "image" / f"{i}.npy", rng.uniform(0, 1, (H, W, 3)).astype(np.float32))
        label = rng.integers(-1, 13, (H, W)).astype(np.float32)
        np.save(root / split / "label" / f"{i}.npy", label)
        depth = rng.uniform(0.5, 5.0, (H, W, 1)).astype(np.float32)
        depth[2, 3, 0] = 0.0
        np.save(root / split / "depth" / f"{i}.npy", depth)
        normal = rng.normal(size=(H, W, 3)).astype(np.float32)
        normal /= np.linalg.norm(normal, axis=2, keepdims=True)
        normal[4, 4] = 0.0
        np.save(root / split / "normal" / f"{i}.npy", normal)


def test_mtan_items_follow_the_contract(tmp_path: Path) -> None:
    _mtan(tmp_path, "train", 3)
    _mtan(tmp_path, "val", 1)
    ds = NYUv2Mtan(tmp_path, "train", TASKS, {})
    assert len(ds) == 3 and ds.num_classes == 13
    item = ds[2]
    raw_label = np.load(tmp_path / "train" / "label" / "2.npy")
    assert np.array_equal(item["segment_semantic"].numpy(), raw_label.astype(np.int64))
    assert item["segment_semantic"].min() >= -1 and item["segment_semantic"].max() < 13
    assert item["depth_zbuffer"].shape == (1, H, W) and not item["depth_zbuffer_mask"][0, 2, 3]
    assert not item["normal_mask"][0, 4, 4] and item["normal_mask"].sum() == H * W - 1
    raw_normal = np.load(tmp_path / "train" / "normal" / "2.npy")
    assert np.allclose(item["normal"].permute(1, 2, 0).numpy(), raw_normal, atol=1e-5)
    image = np.load(tmp_path / "train" / "image" / "2.npy")
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    assert np.allclose(item["image"].permute(1, 2, 0).numpy(), (image - mean) / std, atol=1e-5)
    assert len(NYUv2Mtan(tmp_path, "val", TASKS, {"resize": [8, 8]})) == 1
    assert NYUv2Mtan(tmp_path, "val", TASKS, {"resize": [8, 8]})[0]["normal"].shape == (3, 8, 8)


def test_mtan_errors_name_the_file(tmp_path: Path) -> None:
    _mtan(tmp_path)
    with pytest.raises(TreeMTLError, match=r"val/image.*not found"):
        NYUv2Mtan(tmp_path, "val", TASKS, {})
    ds = NYUv2Mtan(tmp_path, "train", TASKS, {})
    np.save(tmp_path / "train" / "image" / "1.npy", np.zeros((H, W, 3), np.uint8))
    with pytest.raises(TreeMTLError, match=r"image/1\.npy.*dtype uint8"):
        ds[1]
    np.save(tmp_path / "train" / "image" / "1.npy", np.zeros((H, W), np.float32))
    with pytest.raises(TreeMTLError, match=r"image/1\.npy.*3 dimensions"):
        ds[1]
    (tmp_path / "train" / "normal" / "0.npy").unlink()
    with pytest.raises(TreeMTLError, match=r"normal/0\.npy"):
        ds[0]
    with pytest.raises(TreeMTLError, match="resize"):
        NYUv2Mtan(tmp_path, "train", TASKS, {"resize": [8]})


def test_build_dataset_picks_the_nyuv2_loaders(tmp_path: Path) -> None:
    from treemtl.training.config import config_from_dict

    _adashare(tmp_path / "ada")
    _mtan(tmp_path / "mtan")
    ada = config_from_dict({"experiment": "nyu", "data": {"dataset": "nyuv2", "root": str(tmp_path / "ada")}})
    assert isinstance(build_dataset(ada, "train", TASKS), NYUv2AdaShare)
    mtan = config_from_dict({"experiment": "nyu", "data": {"dataset": "nyuv2_mtan", "root": str(tmp_path / "mtan")}})
    assert len(build_dataset(mtan, "train", ["normal"])) == 2  # type: ignore[arg-type]
    missing = config_from_dict({"experiment": "nyu", "data": {"dataset": "nyuv2", "root": str(tmp_path / "nowhere")}})
    with pytest.raises(TreeMTLError, match="nowhere"):
        build_dataset(missing, "train", TASKS)
    with pytest.raises(TreeMTLError, match="data.root"):
        build_dataset(config_from_dict({"experiment": "nyu", "data": {"dataset": "nyuv2"}}), "train", TASKS)


def test_data_check_command_reports_a_real_dataset_and_names_a_missing_one(tmp_path: Path, capsys) -> None:
    import yaml

    from treemtl.cli import main

    _mtan(tmp_path / "mtan", "train", 3)
    _mtan(tmp_path / "mtan", "val", 2)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"experiment": "nyu", "tasks": list(TASKS),
                                      "data": {"dataset": "nyuv2_mtan", "root": str(tmp_path / "mtan")}}))
    out = tmp_path / "located.json"
    assert main(["data", "check", "--config", str(config), "--out", str(out)]) == 0
    found = json.loads(out.read_text())
    assert found["train"]["size"] == 3 and found["val"]["size"] == 2
    assert found["num_classes"] == 13

    config.write_text(yaml.safe_dump({"experiment": "nyu", "tasks": list(TASKS),
                                      "data": {"dataset": "nyuv2_mtan", "root": str(tmp_path / "absent")}}))
    capsys.readouterr()
    assert main(["data", "check", "--config", str(config), "--out", str(out)]) == 2
    assert "absent" in capsys.readouterr().err


def test_every_file_a_split_names_is_checked_before_training(tmp_path: Path) -> None:
    from treemtl.training.data.common import check_sample_files

    _adashare(tmp_path, count=4)
    split_file = tmp_path / "nyu_v2_3task.json"
    assert check_sample_files(NYUv2AdaShare(tmp_path, "train", TASKS, {}), "train") == 2 * 4
    (tmp_path / "normal_mask" / "0001.png").unlink()
    (tmp_path / "img" / "0001.png").unlink()
    train = NYUv2AdaShare(tmp_path, "train", TASKS, {})
    with pytest.raises(TreeMTLError) as error:
        check_sample_files(train, "train")
    assert str(error.value) == (f"{split_file}: 2 of the 8 files of the train split (2 samples) are missing; "
                                f"first: {tmp_path / 'img' / '0001.png'} (image of sample 1)")
    assert check_sample_files(NYUv2AdaShare(tmp_path, "val", TASKS, {}), "val") == 2 * 4
    (tmp_path / "depth" / "0003.npy").unlink()
    assert check_sample_files(NYUv2AdaShare(tmp_path, "val", ["normal"], {}), "val") == 2 * 2  # only its tasks' files
    with pytest.raises(TreeMTLError, match=r"1 of the 8 files of the val split .* first: .*depth/0003\.npy \(depth_zbuffer of sample 1\)"):
        check_sample_files(NYUv2AdaShare(tmp_path, "val", TASKS, {}), "val")


def test_mtan_missing_arrays_name_the_split_folder(tmp_path: Path) -> None:
    from treemtl.training.data.common import check_sample_files

    _mtan(tmp_path, "train", 3)
    assert check_sample_files(NYUv2Mtan(tmp_path, "train", TASKS, {}), "train") == 3 * 4
    (tmp_path / "train" / "label" / "2.npy").unlink()
    with pytest.raises(TreeMTLError) as error:
        check_sample_files(NYUv2Mtan(tmp_path, "train", TASKS, {}), "train")
    assert str(error.value).startswith(f"{tmp_path / 'train'}: 1 of the 12 files of the train split (3 samples)")
    assert str(error.value).endswith(f"first: {tmp_path / 'train' / 'label' / '2.npy'} (segment_semantic of sample 2)")


def test_data_check_stops_at_a_file_the_split_file_names_but_lacks(tmp_path: Path, capsys) -> None:
    import yaml

    from treemtl.cli import main

    _adashare(tmp_path / "nyu", count=5)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"experiment": "nyu", "tasks": list(TASKS),
                                      "data": {"dataset": "nyuv2", "root": str(tmp_path / "nyu")}}))
    assert main(["data", "check", "--config", str(config)]) == 0
    (tmp_path / "nyu" / "seg" / "0004.png").unlink()  # the last val sample: item 0 still opens
    capsys.readouterr()
    assert main(["data", "check", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"{tmp_path / 'nyu' / 'nyu_v2_3task.json'}: 1 of the 12 files of the val split (3 samples)" in err[0]
    assert f"first: {tmp_path / 'nyu' / 'seg' / '0004.png'}" in err[0]
