"""Training-state snapshots (``resume.pt``) and final model files (``model.pt``).

Both files hold only tensors, dicts, lists, strings, numbers, booleans and None, so they load with
``torch.load(weights_only=True)``: opening a model file never executes code from it. RNG states
(numpy's and Python's are tuples with arrays) are converted to tensors/lists for that reason.

Reading validates what it reads: a truncated, empty or foreign file is one :class:`TreeMTLError`
naming the file and, for ``model.pt``, how to regenerate it, never a torch traceback. What a
``resume.pt`` holds and how a damaged one is handled is :mod:`treemtl.training.training_state`'s
business; this module only knows the two file formats.
"""

from __future__ import annotations

import pickle
import random
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from treemtl.atomic import save_torch_atomic
from treemtl.errors import TreeMTLError

if TYPE_CHECKING:
    from treemtl.core.layout import Layout

MODEL_FORMAT = "treemtl-model"
RESUME_FORMAT = "treemtl-resume"
MODEL_VERSION = 1
#: Version 2: the progress fields of :class:`treemtl.training.training_state.Progress`.
RESUME_VERSION = 2
#: What a user does about a damaged model file (the rules and ``treemtl train --out`` rewrite it).
REGENERATE_MODEL = "delete it and rerun snakemake (or the `treemtl train` that wrote it) to regenerate it"
#: Keys and types every model file has.
_MODEL_KEYS: dict[str, type] = {
    "state_dict": dict, "config": dict, "tasks": list, "layout": str, "num_classes": int,
}


def capture_rng_state() -> dict[str, Any]:
    """Torch (CPU and CUDA), numpy and Python RNG states in weights-only-safe types."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "algorithm": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": int(py_version), "internal": list(py_internal), "gauss": py_gauss},
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["algorithm"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    py_state = state["python"]
    random.setstate((py_state["version"], tuple(py_state["internal"]), py_state["gauss"]))
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)


def save_resume(path: str | Path, state: Mapping[str, Any]) -> None:
    """Write the training state atomically: a kill during the save keeps the previous snapshot."""
    save_torch_atomic(path, {"format": RESUME_FORMAT, "version": RESUME_VERSION, **state})


def load_resume(path: str | Path) -> dict[str, Any]:
    """Read a training snapshot written by :func:`save_resume` (its version is checked by the caller)."""
    payload = _load(path, "training state")
    if payload.get("format") != RESUME_FORMAT:
        raise TreeMTLError(f"{path}: not a treemtl training-state file")
    return payload


def save_model(
    path: str | Path,
    *,
    state_dict: Mapping[str, torch.Tensor],
    config: Mapping[str, Any],
    tasks: list[str],
    layout: str,
    num_classes: int,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write the final model: weights plus everything needed to rebuild the network."""
    payload: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "state_dict": {key: value.detach().cpu() for key, value in state_dict.items()},
        "config": dict(config),
        "tasks": list(tasks),
        "layout": layout,
        "num_classes": int(num_classes),
    }
    if extra:
        payload.update(extra)
    save_torch_atomic(path, payload)


def load_model_file(path: str | Path) -> dict[str, Any]:
    """Read and validate a model file written by :func:`save_model` (weights only, no code execution)."""
    payload = _load(path, "model", REGENERATE_MODEL)
    problem = _model_file_problem(payload)
    if problem is not None:
        raise TreeMTLError(f"{path}: {problem}; {REGENERATE_MODEL}")
    return payload


def stored_layout(payload: Mapping[str, Any], path: str | Path) -> Layout:
    """The layout a model file of ``path`` was trained with (a bad one names the file)."""
    from treemtl.core.layout import Layout

    try:
        return Layout.parse(payload["layout"])
    except TreeMTLError as error:
        raise TreeMTLError(f"{path}: stored layout: {error}; {REGENERATE_MODEL}") from None


def _model_file_problem(payload: Mapping[str, Any]) -> str | None:
    """Why ``payload`` is not a usable model file, or None."""
    if payload.get("format") != MODEL_FORMAT:
        return "not a treemtl model file (expected one written by `treemtl train`)"
    if payload.get("version") != MODEL_VERSION:
        return f"model file version {payload.get('version')!r}, this treemtl reads version {MODEL_VERSION}"
    for key, kind in _MODEL_KEYS.items():
        if key not in payload:
            return f"model file lacks {key!r}"
        if not isinstance(payload[key], kind):
            return f"model file field {key!r} is a {type(payload[key]).__name__}, expected a {kind.__name__}"
    weights = payload["state_dict"]
    if not weights or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
        return "model file field 'state_dict' is not a non-empty mapping of names to tensors"
    if not payload["tasks"] or not all(isinstance(task, str) for task in payload["tasks"]):
        return "model file field 'tasks' is not a non-empty list of task names"
    return None


def _load(path: str | Path, what: str, remedy: str | None = None) -> dict[str, Any]:
    """``torch.load`` (weights only) of a dict, every failure as one line naming ``path``."""
    path = Path(path)
    suffix = f"; {remedy}" if remedy else ""
    if not path.is_file():
        raise TreeMTLError(f"{path}: {what} file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated or foreign file, pickle refusing unsafe types, ...
        raise TreeMTLError(f"{path}: cannot read {what} file: {_unreadable_reason(path, error)}{suffix}") from error
    if not isinstance(payload, dict):
        raise TreeMTLError(f"{path}: not a treemtl {what} file{suffix}")
    return payload


def _unreadable_reason(path: Path, error: Exception) -> str:
    """A short reason for a failed ``torch.load``; torch's own texts run to paragraphs."""
    size = path.stat().st_size
    if size == 0:
        return "the file is empty"
    if isinstance(error, pickle.UnpicklingError):
        return "it holds objects other than tensors and plain data (not written by treemtl)"
    if not zipfile.is_zipfile(path):
        return f"it is truncated or not a PyTorch file ({size} bytes)"
    return " ".join(str(error).split())[:200]
