"""The folder dataset and ``treemtl data check`` on small data written in the real on-disk
format (PNG via Pillow, .npy, CSV), and dataset plugins."""

from __future__ import annotations

import csv
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from treemtl.cli import main
from treemtl.errors import TreeMTLError
from treemtl.training.config import config_from_dict
from treemtl.training.data import build_dataset
from treemtl.training.data.folder import check_folder

TASKS = [
    {"name": "drivable", "type": "segmentation", "classes": 3},
    {"name": "distance", "type": "depth"},
    {"name": "surface_normals", "type": "normals"},
    {"name": "weather", "type": "classification", "classes": 4},
    {"name": "age", "type": "image_regression"},
]
H, W = 6, 8


def write_split(root: Path, split: str, count: int, seed: int = 0) -> list[str]:
    """``count`` samples of every task of :data:`TASKS` in the documented layout."""
    rng = np.random.default_rng(seed)
    folder = root / split
    for sub in ("images", "drivable", "distance", "surface_normals"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    stems = [f"{split}{i:03d}" for i in range(count)]
    rows: dict[str, list[tuple[str, Any]]] = {"weather": [], "age": []}
    for i, stem in enumerate(stems):
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(folder / "images" / f"{stem}.png")
        labels = rng.integers(0, 3, (H, W)).astype(np.uint8)
        labels[0, 0] = 255  # ignored pixel
        Image.fromarray(labels).save(folder / "drivable" / f"{stem}.png")
        depth = rng.uniform(1.0, 5.0, (H, W)).astype(np.float32)
        depth[1, 1] = np.nan  # no label
        np.save(folder / "distance" / f"{stem}.npy", depth)
        normals = rng.normal(size=(H, W, 3)).astype(np.float32)
        normals[2, 2] = 0.0
        np.save(folder / "surface_normals" / f"{stem}.npy", normals)
        rows["weather"].append((stem, i % 4))
        rows["age"].append((stem, "" if i == 0 else 20.5 + i))
    for name, values in rows.items():
        write_csv(folder / f"{name}.csv", values)
    return stems


def write_csv(path: Path, rows: list[tuple[str, Any]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("stem", "label"))
        writer.writerows(rows)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    write_split(data, "train", 5)
    write_split(data, "val", 3, seed=1)
    return data


def config_of(root: Path, tasks: list[Any] | None = None, **options: Any) -> Any:
    return config_from_dict({"experiment": "own", "tasks": tasks or TASKS,
                             "data": {"dataset": "folder", "root": str(root), "options": options}})


def config_file(root: Path, tmp_path: Path, tasks: list[Any] | None = None, **options: Any) -> Path:
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(config_of(root, tasks, **options).to_dict()))
    return path


def test_items_follow_the_contract_of_each_task_type(root: Path) -> None:
    config = config_of(root)
    dataset = build_dataset(config, "train", config.tasks)
    assert len(dataset) == 5 and dataset.num_classes == 0
    item = dataset[0]
    assert item["image"].shape == (3, H, W) and item["image"].dtype == torch.float32
    assert item["drivable"].shape == (H, W) and item["drivable"].dtype == torch.int64
    assert int(item["drivable"][0, 0]) == -1 and int(item["drivable"].max()) <= 2
    assert item["distance"].shape == (1, H, W) and not bool(item["distance_mask"][0, 1, 1])
    assert float(item["distance"][0, 1, 1]) == 0.0 and torch.isfinite(item["distance"]).all()
    norms = item["surface_normals"].norm(dim=0)
    assert item["surface_normals"].shape == (3, H, W) and float(norms[2, 2]) == 0.0
    assert torch.allclose(norms[item["surface_normals_mask"][0]], torch.ones(()))
    assert item["weather"].shape == () and int(item["weather"]) == 0
    assert item["age"].shape == (1,) and not bool(item["age_mask"])  # empty label = no label
    assert float(dataset[1]["age"]) == pytest.approx(21.5) and bool(dataset[1]["age_mask"])
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4)))
    assert batch["weather"].shape == (4,) and batch["age"].shape == (4, 1)


def test_resize_applies_to_dense_targets_only(root: Path) -> None:
    config = config_of(root, resize=[4, 4])
    item = build_dataset(config, "val", config.tasks)[0]
    assert item["image"].shape == (3, 4, 4) and item["drivable"].shape == (4, 4)
    assert item["distance_mask"].shape == (1, 4, 4) and item["age"].shape == (1,)


