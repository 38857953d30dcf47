"""Convert a downloaded ImageNet state_dict (torchvision, timm, a training wrapper's) to a backbone's
parameter names, for ``backbone.weights``.

Keys are matched by name first, after removing wrapper prefixes (``module.``, ``model.``,
``backbone.``) and dropping classifier parts; the backbone's tensors still unmatched are then paired
with the file's remaining ones in their stored order, each pair required to have the same shape
(timm and torchvision store a network's layers in the same order under different names). BatchNorm
step counters are optional. Anything left over is reported; a backbone tensor left without a value
is an error, never a silent partial start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from treemtl.errors import TreeMTLError

_PREFIXES: tuple[str, ...] = ("module.", "model.", "backbone.", "encoder.")
_CLASSIFIER_PREFIXES: tuple[str, ...] = ("fc.", "classifier.", "head.", "last_linear.", "AuxLogits.")
_OPTIONAL_SUFFIX = "num_batches_tracked"


@dataclass(frozen=True)
class Conversion:
    """The converted state_dict and what happened to each key."""

    state: dict[str, Tensor]
    by_name: int
    by_order: int
    defaulted: tuple[str, ...]
    unused: tuple[str, ...]


def _strip(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


def read_state_dict(path: str | Path, where: str = "") -> dict[str, Tensor]:
    """A state_dict file (or a checkpoint holding one under ``state_dict``/``model``), weights only
    (a checkpoint cannot run code); ``where`` (e.g. ``"backbone.weights: "``) prefixes its errors."""
    file = Path(path)
    if not file.is_file():
        raise TreeMTLError(f"{where}{file}: state_dict file not found")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        raise TreeMTLError(f"{where}{file}: not a loadable state_dict ({' '.join(str(error).split())[:200]})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise TreeMTLError(f"{where}{file}: expected a state_dict (a dict of tensors)")
    return dict(state)


def convert_state_dict(source: Mapping[str, Tensor], model: nn.Module, where: str = "state_dict") -> Conversion:
    """``source``'s tensors under ``model``'s names (see the module docstring)."""
    own = model.state_dict()
    candidates = {_strip(k): v for k, v in source.items()}
    candidates = {k: v for k, v in candidates.items() if not k.startswith(_CLASSIFIER_PREFIXES)}
    state: dict[str, Tensor] = {}
    for name, like in own.items():
        value = candidates.get(name)
        if value is not None and tuple(value.shape) == tuple(like.shape):
            state[name] = value
    by_name = len(state)
    used = set(state)
    remaining = [(k, v) for k, v in candidates.items() if k not in used and not k.endswith(_OPTIONAL_SUFFIX)]
    wanted = [n for n in own if n not in state and not n.endswith(_OPTIONAL_SUFFIX)]
    if wanted and len(remaining) >= len(wanted):
        for (name, (key, value)) in zip(wanted, remaining):
            if tuple(value.shape) != tuple(own[name].shape):
                raise TreeMTLError(
                    f"{where}: cannot match {name} {tuple(own[name].shape)} of the backbone: the next unmatched "
                    f"tensor of the file is {key} {tuple(value.shape)} (another architecture?)"
                )
            state[name] = value
        remaining = remaining[len(wanted):]
    by_order = len(state) - by_name
    missing = [n for n in own if n not in state and not n.endswith(_OPTIONAL_SUFFIX)]
    if missing:
        raise TreeMTLError(f"{where}: no tensor for {len(missing)} backbone entries ({', '.join(missing[:3])}"
                           f"{', ...' if len(missing) > 3 else ''}); the file has {len(remaining)} unmatched tensors")
    defaulted = tuple(n for n in own if n not in state)
    for name in defaulted:
        state[name] = own[name]
    ordered = {name: state[name] for name in own}
    return Conversion(ordered, by_name, by_order, defaulted, tuple(k for k, _ in remaining))
