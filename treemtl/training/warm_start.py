"""Starting a run from a trained model of the same tasks instead of random weights (``--init``).

The warm-start strategy of the two-task table (``pairs.strategy: warm_start``) trains each pair's
all-shared model once and fine-tunes its branched variants from it: every block copy of the new
layout takes the weights of the source copy that holds its first task, so the shared blocks are
the all-shared model's and both branches' copies after the branch point start as that model's
block; heads are copied by task name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from torch import nn

from treemtl.errors import TreeMTLError
from treemtl.nets.model import TreeMTLModel
from treemtl.training.checkpoint import load_model_file, stored_layout

ModelFactory = Callable[[int], nn.Module]


def warm_started(make_model: ModelFactory, init: str | Path, tasks: Sequence[str]) -> ModelFactory:
    """``make_model`` whose models start from the weights of ``init`` (a ``model.pt`` of ``tasks``)."""
    payload = load_model_file(init)
    if tuple(payload["tasks"]) != tuple(tasks):
        raise TreeMTLError(f"--init {init}: a model of tasks {','.join(payload['tasks'])}, "
                           f"expected one of {','.join(tasks)}")
    source_layout = stored_layout(payload, init)

    def make(num_classes: int) -> nn.Module:
        if int(payload["num_classes"]) != num_classes:
            raise TreeMTLError(f"--init {init}: trained with {payload['num_classes']} classes, this run has {num_classes}")
        model = make_model(num_classes)
        if not isinstance(model, TreeMTLModel):
            raise TreeMTLError(f"--init {init}: only tree models can be warm-started")
        model.init_from(payload["state_dict"], source_layout)
        return model

    return make
