"""Every paper config against data in the real on-disk formats (format samples), before training.

The samples are written once per dataset, small (40x48), and each paper config is pointed at them:
they load through ``build_dataset`` and pass ``treemtl data check``; the workflow's real ``data``
rule runs on them and a dry run of the rest lists the jobs of the config. A dry run builds no
network (``detect`` is listed, not run), so no ResNet34 at 321x321 is built on the CPU here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from treemtl.cli import main
from treemtl.errors import TreeMTLError
from treemtl.results_tree import ResultsTree
from treemtl.training.config import config_from_dict
from treemtl.training.data import build_dataset
from treemtl.training.data.common import check_item
from treemtl.training.data.format_samples import sample_options, write_format_samples
from treemtl.training.data.nyuv2 import NYUv2AdaShare
from treemtl.training.data.taskonomy import Taskonomy
from treemtl.training.tasks import get_task, out_channels
from workflow_helpers import REPO, dry_run, expected_job_counts, snakemake

PAPER = ("nyuv2_resnet34", "nyuv2_mobilenetv2", "nyuv2_mobilenetv2_seed20", "taskonomy_resnet34", "taskonomy_mobilenetv2")
TRAIN, VAL, SIZE = 3, 2, (40, 48)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Format samples of both datasets, written by ``treemtl data format-samples``."""
    roots = {}
    for dataset in ("nyuv2", "taskonomy"):
        root = tmp_path_factory.mktemp(dataset)
        assert main(["data", "format-samples", "--dataset", dataset, "--out", str(root), "--train", str(TRAIN),
                     "--val", str(VAL), "--size", *map(str, SIZE), "--seed", "3"]) == 0
        roots[dataset] = root
    return roots


def paper_config(name: str, root: Path) -> dict[str, Any]:
    """Paper config ``name`` reading ``root`` (and, for Taskonomy, the samples' ``splits.json``)."""
    config = yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())
    config["data"]["root"] = str(root)
    config["data"]["options"].update(sample_options(config["data"]["dataset"]))
    return config


def dataset_of(name: str) -> str:
    return yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())["data"]["dataset"]


def test_writers_follow_the_loaders_conventions(samples: dict[str, Path]) -> None:
    nyu = NYUv2AdaShare(samples["nyuv2"], "train", ["segment_semantic", "depth_zbuffer", "normal"], {})
    assert len(nyu) == TRAIN and len(NYUv2AdaShare(samples["nyuv2"], "val", ["normal"], {})) == VAL
    item = nyu[0]
    assert item["image"].shape == (3, *SIZE)
    seg = item["segment_semantic"]
    assert (seg == -1).any() and seg.min() >= -1 and seg.max() < 40  # 255 = ignore, 40 classes
    assert 0 < item["depth_zbuffer_mask"].float().mean() < 1  # some pixels without depth
    assert torch.allclose(item["normal"].norm(dim=0)[item["normal_mask"][0]], torch.ones(1), atol=1e-4)

    tasks = list(yaml.safe_load((REPO / "config" / "taskonomy_resnet34.yaml").read_text())["tasks"])
    tk = Taskonomy(samples["taskonomy"], "val", tasks, {"split_file": "splits.json"})
    assert len(tk) == VAL and len(Taskonomy(samples["taskonomy"], "train", tasks, {"split_file": "splits.json"})) == TRAIN
    item = tk[1]
    seg = item["segment_semantic"]
    assert (seg == -1).any() and seg.max() <= 16  # 0 = unlabelled -> ignore, 17 classes
    assert 0 < item["depth_zbuffer_mask"].float().mean() < 1  # 65535 = no depth
    for task in ("keypoints2d", "edge_texture"):
        assert 0 < float(item[task].mean()) < 1 and item[task].max() <= 1
    with pytest.raises(TreeMTLError, match="coco"):
        write_format_samples("coco", samples["nyuv2"] / "x", 1, 1)
    with pytest.raises(TreeMTLError, match="at least one train"):
        write_format_samples("nyuv2", samples["nyuv2"] / "x", 0, 1)


@pytest.mark.parametrize("name", PAPER)
def test_each_paper_config_loads_the_samples_and_passes_the_data_check(
    name: str, samples: dict[str, Path], tmp_path: Path
) -> None:
    values = paper_config(name, samples[dataset_of(name)])
    config = config_from_dict(values)
    crop = tuple(values["data"]["augment"]["crop"])
    specs = {task: get_task(task, config) for task in config.tasks}
    for split, count in (("train", TRAIN), ("val", VAL)):
        dataset = build_dataset(config, split, list(config.tasks))
        assert len(dataset) == count  # type: ignore[arg-type]
        item = dataset[count - 1]
        assert item["image"].shape == (3, *crop)  # train: the random crop; val: resized to it
        num_classes = int(getattr(dataset, "num_classes"))
        check_item(item, {task: (spec.target, out_channels(spec, num_classes)) for task, spec in specs.items()}, name)
    configfile, out = tmp_path / f"{name}.yaml", tmp_path / "located.json"
    configfile.write_text(yaml.safe_dump(values))
    assert main(["data", "check", "--config", str(configfile), "--out", str(out)]) == 0
    found = json.loads(out.read_text())
    assert found["train"]["size"] == TRAIN and found["val"]["size"] == VAL and found["tasks"] == list(config.tasks)


@pytest.mark.parametrize("name", PAPER)
def test_each_paper_config_runs_the_data_rule_then_dry_runs_the_workflow(
    name: str, samples: dict[str, Path], tmp_path: Path
) -> None:
    """The real ``data`` rule (``treemtl data check``) runs as the only target, then a dry run lists
    T single-task and C(T,2)·B two-task trainings (and their repeats), one recommend job per budget
    and the ``trained_finals`` aggregator, and no data job any more. The final trainings are not
    listed: the recommend checkpoint decides them after the two-task table is trained."""
    values = paper_config(name, samples[dataset_of(name)])
    configfile = tmp_path / f"{name}.yaml"
    configfile.write_text(yaml.safe_dump(values))
    ready = ResultsTree.of_experiment(values["experiment"]).data_ready(False, values["data"]["root"])
    done = snakemake(tmp_path, "--configfile", str(configfile), "--cores", "1", str(ready), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / ready).read_text())["train"]["size"] == TRAIN
    expected = expected_job_counts(values)
    del expected["data"]
    assert dry_run(tmp_path, configfile) == expected


@pytest.mark.parametrize(
    ("name", "other", "named"),
    [("nyuv2_resnet34", "taskonomy", "nyu_v2_3task.json: NYUv2 split file not found"),
     ("taskonomy_mobilenetv2", "nyuv2", "splits.json: Taskonomy split file not found")],
)
def test_the_other_datasets_format_stops_at_the_data_rule(
    name: str, other: str, named: str, samples: dict[str, Path], tmp_path: Path
) -> None:
    values = paper_config(name, samples[other])
    configfile = tmp_path / f"{name}.yaml"
    configfile.write_text(yaml.safe_dump(values))
    tree = ResultsTree.of_experiment(values["experiment"])
    ready = tree.data_ready(False, values["data"]["root"])
    done = snakemake(tmp_path, "--configfile", str(configfile), "--cores", "1", str(ready), timeout=120)
    assert done.returncode != 0 and "Error in rule data" in done.stdout + done.stderr
    assert not (tmp_path / ready).exists()
    log = (tmp_path / tree.log("data")).read_text().strip().splitlines()
    assert log == [f"treemtl: error: {samples[other] / named}"]

