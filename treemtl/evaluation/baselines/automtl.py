"""AutoMTL (Zhang et al. 2022, seed 002, 3.2-3.3): operator-level sharing policies by gradient search.

Three stages on the supermodel that :mod:`treemtl.nets.automtl_supermodel` compiles from the
configured backbone, with the experiment's data, tasks, loss weights and seed:

1. *pre-train* (warm-up): every VCN outputs the mean of its options, all weights train together;
2. *policy-train*: the policy (Gumbel-softmax, Eq. 1) and the weights are trained alternately —
   ``policy_iters`` steps of the policy on ``sum_i lambda_i L_i + lambda_reg L_reg`` (Eq. 2-3),
   then ``weight_iters`` steps of the weights — and the temperature is multiplied by ``tau_ratio``
   every ``tau_every`` policy steps;
3. *post-train*: a policy sampled from the learned distribution pi derives an
   :class:`~treemtl.nets.automtl_supermodel.AutoMTLModel`, retrained from scratch with the recipe of
   every final model (the paper's ablation, App. E, prefers retraining to fine-tuning).

Defaults (schema ``baselines.automtl``): the paper's NYUv2 row of Table 7 — policy lr 0.01,
lambda_reg 0.001, weight lr = ``train.lr`` (0.001 in the paper's NYUv2 recipe) — and its App. B
stage lengths in proportion to the retraining: pre-train 10,000 and policy-train 20,000 iterations
for a 30,000-iteration post-train, i.e. ``warmup_fraction`` 1/3 and ``search_fraction`` 2/3 of
``train.iters``. The paper leaves the policy optimiser, the alternation and the temperature
schedule open; the authors' published trainer uses Adam (weight decay 5e-4) for the policy,
100 policy / 400 weight iterations per cycle, tau 5 multiplied by 0.965 every 100 policy
iterations, and those are the defaults. When policy-train is shorter than the paper's 20,000
iterations (``reference_iters``) the cycle and the decay interval shrink in the same proportion,
so a short synthetic search still alternates and anneals like the paper's. Weights train with the
recipe's optimiser and learning rate in both search stages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from treemtl.atomic import write_json_atomic
from treemtl.errors import TreeMTLError
from treemtl.evaluation.baselines.search_file import SearchFile
from treemtl.evaluation.baselines.search_session import SearchSession, mean_values, scaled_iterations
from treemtl.training.sampling import seed_global_rngs
from treemtl.training.config import AutoMTLConfig, ExperimentConfig, TrainConfig

SETTINGS_KEY = "baselines.automtl"
#: ``policy.json``: the derived operator-level policy, read back by the post-train.
POLICY_FILE = SearchFile("automtl", "policy", "AutoMTL policy", "an AutoMTL policy", "automtl")


@dataclass(frozen=True)
class Schedule:
    """Stage lengths and the alternation of policy-train, scaled to the search's length."""

    warmup: int
    search: int
    policy_iters: int
    weight_iters: int
    tau_every: int

    @classmethod
    def of(cls, config: ExperimentConfig, settings: AutoMTLConfig, iters: int | None = None) -> Schedule:
        warmup = scaled_iterations(config, settings.warmup_fraction, f"{SETTINGS_KEY}.warmup_fraction")
        search = scaled_iterations(config, settings.search_fraction, f"{SETTINGS_KEY}.search_fraction")
        if iters is not None:  # a total budget of iterations split like the fractions
            share = settings.warmup_fraction / (settings.warmup_fraction + settings.search_fraction)
            warmup = max(1, int(round(iters * share)))
            search = max(1, iters - warmup)
        scale = min(1.0, search / settings.reference_iters)
        return cls(warmup=warmup, search=search,
                   policy_iters=max(1, round(settings.policy_iters * scale)),
                   weight_iters=max(1, round(settings.weight_iters * scale)),
                   tau_every=max(1, round(settings.tau_every * scale)))

    def is_policy_step(self, step: int) -> bool:
        """Whether policy-train step ``step`` (0-based) updates the policy (else the weights)."""
        return step % (self.policy_iters + self.weight_iters) < self.policy_iters