def test_a_short_training_runs_on_a_folder_dataset(root: Path, tmp_path: Path) -> None:
    from treemtl.training.trainer import load_trained, train

    config = config_from_dict({**config_of(root).to_dict(), "backbone": {"input_size": [3, H, W], "blocks": 2},
                               "train": {"iters": 2, "batch_size": 2, "eval_every": 2, "checkpoint_every": 2}})
    result = train(config, config.tasks, "01234|01234", tmp_path / "run", device="cpu", threads=1)
    assert set(result.metrics["weather"]) == {"accuracy"} and set(result.metrics["age"]) == {"abs_err"}
    trained = load_trained(tmp_path / "run" / "model.pt")
    assert trained.model(torch.zeros(1, 3, H, W))["weather"].shape == (1, 4)


def test_the_check_of_a_good_folder_passes_and_records_it(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "located.json"
    assert main(["data", "check", "--config", str(config_file(root, tmp_path)), "--out", str(out)]) == 0
    assert '"samples": {' in out.read_text() and "ok" in capsys.readouterr().err
    assert check_folder(config_of(root), [t["name"] for t in TASKS]).problems == []


def _problems(root: Path, **options: Any) -> list[str]:
    config = config_of(root, **options)
    return check_folder(config, config.tasks).problems


def test_the_check_reports_every_problem_with_its_file(root: Path) -> None:
    train = root / "train"
    (train / "images" / "train004.png").write_bytes(b"not a png")                       # unreadable image
    (train / "distance" / "train001.npy").unlink()                                        # missing label file
    np.save(train / "distance" / "stray.npy", np.zeros((H, W), np.float32))               # label without image
    np.save(train / "distance" / "train002.npy", np.zeros((H, W + 1), np.float32))        # wrong size
    np.save(train / "surface_normals" / "train002.npy", np.zeros((H, W), np.float32))     # wrong shape
    np.save(train / "surface_normals" / "train003.npy", np.zeros((H, W, 3), np.int32))    # wrong dtype
    Image.fromarray(np.full((H, W), 7, np.uint8)).save(train / "drivable" / "train003.png")  # class id 7 >= 3
    write_csv(train / "weather.csv", [("train000", 0), ("train001", 9), ("train002", 1), ("train003", 1)])
    problems = _problems(root)
    expected = [
        f"{train / 'images' / 'train004.png'}: cannot read image",
        f"{train / 'distance' / 'train001.npy'}: missing (image train001.png has no distance label)",
        f"{train / 'distance' / 'stray.npy'}: stem 'stray' has no image",
        f"{train / 'distance' / 'train002.npy'}: distance array is 6x9; expected 6x8 like its image",
        f"{train / 'surface_normals' / 'train002.npy'}: surface_normals array has shape (6, 8); expected HxWx3",
        f"{train / 'surface_normals' / 'train003.npy'}: surface_normals array has dtype int32; expected float32",
        f"{train / 'drivable' / 'train003.png'}: class id 7 out of range 0..2 (255 = ignore)",
        f"{train / 'weather.csv'}: line 3: class id 9 out of range 0..3",
        f"{train / 'weather.csv'}: no row for stem 'train004'",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, problems)
    assert len(problems) == len(expected), problems


def test_the_check_lists_the_first_20_problems_and_counts_all(root: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    write_split(root, "train", 30)
    for path in sorted((root / "train" / "distance").glob("*.npy")):
        path.unlink()
    out = tmp_path / "located.json"
    assert main(["data", "check", "--config", str(config_file(root, tmp_path)), "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len([line for line in err[:-1] if line.endswith("has no distance label)")]) == 20
    assert "... and 10 more (30 problems in all)" in err
    assert err[-1].startswith(f"treemtl: error: {root}: 30 problems in the folder dataset (listed above); first: ")
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: [p.unlink() for p in (r / "val" / "images").iterdir()], "{r}/val/images: no images; the val split is empty"),
        (lambda r: (r / "train" / "images" / "train002.png").unlink(), "{r}/train/drivable/train002.png: stem 'train002' has no image"),
        (lambda r: write_csv(r / "train" / "age.csv", [("train000", 1.0)]), "{r}/train/age.csv: no row for stem 'train001'"),
        (lambda r: write_csv(r / "train" / "age.csv", [("ghost", 1.0)]), "{r}/train/age.csv: line 2: stem 'ghost' has no image"),
        (lambda r: (r / "train" / "weather.csv").write_text("image,class\n"), "{r}/train/weather.csv: expected the header 'stem,label'"),
        (lambda r: Image.fromarray(np.zeros((H, W + 2), np.uint8)).save(r / "val" / "drivable" / "val001.png"),
         "{r}/val/drivable/val001.png: drivable label map is 6x10; expected 6x8 like its image"),
    ],
)
def test_bad_input_stops_with_one_line_naming_the_file(root: Path, tmp_path: Path, damage: Any, message: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    damage(root)
    assert main(["data", "check", "--config", str(config_file(root, tmp_path))]) == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("treemtl: error: ") and message.format(r=root) in last


def test_opening_a_split_checks_file_names_without_reading_every_file(root: Path) -> None:
    (root / "train" / "distance" / "train001.npy").unlink()
    with pytest.raises(TreeMTLError, match=r"train001.npy: missing .*; `treemtl data check --config CONFIG` lists them"):
        build_dataset(config_of(root), "train", [t["name"] for t in TASKS])


def test_images_of_different_sizes_need_resize(root: Path) -> None:
    Image.fromarray(np.zeros((H + 2, W, 3), np.uint8)).save(root / "val" / "images" / "val002.png")
    assert any("set data.options.resize" in p for p in _problems(root))
    with pytest.raises(TreeMTLError, match=r"val002.png: image is 8x8, val000.png is 6x8; set data.options.resize"):
        config = config_of(root)
        build_dataset(config, "val", config.tasks)[2]


def test_built_in_segmentation_in_a_folder_needs_num_classes(root: Path) -> None:
    (root / "train" / "drivable").rename(root / "train" / "segment_semantic")
    with pytest.raises(TreeMTLError, match=r"data.options.num_classes: required for the built-in task 'segment_semantic'"):
        build_dataset(config_of(root, ["segment_semantic", TASKS[1]]), "train", ["segment_semantic", "distance"])
    dataset = build_dataset(config_of(root, ["segment_semantic", TASKS[1]], num_classes=3), "train",
                            ["segment_semantic", "distance"])
    assert dataset.num_classes == 3 and dataset[0]["segment_semantic"].shape == (H, W)


# ----------------------------------------------------------------------------------------------
# dataset plugins

DATASET_PLUGIN = '''
import torch

class Pairs(torch.utils.data.Dataset):
    def __init__(self, n, bad=False):
        self.n, self.bad = n, bad
    def __len__(self):
        return self.n
    def __getitem__(self, i):
        size = 5 if self.bad else 4
        return {"image": torch.zeros(3, 4, 4), "height": torch.zeros(1, size, 4), "label": torch.tensor(i % 2)}

def open_pairs(config, split, tasks):
    return Pairs(4 if split == "train" else 2)

def open_bad_shapes(config, split, tasks):
    return Pairs(3, bad=True)

def open_list_of_numbers(config, split, tasks):
    return 7

def open_empty(config, split, tasks):
    return Pairs(0)

def open_raising(config, split, tasks):
    raise FileNotFoundError("no such folder: /data/roads")
'''


@pytest.fixture
def dataset_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"own_dataset_plugin_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(DATASET_PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _plugin_config(spec: str) -> Any:
    return config_from_dict({"experiment": "own", "data": {"dataset": spec, "options": {"anything": 1}},
                             "tasks": [{"name": "height", "type": "regression"},
                                       {"name": "label", "type": "classification", "classes": 2}]})


def test_a_dataset_plugin_opens_both_splits(dataset_plugin: str) -> None:
    config = _plugin_config(f"{dataset_plugin}:open_pairs")
    train = build_dataset(config, "train", config.tasks)
    assert len(train) == 4 and len(build_dataset(config, "val", config.tasks)) == 2
    assert int(train[1]["label"]) == 1


@pytest.mark.parametrize(
    ("callable_", "message"),
    [
        ("open_bad_shapes", r"data.dataset '{m}:open_bad_shapes' \(train split\): item 0: item\['height'\] is a float32 "
                            r"tensor \[1, 5, 4\]; expected a float tensor \[1,H,W\] like its image \[4, 4\]"),
        ("open_list_of_numbers", r"data.dataset '{m}:open_list_of_numbers': returned int for the train split; expected a dataset"),
        ("open_empty", r"data.dataset '{m}:open_empty': the train split is empty"),
        ("open_raising", r"data.dataset '{m}:open_raising': open_raising\(\) raised FileNotFoundError: no such folder"),
    ],
)
def test_a_bad_dataset_plugin_is_one_line_naming_it(dataset_plugin: str, callable_: str, message: str) -> None:
    config = _plugin_config(f"{dataset_plugin}:{callable_}")
    with pytest.raises(TreeMTLError, match=message.format(m=dataset_plugin)):
        build_dataset(config, "train", config.tasks)[0]


def test_data_check_runs_the_dataset_plugin(dataset_plugin: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plugin.yaml"
    path.write_text(yaml.safe_dump(_plugin_config(f"{dataset_plugin}:open_bad_shapes").to_dict()))
    assert main(["data", "check", "--config", str(path)]) == 2
    assert "item['height'] is a float32 tensor [1, 5, 4]" in capsys.readouterr().err


def test_a_missing_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "check", "--config", str(config_file(tmp_path / "nowhere", tmp_path))]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"treemtl: error: data.root: dataset folder {tmp_path / 'nowhere'} does not exist (dataset 'folder'; download and prepare it there)"
