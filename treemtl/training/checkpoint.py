"""Training-state snapshots (``resume.pt``) and final model files (``model.pt``).

Both files hold only tensors, dicts, lists, strings, numbers, booleans and None, so they load with
``torch.load(weights_only=True)``: opening a model file never executes code from it. RNG states
(numpy's and Python's are tuples with arrays) are converted to tensors/lists for that reason.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from treemtl.atomic import save_torch_atomic
from treemtl.errors import TreeMTLError

MODEL_FORMAT = "treemtl-model"
RESUME_FORMAT = "treemtl-resume"
FORMAT_VERSION = 1


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
    save_torch_atomic(path, {"format": RESUME_FORMAT, "version": FORMAT_VERSION, **state})


def load_resume(path: str | Path) -> dict[str, Any]:
    """Read a training snapshot written by :func:`save_resume`."""
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
        "version": FORMAT_VERSION,
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
    """Read a model file written by :func:`save_model` (weights only, no code execution)."""
    payload = _load(path, "model")
    if payload.get("format") != MODEL_FORMAT:
        raise TreeMTLError(f"{path}: not a treemtl model file (expected one written by `treemtl train`)")
    for key in ("state_dict", "config", "tasks", "layout", "num_classes"):
        if key not in payload:
            raise TreeMTLError(f"{path}: model file lacks {key!r}")
    return payload


def _load(path: str | Path, what: str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise TreeMTLError(f"{path}: {what} file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt file, pickle refusing unsafe types, ...
        raise TreeMTLError(f"{path}: cannot read {what} file: {' '.join(str(error).split())[:300]}") from error
    if not isinstance(payload, dict):
        raise TreeMTLError(f"{path}: not a treemtl {what} file")
    return payload
