"""Shared test settings: one torch thread (the suite runs on 2 cores), paths to the published tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TWO_TASK_TABLES = SHARED_DATA / "two_task_tables"


def pytest_configure(config: pytest.Config) -> None:
    try:
        import torch
    except ImportError:  # the pure core is testable without torch
        return
    torch.set_num_threads(1)


@pytest.fixture
def two_task_tables() -> Path:
    if not TWO_TASK_TABLES.is_dir():
        pytest.fail(f"published two-task tables not found at {TWO_TASK_TABLES} (the repository expects shared/ beside it)")
    return TWO_TASK_TABLES


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A config's ``data`` section for a small synthetic dataset (32 + 16 images of 32x32), written once."""
    from treemtl.training.data.synthetic import SynthSpec, write_dataset

    root = tmp_path_factory.mktemp("synthetic") / "data"
    write_dataset(root, SynthSpec(n_train=32, n_val=16, size=32, seed=0), workers=1, contact_sheet=False)
    return {"dataset": "synthetic", "root": str(root), "synthetic": {"n_train": 32, "n_val": 16, "size": 32}}


@pytest.fixture
def every_task_type() -> list[dict[str, Any]]:
    """One task of every built-in type, declared as a user writes them in a config."""
    return [
        {"name": "drivable", "type": "segmentation", "classes": 2},
        {"name": "distance", "type": "depth"},
        {"name": "height", "type": "regression"},
        {"name": "surface_normals", "type": "normals"},
        {"name": "edges", "type": "heatmap"},
        {"name": "weather", "type": "classification", "classes": 4},
        {"name": "age", "type": "image_regression"},
    ]