def weight_optimizer(parameters: list[torch.nn.Parameter], recipe: TrainConfig) -> torch.optim.Optimizer:
    """The recipe's optimiser for the supermodel's weights."""
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    return torch.optim.Adam(parameters, lr=recipe.lr, betas=(recipe.adam_betas[0], recipe.adam_betas[1]),
                            weight_decay=recipe.weight_decay)


def compile_for(config: ExperimentConfig, out_channels: dict[str, int], pooled: frozenset[str]) -> Any:
    """The compiled backbone of the config and fresh heads (task -> module) for ``out_channels``
    (pooled heads for the image-level tasks in ``pooled``)."""
    from treemtl.nets.automtl_supermodel import compile_backbone
    from treemtl.nets.backbones import build_backbone
    from treemtl.nets.model import build_heads

    compiled = compile_backbone(build_backbone(config.backbone.name, config.backbone.weights), config.backbone.input_size)
    last = next(n for n in compiled.graph_module.graph.nodes if n.op == "output").args[0]
    channels = int(last.meta["tensor_meta"].shape[1])
    heads = build_heads(config.head, channels, out_channels, pooled)
    return compiled, heads


@dataclass(frozen=True)
class PolicySearch:
    """Outcome of pre-train + policy-train: the derived discrete policy and the learned pi."""

    operators: list[dict[str, Any]]
    policy: list[list[int]]
    distribution: list[list[list[float]]]
    schedule: Schedule
    history: list[dict[str, Any]]
    wall_time_s: float
    device: str


def search(config: ExperimentConfig, *, device: str = "auto", threads: int | None = None,
           iters: int | None = None, train_set: Any = None, log: Any = print) -> PolicySearch:
    """Run AutoMTL's pre-train and policy-train stages and derive a discrete policy."""
    from treemtl.nets.automtl_supermodel import AutoMTLSupermodel

    settings = config.baselines.automtl
    session = SearchSession.open(config, device=device, threads=threads, train_set=train_set)
    schedule = Schedule.of(config, settings, iters)
    seed_global_rngs(config.seed)
    compiled, heads = compile_for(config, session.out_channels, session.pooled)
    model = AutoMTLSupermodel(compiled, heads).to(session.device)
    model.train()
    weights = weight_optimizer(model.weight_parameters(), config.train)
    policy = torch.optim.Adam([model.policy], lr=settings.policy_lr, weight_decay=settings.policy_weight_decay)
    history: list[dict[str, Any]] = []
    window: list[dict[str, float]] = []
    batches = session.batches()
    tau, policy_steps = settings.tau, 0
    for iteration in range(schedule.warmup + schedule.search):
        warm = iteration < schedule.warmup
        model.mode = "warmup" if warm else "search"
        model.tau = tau
        losses, loss = session.losses(model, next(batches))
        updates_policy = not warm and schedule.is_policy_step(iteration - schedule.warmup)
        reg = model.policy_regularization() if not warm else torch.zeros(())
        if updates_policy:
            loss = loss + settings.reg_weight * reg
        weights.zero_grad(set_to_none=True)
        policy.zero_grad(set_to_none=True)
        loss.backward()
        if updates_policy:
            policy.step()
            policy_steps += 1
            if policy_steps % schedule.tau_every == 0:
                tau *= settings.tau_ratio
        else:
            weights.step()
        window.append({**{t: float(v.detach()) for t, v in losses.items()}, "reg": float(reg.detach())})
        if (iteration + 1) % settings.record_every == 0 or iteration + 1 == schedule.warmup + schedule.search:
            pi = model.distribution().detach()
            entry = {"iteration": iteration + 1, "stage": "pre-train" if warm else "policy-train", "tau": tau,
                     "p_shared": float(pi[..., 0].mean()), "p_specific": float(pi[..., 1].mean()),
                     "p_skip": float(pi[..., 2].mean()), **mean_values(window)}
            history.append(entry)
            window = []
            log(f"iter {iteration + 1} ({entry['stage']}): tau {tau:.3g} p(shared/specific/skip) "
                f"{entry['p_shared']:.2f}/{entry['p_specific']:.2f}/{entry['p_skip']:.2f}")
    if settings.derive == "sample":
        chosen = model.sample_policy(torch.Generator().manual_seed(config.seed))
    else:
        chosen = model.argmax_policy()
    operators = [{"node": op.node, "module": op.module, "depth": op.depth, "skip": op.has_skip} for op in compiled.operators]
    return PolicySearch(operators=operators, policy=chosen.tolist(),
                        distribution=model.distribution().detach().cpu().tolist(), schedule=schedule,
                        history=history, wall_time_s=session.elapsed(), device=session.device.type)


