"""One initial network for every model of an experiment (``train.shared_init``).

The paper's authors initialise every single-, two- and multi-task model of an experiment from one
saved initial network (backbone and task heads), so two models differ at iteration 0 only in what
their layout shares. Here that network is the all-shared model of all the experiment's tasks, built
under the run's seed from ``backbone.weights``: a pure function of the config and the seed, so
every job rebuilds the same one instead of reading a file another job must have written. A model
then takes, block by block, the weights of the initial network's copy (the only one) and each
task's head by name.
"""

from __future__ import annotations

import torch

from treemtl.core.layout import Layout
from treemtl.nets.model import TreeMTLModel, build_model
from treemtl.training.config import ExperimentConfig
from treemtl.training.tasks import head_channels, pooled_tasks


def initial_network(config: ExperimentConfig, num_classes: int, seed: int) -> TreeMTLModel:
    """The experiment's initial network: every task of ``config`` on one shared backbone, built
    from ``seed`` (the caller's random state is left as it was)."""
    tasks = list(config.tasks)
    layout = Layout.all_shared(len(tasks), config.backbone.blocks)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(config, head_channels(tasks, num_classes, config), layout, pooled_tasks(tasks, config))


def start_from_initial_network(model: TreeMTLModel, config: ExperimentConfig, num_classes: int, seed: int) -> None:
    """Overwrite ``model``'s blocks and heads with those of :func:`initial_network`."""
    initial = initial_network(config, num_classes, seed)
    task_map = {index: config.tasks.index(task) for index, task in enumerate(model.tasks)}
    model.init_from(initial, initial.layout, task_map)
