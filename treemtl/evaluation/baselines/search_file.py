"""The result file of a searched baseline (``search.json``, ``policy.json``), read back for retraining.

A search and its retraining are separate jobs, so the retraining must refuse a file written by the
other method or for another task list, with one error naming the file and the command that writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from treemtl.errors import TreeMTLError
from treemtl.training.config import ExperimentConfig


@dataclass(frozen=True)
class SearchFile:
    """What one searched baseline writes: its ``method`` tag, the key of its result, and its names."""

    method: str
    result_key: str
    noun: str  # e.g. "AutoMTL policy", as in "cannot read the AutoMTL policy"
    kind: str  # e.g. "an AutoMTL policy", as in "not an AutoMTL policy"
    command: str  # the ``treemtl baselines`` subcommand that writes it

    def read(self, path: str | Path, config: ExperimentConfig) -> dict[str, Any]:
        """The document at ``path``, checked to be this method's result for the config's tasks."""
        try:
            document = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise TreeMTLError(f"{path}: {self.noun} not found (run treemtl baselines {self.command} first)") from None
        except (OSError, ValueError) as error:
            raise TreeMTLError(f"{path}: cannot read the {self.noun} ({error})") from error
        if not isinstance(document, dict) or document.get("method") != self.method or self.result_key not in document:
            raise TreeMTLError(f"{path}: not {self.kind} (expected method and {self.result_key})")
        if list(document.get("tasks", [])) != list(config.tasks):
            raise TreeMTLError(f"{path}: searched for tasks {document.get('tasks')}, the config has {list(config.tasks)}")
        return document