def write_policy(path: str | Path, config: ExperimentConfig, result: PolicySearch) -> dict[str, Any]:
    """``policy.json``: the derived policy (option per operator and task), pi and the trajectory."""
    from treemtl.nets.automtl_supermodel import OPTIONS

    tasks = list(config.tasks)
    document = {
        "method": POLICY_FILE.method,
        "tasks": tasks,
        "operators": result.operators,
        "policy": result.policy,
        "options": {task: [OPTIONS[row[t]] for row in result.policy] for t, task in enumerate(tasks)},
        "distribution": result.distribution,
        "schedule": asdict(result.schedule),
        "settings": asdict(config.baselines.automtl),
        "wall_time_s": result.wall_time_s,
        "device": result.device,
        "history": result.history,
    }
    write_json_atomic(path, document)
    return document


def read_policy(path: str | Path, config: ExperimentConfig, compiled: Any) -> list[list[int]]:
    """The policy of a ``policy.json``, checked against the config's tasks and the compiled backbone."""
    document = POLICY_FILE.read(path, config)
    nodes = [op.node for op in compiled.operators]
    if [op.get("node") for op in document.get("operators", [])] != nodes:
        raise TreeMTLError(f"{path}: its operators do not match backbone {config.backbone.name}; search again")
    return [[int(c) for c in row] for row in document["policy"]]


def model_cost(config: ExperimentConfig, model: Any) -> dict[str, Any]:
    """fvcore FLOPs and parameters of a derived model, its body against T backbones (like a tree)."""
    from treemtl.nets.backbones import build_backbone
    from treemtl.nets.profiling import count_flops, count_params, flops_by_module

    size = config.backbone.input_size
    example = torch.zeros(1, *size)
    was = next(model.parameters()).device
    model.to("cpu")
    by_module = flops_by_module(model, example)
    backbone = build_backbone(config.backbone.name, None)
    backbone_flops = count_flops(backbone, example)
    backbone_params = count_params(backbone)
    model.to(was)
    tasks = len(config.tasks)
    body_flops, body_params = int(by_module.get("body", 0)), count_params(model.body)
    return {
        "flops": body_flops,
        "params": body_params,
        "head_flops": int(by_module.get("heads", 0)),
        "head_params": count_params(model.heads),
        "total_flops": int(by_module[""]),
        "policy_flops": int(model.policy_flops()),
        "flops_pct": 100.0 * body_flops / (tasks * backbone_flops),
        "params_pct": 100.0 * body_params / (tasks * backbone_params),
        "models": body_flops / backbone_flops,
        "options": model.options(),
    }


def derived_model_factory(config: ExperimentConfig, policy_path: str | Path) -> Any:
    """``num_classes -> AutoMTLModel`` of a ``policy.json`` (fresh weights, as the retraining needs)."""
    from treemtl.nets.automtl_supermodel import AutoMTLModel
    from treemtl.training.tasks import head_channels, pooled_tasks

    def make(num_classes: int) -> AutoMTLModel:
        tasks = list(config.tasks)
        compiled, heads = compile_for(config, head_channels(tasks, num_classes, config), pooled_tasks(tasks, config))
        return AutoMTLModel(compiled, read_policy(policy_path, config, compiled), heads)

    return make
