"""Shared test settings: one torch thread (the suite runs on 2 cores), paths to the published tables."""

from __future__ import annotations

from pathlib import Path

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
