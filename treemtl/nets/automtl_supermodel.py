"""AutoMTL's multi-task supermodel compiler and the operator-level model it derives (seed 002, 3.1-3.2).

:func:`compile_backbone` traces the backbone with ``torch.fx`` (the same tracer as the branching
point detector) and turns every node of the graph into a Virtual Computation Node:

* a *weighted operator* (a convolution, a linear layer, any leaf module with parameters other than
  normalisation) gets the backbone operator (shared by the tasks that pick it), one task-specific
  copy per task and, per task, a skip path: the identity when input and output shapes match,
  otherwise a down-sample (a 1x1 convolution with the operator's stride followed by batch norm,
  or a bias-free linear layer), and a policy over these three options for every task. An operator
  whose shape change no down-sample reproduces has no skip option (its logit is masked);
* a *normalisation* layer follows the sharing of its input: in the supermodel each task keeps its
  own copy (the authors' implementation makes batch norm task-specific because each task's stream
  has its own statistics); in the derived model tasks whose input is the same tensor share one copy;
* everything else (activations, pooling, additions) has no parameters and runs on every stream.

The supermodel runs the T task streams stacked along the batch dimension (T*N images), so a shared
operator is one call; only task-specific options and normalisation layers run per task.

Modes of :class:`AutoMTLSupermodel`: ``warmup`` (each VCN outputs the mean of its options, AutoMTL's
pre-train), ``search`` (the soft Gumbel-softmax policy of Eq. 1 with temperature ``tau`` weighs
the options), ``fixed`` (a discrete policy: only the chosen option runs). :meth:`policy_regularization`
is Eq. 2. :class:`AutoMTLModel` is the multi-task model a discrete policy derives: it evaluates
every distinct computation once (tasks that agree on an operator and its input share it, so a
common prefix runs once, as in a tree) and holds only the operators some task uses; its fvcore
FLOPs and parameters are the model's cost.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from treemtl.errors import TreeMTLError

OPTIONS: tuple[str, ...] = ("shared", "specific", "skip")
SHARED, SPECIFIC, SKIP = 0, 1, 2
Mode = Literal["warmup", "search", "fixed"]

_NORMS: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)


def _safe(name: str) -> str:
    return name.replace(".", "_")


@dataclass(frozen=True)
class Operator:
    """One weighted operator of the backbone: a policy variable per task decides its option."""

    node: str
    module: str
    depth: int
    has_skip: bool
    flops: int
    skip_flops: int


@dataclass
class CompiledBackbone:
    """The traced backbone and what the compiler found in it (shared by supermodel and derived model)."""

    graph_module: fx.GraphModule
    operators: list[Operator]
    norms: list[str]
    input_size: tuple[int, int, int]
    #: fvcore FLOPs of every module node of the backbone (by node name) at ``input_size``.
    module_flops: dict[str, int]

    @property
    def max_depth(self) -> int:
        return max((op.depth for op in self.operators), default=0)

    def index(self) -> dict[str, int]:
        return {op.node: i for i, op in enumerate(self.operators)}

    def module(self, node: fx.Node) -> nn.Module:
        return self.graph_module.get_submodule(str(node.target))

    def skip_module(self, node: fx.Node) -> nn.Module | None:
        """A fresh skip path of a weighted operator: identity, a down-sample, or None if impossible."""
        module = self.module(node)
        arg = node.args[0]
        assert isinstance(arg, fx.Node)
        in_shape, out_shape = _shape(arg), _shape(node)
        if in_shape == out_shape:
            return nn.Identity()
        candidate: nn.Module | None = None
        if isinstance(module, nn.Conv2d) and len(in_shape) == 4:
            candidate = nn.Sequential(
                nn.Conv2d(module.in_channels, module.out_channels, 1, stride=module.stride, bias=False),
                nn.BatchNorm2d(module.out_channels))
        elif isinstance(module, nn.Linear):
            candidate = nn.Linear(module.in_features, module.out_features, bias=False)
        if candidate is None:
            return None
        candidate.eval()
        with torch.no_grad():
            shape = tuple(candidate(torch.zeros(in_shape)).shape)
        return candidate if shape == out_shape else None


def _shape(node: fx.Node) -> tuple[int, ...]:
    meta = node.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape"):
        raise TreeMTLError(f"AutoMTL compiler: operator {node.name} does not produce a single tensor")
    return tuple(int(s) for s in meta.shape)


def _is_weighted(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) and not isinstance(module, _NORMS)


def compile_backbone(backbone: nn.Module, input_size: Sequence[int]) -> CompiledBackbone:
    """Trace ``backbone`` and find its weighted operators (with their depth and FLOPs) and norms."""
    from treemtl.nets.detect import trace
    from treemtl.nets.profiling import count_flops, flops_by_module

    backbone.eval()
    graph_module = trace(backbone)
    size = tuple(int(s) for s in input_size)
    example = torch.zeros(1, *size)
    with torch.no_grad():
        ShapeProp(graph_module).propagate(example)
    per_module = flops_by_module(graph_module, example)
    depth: dict[fx.Node, int] = {}
    operators: list[Operator] = []
    norms: list[str] = []
    module_flops: dict[str, int] = {}
    compiled = CompiledBackbone(graph_module, operators, norms, size, module_flops)  # type: ignore[arg-type]
    for node in graph_module.graph.nodes:
        upstream = max((depth[a] for a in node.all_input_nodes), default=0)
        depth[node] = upstream
        if node.op == "get_attr":
            raise TreeMTLError(f"AutoMTL compiler: {type(backbone).__name__} uses the tensor {node.target} outside a "
                               "module; wrap it in an nn.Module so it can be shared or copied per task")
        if node.op != "call_module":
            continue
        module = compiled.module(node)
        module_flops[node.name] = int(per_module.get(str(node.target), 0))
        if isinstance(module, _NORMS):
            norms.append(node.name)
        elif _is_weighted(module):
            if len(node.all_input_nodes) != 1:
                raise TreeMTLError(f"AutoMTL compiler: weighted operator {node.target} takes {len(node.all_input_nodes)} tensors, expected 1")
            depth[node] = upstream + 1
            skip = compiled.skip_module(node)
            skip_flops = 0
            if skip is not None and not isinstance(skip, nn.Identity):
                skip_flops = count_flops(skip, torch.zeros(_shape(node.args[0])))  # type: ignore[arg-type]
            operators.append(Operator(node=node.name, module=str(node.target), depth=depth[node],
                                      has_skip=skip is not None, flops=int(per_module.get(str(node.target), 0)),
                                      skip_flops=skip_flops))
    if not operators:
        raise TreeMTLError(f"AutoMTL compiler: {type(backbone).__name__} has no weighted operator to share")
    return compiled


def _run_node(node: fx.Node, env: Mapping[fx.Node, Any], modules: Any) -> Any:
    """Evaluate a parameter-free graph node on the values in ``env``."""
    args = fx.node.map_arg(node.args, lambda n: env[n])
    kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
    if node.op == "call_module":
        return modules[_safe(str(node.target))](*args, **kwargs)
    if node.op == "call_function":
        return node.target(*args, **kwargs)  # type: ignore[operator]
    if node.op == "call_method":
        return getattr(args[0], str(node.target))(*args[1:], **kwargs)
    raise TreeMTLError(f"AutoMTL: unsupported graph node {node.op} {node.target}")


def _predict(heads: nn.ModuleDict, tasks: Sequence[str], features: Sequence[Tensor], size: Any) -> dict[str, Tensor]:
    outputs: dict[str, Tensor] = {}
    for task, feature in zip(tasks, features):
        prediction = heads[task](feature)
        if prediction.dim() == 4 and prediction.shape[-2:] != size:
            prediction = F.interpolate(prediction, size=size, mode="bilinear", align_corners=False)
        outputs[task] = prediction
    return outputs


class AutoMTLSupermodel(nn.Module):
    """The multi-task supermodel of a compiled backbone (see the module doc)."""

    def __init__(self, compiled: CompiledBackbone, heads: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.compiled = compiled
        self.tasks: tuple[str, ...] = tuple(heads)
        T = len(self.tasks)
        index = compiled.index()
        self.shared = nn.ModuleDict()
        self.specific = nn.ModuleDict()
        self.skips = nn.ModuleDict()
        self.norms = nn.ModuleDict()
        self.plain = nn.ModuleDict()
        for node in compiled.graph_module.graph.nodes:
            if node.op != "call_module":
                continue
            key, module = _safe(str(node.target)), compiled.module(node)
            if node.name in index:
                self.shared[key] = copy.deepcopy(module)
                self.specific[key] = nn.ModuleList(copy.deepcopy(module) for _ in range(T))
                skips = [compiled.skip_module(node) for _ in range(T)]
                if skips[0] is not None:
                    self.skips[key] = nn.ModuleList(skips)  # type: ignore[arg-type]
            elif node.name in compiled.norms:
                self.norms[key] = nn.ModuleList(copy.deepcopy(module) for _ in range(T))
            else:
                self.plain[key] = copy.deepcopy(module)
        self.heads = nn.ModuleDict(dict(heads))
        # Policy logits log(pi) of every operator and task, uniform at the start (AutoMTL App. A).
        self.policy = nn.Parameter(torch.zeros(len(compiled.operators), T, len(OPTIONS)))
        allowed = torch.ones(len(compiled.operators), T, len(OPTIONS), dtype=torch.bool)
        for i, op in enumerate(compiled.operators):
            allowed[i, :, SKIP] = op.has_skip
        self.register_buffer("allowed", allowed, persistent=False)
        depths = torch.tensor([op.depth for op in compiled.operators], dtype=torch.float32)
        self.register_buffer("reg_weights", (compiled.max_depth - depths) / compiled.max_depth, persistent=False)
        self.mode: Mode = "warmup"
        self.tau = 5.0
        self.fixed: Tensor | None = None
        self.last_soft: Tensor | None = None

    # ------------------------------------------------------------------ parameters and policies
    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if name != "policy"]

    def masked_logits(self) -> Tensor:
        return self.policy.masked_fill(~self.allowed, float("-inf"))

    def distribution(self) -> Tensor:
        """pi: probabilities of the options of every operator and task (operators x tasks x 3)."""
        return torch.softmax(self.masked_logits(), dim=-1)

    def set_policy(self, policy: Tensor | Sequence[Sequence[int]]) -> None:
        """Run in ``fixed`` mode with the discrete ``policy`` (operators x tasks of option indices)."""
        chosen = torch.as_tensor(policy, dtype=torch.long)
        if tuple(chosen.shape) != tuple(self.policy.shape[:2]):
            raise TreeMTLError(f"policy of shape {tuple(chosen.shape)}, expected {tuple(self.policy.shape[:2])}")
        if not bool(self.allowed.cpu().gather(-1, chosen.unsqueeze(-1)).all()):
            raise TreeMTLError("policy selects a skip path an operator does not have")
        self.fixed = chosen
        self.mode = "fixed"

    def sample_policy(self, generator: torch.Generator | None = None) -> Tensor:
        """A discrete policy drawn from pi (AutoMTL samples the final architecture from it)."""
        pi = self.distribution().detach().cpu()
        flat = pi.reshape(-1, pi.shape[-1])
        return torch.multinomial(flat, 1, generator=generator).reshape(pi.shape[:2])

    def argmax_policy(self) -> Tensor:
        return self.distribution().detach().cpu().argmax(dim=-1)

    def _weights(self) -> Tensor:
        """Option weights for this forward pass (operators x tasks x 3)."""
        if self.mode == "warmup":
            allowed = self.allowed.to(self.policy.dtype)
            return allowed / allowed.sum(dim=-1, keepdim=True)
        soft = F.gumbel_softmax(self.masked_logits(), tau=self.tau, hard=False, dim=-1)
        self.last_soft = soft
        return soft

    def policy_regularization(self, soft: Tensor | None = None) -> Tensor:
        """Eq. 2: sum over tasks and operators of (L-l)/L [softplus(P'1-P'0) + softplus(P'2-P'0)]."""
        soft = soft if soft is not None else self.last_soft
        if soft is None:
            soft = F.gumbel_softmax(self.masked_logits(), tau=self.tau, hard=False, dim=-1)
        terms = F.softplus(soft[..., SPECIFIC] - soft[..., SHARED]) + F.softplus(soft[..., SKIP] - soft[..., SHARED])
        return (self.reg_weights.unsqueeze(1) * terms).sum()

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor) -> dict[str, Tensor]:
        T = len(self.tasks)
        index = self.compiled.index()
        weights = None if self.mode == "fixed" else self._weights()
        env: dict[fx.Node, Any] = {}
        body: Tensor | None = None
        for node in self.compiled.graph_module.graph.nodes:
            if node.op == "placeholder":
                env[node] = x.repeat(T, *([1] * (x.dim() - 1)))
            elif node.op == "output":
                body = env[node.args[0]]
            elif node.op == "call_module" and node.name in index:
                env[node] = self._vcn(node, index[node.name], env[node.args[0]], weights)
            elif node.op == "call_module" and node.name in self.compiled.norms:
                norms = self.norms[_safe(str(node.target))]
                env[node] = torch.cat([norm(part) for norm, part in zip(norms, env[node.args[0]].chunk(T))])
            else:
                env[node] = _run_node(node, env, self.plain)
        assert body is not None
        return _predict(self.heads, self.tasks, body.chunk(T), x.shape[-2:])

    def _vcn(self, node: fx.Node, i: int, stacked: Tensor, weights: Tensor | None) -> Tensor:
        key = _safe(str(node.target))
        parts = stacked.chunk(len(self.tasks))
        skips = self.skips[key] if key in self.skips else None
        outputs = []
        if weights is None:
            assert self.fixed is not None
            for t, part in enumerate(parts):
                choice = int(self.fixed[i, t])
                module = self.shared[key] if choice == SHARED else self.specific[key][t] if choice == SPECIFIC else skips[t]  # type: ignore[index]
                outputs.append(module(part))
            return torch.cat(outputs)
        shared = self.shared[key](stacked).chunk(len(self.tasks))
        for t, part in enumerate(parts):
            out = weights[i, t, SHARED] * shared[t] + weights[i, t, SPECIFIC] * self.specific[key][t](part)
            if skips is not None:
                out = out + weights[i, t, SKIP] * skips[t](part)
            outputs.append(out)
        return torch.cat(outputs)


# ---------------------------------------------------------------------------------------------
# the derived model


@dataclass(frozen=True)
class _Step:
    """Compute value ``out`` by running ``node`` (with ``module``, if any) on the values ``inputs``."""

    node: fx.Node
    module: str | None
    inputs: dict[fx.Node, int]
    out: int


class AutoMTLModel(nn.Module):
    """The multi-task model of a discrete AutoMTL policy (its own model type: not a tree).

    Each distinct computation (an operator option applied to a distinct input tensor) runs once and
    feeds every task that uses it. ``body`` holds the backbone operators in use, ``heads`` the task
    heads, so fvcore's per-module FLOPs separate the two like a tree model's blocks and heads.
    """

    def __init__(self, compiled: CompiledBackbone, policy: Tensor | Sequence[Sequence[int]],
                 heads: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.compiled = compiled
        self.tasks: tuple[str, ...] = tuple(heads)
        chosen = torch.as_tensor(policy, dtype=torch.long)
        if tuple(chosen.shape) != (len(compiled.operators), len(self.tasks)):
            raise TreeMTLError(f"policy of shape {tuple(chosen.shape)}, expected {(len(compiled.operators), len(self.tasks))}")
        self.policy_choices = chosen
        self.body = nn.ModuleDict()
        self.heads = nn.ModuleDict(dict(heads))
        self._steps: list[_Step] = []
        self._outputs: list[int] = []
        self._input = 0
        self._plan()

    def _plan(self) -> None:
        compiled, index = self.compiled, self.compiled.index()
        keys: dict[tuple[Any, ...], int] = {}
        value: dict[fx.Node, list[int]] = {}  # node -> value id per task

        def intern(key: tuple[Any, ...]) -> tuple[int, bool]:
            if key in keys:
                return keys[key], False
            keys[key] = len(keys) + 1
            return keys[key], True

        for node in compiled.graph_module.graph.nodes:
            if node.op == "placeholder":
                value[node] = [self._input] * len(self.tasks)
                continue
            if node.op == "output":
                self._outputs = value[node.args[0]]
                continue
            ids = []
            for t in range(len(self.tasks)):
                inputs = {n: value[n][t] for n in node.all_input_nodes}
                module: str | None = None
                owner: int | None = None
                if node.op == "call_module" and node.name in index:
                    choice = int(self.policy_choices[index[node.name], t])
                    if choice == SKIP and not compiled.operators[index[node.name]].has_skip:
                        raise TreeMTLError(f"policy selects the skip path of {node.target}, which has none")
                    if choice == SHARED:
                        module, fresh = f"{_safe(node.name)}__shared", compiled.module(node)
                    elif choice == SPECIFIC:
                        owner = t
                        module, fresh = f"{_safe(node.name)}__task{t}", compiled.module(node)
                    else:
                        owner = t
                        module, fresh = f"{_safe(node.name)}__skip{t}", None
                    key: tuple[Any, ...] = (node.name, choice, owner, tuple(sorted(inputs.values())))
                elif node.op == "call_module":
                    key = (node.name, tuple(sorted(inputs.values())))
                    fresh = compiled.module(node)
                else:
                    key = (node.name, tuple(inputs[n] for n in node.all_input_nodes))
                    fresh = None
                out, new = intern(key)
                if new:
                    if node.op == "call_module" and module is None:
                        module = f"{_safe(node.name)}__v{out}"
                    if module is not None and module not in self.body:
                        self.body[module] = (copy.deepcopy(fresh) if fresh is not None
                                             else compiled.skip_module(node))  # type: ignore[assignment]
                    self._steps.append(_Step(node=node, module=module, inputs=inputs, out=out))
                ids.append(out)
            value[node] = ids

    def options(self) -> dict[str, list[str]]:
        """Per task, the option each operator uses (the policy in words)."""
        return {task: [OPTIONS[int(c)] for c in self.policy_choices[:, t]] for t, task in enumerate(self.tasks)}

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        values: dict[int, Any] = {self._input: x}
        for step in self._steps:
            env = {n: values[v] for n, v in step.inputs.items()}
            args = fx.node.map_arg(step.node.args, lambda n: env[n])
            kwargs = fx.node.map_arg(step.node.kwargs, lambda n: env[n])
            if step.module is not None:
                values[step.out] = self.body[step.module](*args, **kwargs)
            elif step.node.op == "call_function":
                values[step.out] = step.node.target(*args, **kwargs)  # type: ignore[operator]
            else:
                values[step.out] = getattr(args[0], str(step.node.target))(*args[1:], **kwargs)
        return _predict(self.heads, self.tasks, [values[v] for v in self._outputs], x.shape[-2:])

    def policy_flops(self) -> int:
        """Backbone FLOPs predicted from the policy and the compiler's per-module counts: one count
        per distinct computation of a module (the down-sample's for a skip). It equals fvcore on
        ``body`` when fvcore counts none of the backbone's functional operators (additions,
        ``F.relu``: true of the built-in backbones), which the tests check."""
        index = self.compiled.index()
        total = 0
        for step in self._steps:
            if step.node.name in index and step.module is not None and "__skip" in step.module:
                total += self.compiled.operators[index[step.node.name]].skip_flops
            elif step.node.op == "call_module":
                total += self.compiled.module_flops[step.node.name]
        return total
