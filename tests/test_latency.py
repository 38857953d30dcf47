"""Inference time of layouts' models (paper appendix K, Table 14): `treemtl profile latency`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from treemtl.cli import main
from treemtl.core.layout import Layout
from treemtl.errors import TreeMTLError
from treemtl.evaluation.latency import latency_targets
from treemtl.nets.latency import measure_latency
from treemtl.training.config import config_from_dict

CONFIG = {"experiment": "lat", "tasks": ["segment_semantic", "depth_zbuffer", "normal"],
          "backbone": {"input_size": [3, 16, 16], "blocks": 3}}


def test_measure_latency_reports_the_median_of_the_timed_runs() -> None:
    calls = []

    class Counting(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(x.shape[0])
            return x * 2

    result = measure_latency(Counting(), (3, 4, 4), 3, torch.device("cpu"), warmup=2, repeats=5)
    assert calls == [3] * 7 and result.runs == 5 and result.batch == 3
    assert 0 <= result.p10_ms <= result.median_ms <= result.p90_ms
    assert result.per_image_ms == pytest.approx(result.median_ms / 3)
    with pytest.raises(TreeMTLError):
        measure_latency(Counting(), (3, 4, 4), 0, torch.device("cpu"))


def test_targets_start_with_the_references_and_appear_once() -> None:
    config = config_from_dict(CONFIG)
    targets = latency_targets(config, ["01,2|0,1,2|0,1,2"], [0, 3])
    assert [t.label for t in targets[:2]] == ["Independent", "All-shared"]
    assert targets[1].layout == Layout.all_shared(3, 3)
    assert len(targets) == len({t.layout for t in targets}) == 4  # id 0 is all-shared: not repeated
    with pytest.raises(TreeMTLError, match="expected 3 tasks and 3 blocks"):
        latency_targets(config, ["01|01"])


def test_command_times_references_and_recommendations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("experiment: lat\ntasks: [segment_semantic, depth_zbuffer, normal]\n"
                      "backbone: {input_size: [3, 16, 16], blocks: 3}\n")
    recommended = tmp_path / "budget1.csv"
    pd.DataFrame({"id": [3], "layout": ["-"]}).to_csv(recommended, index=False)
    out = tmp_path / "latency.csv"
    code = main(["profile", "latency", "--config", str(config), "--recommended", str(recommended), "--num-classes", "4",
                 "--batch-sizes", "1,2", "--warmup", "1", "--repeats", "3", "--device", "cpu", "--threads", "1",
                 "--out", str(out)])
    assert code == 0
    frame = pd.read_csv(out)
    assert list(frame["model"]) == ["Independent"] * 2 + ["All-shared"] * 2 + ["Recommended"] * 2
    assert list(frame["batch"]) == [1, 2] * 3 and (frame["median_ms"] > 0).all() and (frame["device"] == "cpu").all()
    assert "Recommended" in capsys.readouterr().out
    assert main(["profile", "latency", "--config", str(config), "--batch-sizes", "0", "--num-classes", "4"]) == 2


def test_latency_is_an_optional_workflow_target(tmp_path: Path) -> None:
    import shutil

    from workflow_helpers import REPO, dry_run

    configfile = tmp_path / "config.yaml"
    shutil.copy(REPO / "config" / "config.yaml", configfile)
    counts = dry_run(tmp_path, configfile, "--", "latency")
    assert counts["latency"] == 1 and counts["recommend"] >= 1 and "train_final" not in counts
    assert "latency" not in dry_run(tmp_path, configfile)
