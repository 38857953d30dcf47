"""``train.log``: the human-readable record of one training run."""

from __future__ import annotations

import sys
import time
from pathlib import Path


class TrainLog:
    """Append-only ``train.log`` (kept across resumes, so a restart is visible in it).

    Warnings also go to stderr, which is what a cluster job's log file shows.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {message}\n")

    def warn(self, message: str) -> None:
        self(f"warning: {message}")
        sys.stderr.write(f"treemtl: warning: {message}\n")
