"""Learning to Branch (Guo et al. 2020, seed 004): search a tree by gradient descent, then retrain it.

The supernet is :class:`~treemtl.nets.branching_supernet.BranchingSupernet` over the detector's
coarse blocks; its weights and parent distributions are trained jointly on the multi-task loss
(Eq. 1) with the experiment's data, tasks, loss weights and seed. At the end every child keeps its
most likely parent (Eq. 7) and the tree becomes a :class:`~treemtl.core.layout.Layout` with its
paper id and cost, which is retrained from scratch with the recipe of every final model.

Defaults (schema ``baselines.learn_to_branch``) are the paper's Taskonomy settings (section 4.3):
Adam for weights and branching distributions, temperature 10 divided by the epoch number
("decayed by the number of epochs"), 2 warm-up epochs without updating the distributions, as many
child nodes per block as tasks. The learning rate of the weights is the recipe's ``train.lr``;
that of the distributions is 0.01 (the top of the paper's Taskonomy grid 1e-4..1e-2, chosen because
the synthetic searches are short). The synthetic-data setting (temperature 50 divided by the square
root of the iteration) is ``tau: 50, tau_decay: sqrt_iteration``. The search runs
``iters_fraction`` x ``train.iters`` iterations; warm-up is capped at half of them so the
distributions always train.

Resource-aware variant (in the spirit of BMTAS): the loss gains ``lambda * E[models]``, the
expected backbone FLOPs of the sampled tree in backbones' worth
(:meth:`~treemtl.nets.branching_supernet.BranchingSupernet.expected_models`, between 1 for the
all-shared tree and T for independent models).

* ``budget: null`` — a fixed weight ``lambda = flops_weight`` (BMTAS's constant trade-off; 0 = the
  original method). One unit of ``lambda`` trades one backbone's worth of FLOPs against one unit of
  the weighted task loss.
* ``budget: B`` (in backbone models, like ``recommend.budgets``) — the weight becomes a Lagrange
  multiplier of the constraint ``E[models] <= B``: the term is ``lambda * (E[models] - B)`` and after
  every step ``lambda <- max(0, lambda + budget_lr * (E[models] - B))``, starting from
  ``flops_weight``. So the budget sets the weight: it grows while the expected tree is over budget and
  relaxes to 0 once it is under, and no hand-tuned weight is needed per budget. The derived tree's
  exact cost is reported with ``within_budget``.
* ``budget: recommend`` — one such search per ``recommend.budgets`` entry (the workflow's
  ``learn_to_branch/budget<x>/``), so each budget's recommended trees meet a search aimed at the
  same budget. One search targets one budget: :func:`for_budget` gives its config.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from treemtl.atomic import write_json_atomic
from treemtl.errors import TreeMTLError
from treemtl.evaluation.baselines.search_file import SearchFile
from treemtl.evaluation.baselines.search_session import SearchSession, mean_values, scaled_iterations
from treemtl.training.sampling import seed_global_rngs
from treemtl.training.config import ExperimentConfig, LearnToBranchConfig

SETTINGS_KEY = "baselines.learn_to_branch"
#: ``search.json``: the derived tree, read back by the retraining.
SEARCH_FILE = SearchFile("learn_to_branch", "layout", "search result", "a learn-to-branch search result", "learn-to-branch")


def temperature(settings: LearnToBranchConfig, iteration: int, iterations_per_epoch: int) -> float:
    """tau at ``iteration`` (0-based): tau0 / epoch number (1-based), or tau0 / sqrt(iteration)."""
    if settings.tau_decay == "epoch":
        return settings.tau / (iteration // max(1, iterations_per_epoch) + 1)
    return settings.tau / math.sqrt(max(1, iteration))


@dataclass(frozen=True)
class BranchSearch:
    """Outcome of a search: the derived tree and how the search got there."""

    layout: Any  # treemtl.core.layout.Layout
    parents: list[list[int]]
    probabilities: list[list[list[float]]]
    expected_models: float
    multiplier: float
    iterations: int
    warmup: int
    history: list[dict[str, Any]]
    wall_time_s: float
    device: str


def block_fractions(profile: Any) -> list[float]:
    """Each block's share of one backbone's FLOPs, from a :class:`~treemtl.core.cost.BlockProfile`."""
    total = float(sum(profile.flops))
    return [float(f) / total for f in profile.flops]


def for_budget(config: ExperimentConfig, budget: float | None) -> ExperimentConfig:
    """``config`` for the one search that targets ``budget`` (None: no target); its ``search.json`` records it."""
    baselines = config.baselines
    settings = replace(baselines.learn_to_branch, budget=budget)
    return replace(config, baselines=replace(baselines, learn_to_branch=settings))


def _target(config: ExperimentConfig) -> float | None:
    budget = config.baselines.learn_to_branch.budget
    if isinstance(budget, str):
        raise TreeMTLError(f"{SETTINGS_KEY}.budget is {budget!r}: one search per recommend budget; "
                           "name the budget of this search (treemtl baselines learn-to-branch --budget)")
    return budget


def search(config: ExperimentConfig, fractions: Sequence[float], *, device: str = "auto",
           threads: int | None = None, iters: int | None = None, train_set: Any = None,
           log: Any = print) -> BranchSearch:
    """Train the supernet's weights and parent distributions jointly; return the derived tree."""
    from treemtl.nets.branching_supernet import BranchingSupernet
    from treemtl.nets.detect import split_backbone
    from treemtl.nets.model import build_heads

    settings = config.baselines.learn_to_branch
    budget = _target(config)
    session = SearchSession.open(config, device=device, threads=threads, train_set=train_set)
    total = iters if iters is not None else scaled_iterations(config, settings.iters_fraction, f"{SETTINGS_KEY}.iters_fraction")
    if len(fractions) != config.backbone.blocks:
        raise TreeMTLError(f"learn-to-branch: profile has {len(fractions)} blocks, backbone.blocks = {config.backbone.blocks}")
    seed_global_rngs(config.seed)
    split = split_backbone(config.backbone)
    heads = build_heads(config.head, split.out_channels, session.out_channels, session.pooled)
    net = BranchingSupernet(split.blocks, heads, settings.children).to(session.device)
    net.train()
    betas = (config.train.adam_betas[0], config.train.adam_betas[1])
    weights = torch.optim.Adam(net.weight_parameters(), lr=config.train.lr, betas=betas, weight_decay=config.train.weight_decay)
    arch = torch.optim.Adam(net.architecture_parameters(), lr=settings.arch_lr)
    warmup = min(int(round(settings.warmup_epochs * session.iterations_per_epoch)), total // 2)
    multiplier = settings.flops_weight
    history: list[dict[str, Any]] = []
    window: list[dict[str, float]] = []
    batches = session.batches()
    for iteration in range(total):
        net.tau = temperature(settings, iteration, session.iterations_per_epoch)
        losses, loss = session.losses(net, next(batches))
        searching = iteration >= warmup
        expected = net.expected_models(fractions)
        if searching and multiplier > 0:
            loss = loss + multiplier * (expected - budget if budget is not None else expected)
        weights.zero_grad(set_to_none=True)
        arch.zero_grad(set_to_none=True)
        loss.backward()
        weights.step()
        if searching:
            arch.step()
            if budget is not None:
                multiplier = max(0.0, multiplier + settings.budget_lr * (float(expected.detach()) - budget))
        window.append({**{t: float(v.detach()) for t, v in losses.items()}, "expected_models": float(expected.detach())})
        if (iteration + 1) % settings.record_every == 0 or iteration + 1 == total:
            entry = {"iteration": iteration + 1, "tau": net.tau, "multiplier": multiplier,
                     "layout": net.derived_layout().format(), **mean_values(window)}
            history.append(entry)
            window = []
            log(f"iter {iteration + 1}: tau {net.tau:.3g} E[models] {entry['expected_models']:.3f} "
                f"lambda {multiplier:.3g} layout {entry['layout']}")
    with torch.no_grad():
        expected_final = float(net.expected_models(fractions))
    return BranchSearch(layout=net.derived_layout(), parents=net.parents(),
                        probabilities=[p.detach().cpu().tolist() for p in net.probabilities()],
                        expected_models=expected_final, multiplier=multiplier, iterations=total, warmup=warmup,
                        history=history, wall_time_s=session.elapsed(), device=session.device.type)


def describe_layout(layout: Any, profile: Any, budget: float | None) -> dict[str, Any]:
    """Paper id, copies per block and cost (core.cost) of a derived tree, and whether it fits ``budget``."""
    from treemtl.core.cost import layout_costs, parse_budget
    from treemtl.core.layout import layout_id

    copies = np.array([layout.copies()])
    costs = layout_costs(copies, profile, layout.num_tasks)
    entry: dict[str, Any] = {
        "layout": layout.format(),
        "id": layout_id(layout),
        "copies": list(layout.copies()),
        "flops": float(costs.flops[0]),
        "params": float(costs.params[0]),
        "flops_pct": float(costs.flops_pct[0]),
        "params_pct": float(costs.params_pct[0]),
        "models": float(costs.flops[0]) / float(costs.backbone_flops),
    }
    if budget is not None:
        entry["budget"] = budget
        entry["within_budget"] = bool(parse_budget(f"{budget}models").mask(costs)[0])
    return entry


def write_search(path: str | Path, config: ExperimentConfig, result: BranchSearch, profile: Any) -> dict[str, Any]:
    """``search.json``: the derived tree (id, layout, cost) and the search's trajectory."""
    settings = config.baselines.learn_to_branch
    document = {
        "method": SEARCH_FILE.method,
        "tasks": list(config.tasks),
        **describe_layout(result.layout, profile, _target(config)),
        "parents": result.parents,
        "probabilities": result.probabilities,
        "expected_models": result.expected_models,
        "multiplier": result.multiplier,
        "iterations": result.iterations,
        "warmup_iterations": result.warmup,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(settings).items()},
        "wall_time_s": result.wall_time_s,
        "device": result.device,
        "history": result.history,
    }
    write_json_atomic(path, document)
    return document


def read_search(path: str | Path, config: ExperimentConfig) -> Any:
    """The derived layout of a ``search.json``, checked against the config's tasks and blocks."""
    from treemtl.core.layout import Layout

    document = SEARCH_FILE.read(path, config)
    layout = Layout.parse(document["layout"])
    if layout.num_blocks != config.backbone.blocks:
        raise TreeMTLError(f"{path}: layout has {layout.num_blocks} blocks, backbone.blocks = {config.backbone.blocks}")
    return layout
