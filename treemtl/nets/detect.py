"""Branching point detector (paper section 3.3, appendix F): split a CNN into sequential blocks.

Stage 1 (divisor). The backbone is traced with ``torch.fx`` into a networkx DAG of operators from
the input tensor to the output tensor. The paper splits a (sub)graph recursively wherever its
minimum cut has size one. Counting a cut in *tensors* (an operator whose output fans out to many
consumers is one tensor), a cut of size one is an operator ``v`` through which every
input-to-output path runs: a dominator of the output. Splitting at every dominator therefore
gives exactly the leaves of the recursive min-cut division - the single-operator pieces and the
pieces whose minimum cut is larger than one (a residual block) - in one linear-time pass
(``networkx.immediate_dominators``) instead of one flow computation per recursion.

Stage 2 (merger). Candidate blocks are labelled P (trainable parameters other than
normalization) or U (parameter-free or normalization only). Walking from the bottom up, a U
block is merged into the block before it, so BN/ReLU/pooling join the convolution they follow
(ConvBNReLU); U blocks before the first P block join that P block.

Fine blocks are returned as ``fx.GraphModule`` objects sharing the backbone's submodules, so
running them one after another computes exactly the backbone. Coarse blocks (the branching
points the recommender searches over) group consecutive fine blocks by the backbone's named
stages or by balancing FLOPs, and users can add or remove branching points.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
import warnings
from typing import Any, Protocol

import networkx as nx
import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from treemtl.nets.backbones import STAGES_ATTR, UNIT_DEPTH_ATTR, build_backbone
from treemtl.errors import TreeMTLError
from treemtl.nets.profiling import count_flops, count_params

_NORM_MODULES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.LocalResponseNorm,
)
_NORM_FUNCTIONS = frozenset(
    {F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm, torch.batch_norm, torch.layer_norm, torch.group_norm}
)


class _BackboneConfigLike(Protocol):
    name: str
    input_size: Sequence[int]
    blocks: int
    add_branch_points: Sequence[int]
    remove_branch_points: Sequence[int]
    weights: str | None


@dataclass(frozen=True)
class FineBlockInfo:
    """One detected fine block: its operators (fx node names), P/U label, cost and output shape."""

    index: int
    operators: tuple[str, ...]
    label: str
    modules: tuple[str, ...]
    flops: int = 0
    params: int = 0
    output_shape: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "operators": list(self.operators),
            "label": self.label,
            "flops": self.flops,
            "params": self.params,
            "output_shape": list(self.output_shape),
        }


@dataclass
class BackboneSplit:
    """A backbone split into coarse blocks (``nn.Sequential`` of fine blocks) with their costs."""

    name: str
    input_size: tuple[int, int, int]
    blocks: list[nn.Module]
    groups: list[list[int]]
    flops: list[int]
    params: list[int]
    output_shapes: list[tuple[int, ...]]
    fine_blocks: list[FineBlockInfo] = field(default_factory=list)

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def out_channels(self) -> int:
        """Channels of the last block's output: the heads' input."""
        return int(self.output_shapes[-1][0])

    def to_json(self, head_flops: dict[str, int] | None = None, head_params: dict[str, int] | None = None) -> dict[str, Any]:
        """The ``blocks.json`` document."""
        return {
            "backbone": self.name,
            "input_size": list(self.input_size),
            "fine_blocks": [info.to_json() for info in self.fine_blocks],
            "coarse_blocks": [
                {"index": i, "fine_blocks": list(group), "flops": f, "params": p, "output_shape": list(shape)}
                for i, (group, f, p, shape) in enumerate(zip(self.groups, self.flops, self.params, self.output_shapes))
            ],
            "head_flops": dict(head_flops or {}),
            "head_params": dict(head_params or {}),
        }


# ----------------------------------------------------------------------------- tracing


def trace(model: nn.Module) -> fx.GraphModule:
    """Symbolically trace ``model``; TreeMTLError (naming the model) when fx cannot."""
    name = type(model).__name__
    try:
        graph_module = fx.symbolic_trace(model)
    except Exception as error:  # fx raises TraceError, TypeError, RuntimeError, ... for dynamic code
        reason = " ".join(str(error).split()) or type(error).__name__
        raise TreeMTLError(
            f"cannot trace backbone {name} with torch.fx (data-dependent control flow or untraceable code?): {reason}"
        ) from None
    graph_module.graph.eliminate_dead_code()
    graph_module.recompile()
    placeholders = [n for n in graph_module.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise TreeMTLError(f"backbone {name}: forward must take exactly one input tensor, it takes {len(placeholders)}")
    return graph_module


def _result_node(graph_module: fx.GraphModule, name: str) -> fx.Node:
    output = next(n for n in graph_module.graph.nodes if n.op == "output")
    result = output.args[0]
    if not isinstance(result, fx.Node):
        raise TreeMTLError(f"backbone {name}: forward must return one tensor, it returns {type(result).__name__}")
    return result


def operator_graph(graph_module: fx.GraphModule) -> tuple[nx.DiGraph, str, str]:
    """The DAG of operators that depend on the input, and its source (input) and sink (output) names.

    Operators that do not depend on the input (parameter fetches, constants) are left out: they
    are not tensors flowing between blocks and are copied into every block that uses them.
    """
    name = type(graph_module).__name__
    nodes = list(graph_module.graph.nodes)
    source = next(n for n in nodes if n.op == "placeholder")
    sink = _result_node(graph_module, name)
    dynamic: set[fx.Node] = {source}
    graph = nx.DiGraph()
    graph.add_node(source.name, position=0)
    for position, node in enumerate(nodes):
        if node.op in ("placeholder", "output"):
            continue
        inputs = [i for i in node.all_input_nodes if i in dynamic]
        if not inputs:
            continue
        dynamic.add(node)
        graph.add_node(node.name, position=position)
        graph.add_edges_from((i.name, node.name) for i in inputs)
    if sink not in dynamic:
        raise TreeMTLError(f"backbone {name}: its output does not depend on its input")
    return graph, source.name, sink.name


def cut_points(graph: nx.DiGraph, source: str, sink: str) -> list[str]:
    """Operators whose output is the only tensor crossing from the input side to the output side.

    These are the dominators of ``sink`` from ``source`` (every path passes through them), in
    order from source to sink; operators off every source-sink path are ignored.
    """
    on_path = (nx.ancestors(graph, sink) | {sink}) & (nx.descendants(graph, source) | {source})
    dominators = nx.immediate_dominators(graph.subgraph(on_path), source)
    chain = [sink]
    while chain[-1] != source:
        chain.append(dominators[chain[-1]])
    return chain[::-1]


# ----------------------------------------------------------------------------- labels and merging


def _is_norm_module(module: nn.Module) -> bool:
    return isinstance(module, _NORM_MODULES) or "norm" in type(module).__name__.lower()


def node_is_parametric(node: fx.Node, root: nn.Module) -> bool:
    """Whether an operator carries trainable parameters that are not normalization's."""
    if node.op == "call_module":
        module = root.get_submodule(str(node.target))
        has_params = any(p.requires_grad for p in module.parameters())
        return has_params and not _is_norm_module(module)
    if node.op in ("call_function", "call_method"):
        if node.target in _NORM_FUNCTIONS:
            return False
        for arg in node.all_input_nodes:
            if arg.op == "get_attr":
                value = _fetch_attr(root, str(arg.target))
                if isinstance(value, nn.Parameter) and value.requires_grad:
                    return True
    return False


def _fetch_attr(root: nn.Module, target: str) -> Any:
    value: Any = root
    for part in target.split("."):
        value = getattr(value, part)
    return value


def merge_candidates(labels: Sequence[str]) -> list[list[int]]:
    """Appendix F's merger on candidate labels ("P"/"U"): indices of the candidates in each block.

    From the bottom up, each U candidate joins the block before it (a ConvBNReLU forms from
    conv (P), BN (U), ReLU (U)); leading U candidates, having no block before them, join the
    first P block. Without any P candidate everything is one block.
    """
    for label in labels:
        if label not in ("P", "U"):
            raise ValueError(f"candidate label must be 'P' or 'U', got {label!r}")
    if not labels:
        return []
    groups: list[list[int]] = []
    pending: list[int] = []  # U candidates before the first P
    for index, label in enumerate(labels):
        if label == "P":
            groups.append([*pending, index])
            pending = []
        elif groups:
            groups[-1].append(index)
        else:
            pending.append(index)
    if pending:
        groups.append(pending)
    return groups


# ----------------------------------------------------------------------------- fine blocks


def _module_path(node: fx.Node) -> str:
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        return str(list(stack.values())[-1][0])
    if node.op == "get_attr":
        return str(node.target).rsplit(".", 1)[0] if "." in str(node.target) else ""
    return ""


def _extract(root: fx.GraphModule, entry: fx.Node, body: Sequence[fx.Node], index: int) -> fx.GraphModule:
    """A GraphModule computing ``body`` from the tensor ``entry`` (plus the constants it needs)."""
    constants: list[fx.Node] = []
    seen: set[fx.Node] = set(body) | {entry}
    stack = [arg for node in body for arg in node.all_input_nodes if arg not in seen]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        constants.append(node)
        stack.extend(arg for arg in node.all_input_nodes if arg not in seen)
    order = {node: i for i, node in enumerate(root.graph.nodes)}
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {entry: graph.placeholder("x")}
    for node in sorted(constants, key=order.__getitem__) + list(body):
        env[node] = graph.node_copy(node, lambda arg: env[arg])
    graph.output(env[body[-1]])
    return fx.GraphModule(root, graph, class_name=f"FineBlock{index}")


@dataclass
class _Detection:
    modules: list[fx.GraphModule]
    infos: list[FineBlockInfo]


def _detect(model: nn.Module, example_input: Tensor) -> _Detection:
    name = type(model).__name__
    graph_module = trace(model)
    graph, source, sink = operator_graph(graph_module)
    nodes_by_name = {node.name: node for node in graph_module.graph.nodes}
    points = cut_points(graph, source, sink)
    shapes = _tensor_outputs(graph_module, example_input, name)
    points = [p for p in points if p in (source, sink) or shapes.get(p) is not None]
    positions = [graph.nodes[p]["position"] for p in points]
    ordered = sorted(graph.nodes, key=lambda n: graph.nodes[n]["position"])
    candidates: list[list[fx.Node]] = []
    for start, stop in zip(positions, positions[1:]):
        members = [nodes_by_name[n] for n in ordered if start < graph.nodes[n]["position"] <= stop]
        candidates.append(members)
    labels = ["P" if any(node_is_parametric(n, graph_module) for n in members) else "U" for members in candidates]
    merged = merge_candidates(labels)
    if len(merged) < 2:
        reason = (
            "no operator carries every input-to-output path alone (no minimum cut of size 1)"
            if len(candidates) < 2
            else "all cut points separate parameter-free operators only"
        )
        raise TreeMTLError(f"backbone {name} cannot be split into sequential blocks: {reason}")
    modules: list[fx.GraphModule] = []
    infos: list[FineBlockInfo] = []
    for index, group in enumerate(merged):
        body = [node for c in group for node in candidates[c]]
        entry = nodes_by_name[points[group[0]]]
        modules.append(_extract(graph_module, entry, body, index))
        label = "P" if any(labels[c] == "P" for c in group) else "U"
        paths = dict.fromkeys(p for p in (_module_path(n) for n in body) if p)
        infos.append(
            FineBlockInfo(
                index=index,
                operators=tuple(n.name for n in body),
                label=label,
                modules=tuple(paths),
                output_shape=tuple(shapes[body[-1].name] or ()),
            )
        )
    return _Detection(modules, infos)


def _tensor_outputs(graph_module: fx.GraphModule, example_input: Tensor, name: str) -> dict[str, tuple[int, ...] | None]:
    """Per operator, the shape (without batch) of its output if it is a tensor, else None.

    Shapes are propagated with fake tensors (no arithmetic, so detection stays fast at 321x321);
    operators fake tensors do not support fall back to one real forward pass.
    """
    was_training = graph_module.training
    graph_module.eval()
    try:
        try:
            mode = FakeTensorMode(allow_non_fake_inputs=True)
            # ShapeProp prints the traceback of a failing operator before re-raising; the real
            # forward pass below reports the failure as one error instead.
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                ShapeProp(graph_module, fake_mode=mode).propagate(mode.from_tensor(example_input))
            return {
                node.name: tuple(meta.shape[1:]) if isinstance(meta := node.meta.get("tensor_meta"), TensorMetadata) else None
                for node in graph_module.graph.nodes
            }
        except Exception:
            return _real_tensor_outputs(graph_module, example_input, name)
    finally:
        graph_module.train(was_training)


def _real_tensor_outputs(graph_module: fx.GraphModule, example_input: Tensor, name: str) -> dict[str, tuple[int, ...] | None]:
    shapes: dict[str, tuple[int, ...] | None] = {}

    class _Recorder(fx.Interpreter):
        def run_node(self, node: fx.Node) -> Any:
            value = super().run_node(node)
            shapes[node.name] = tuple(value.shape[1:]) if isinstance(value, Tensor) else None
            return value

    recorder = _Recorder(graph_module)
    recorder.extra_traceback = False  # keep the message to the operator's own error
    try:
        with torch.no_grad():
            recorder.run(example_input)
    except Exception as error:
        raise TreeMTLError(
            f"backbone {name}: forward fails on an input of shape {tuple(example_input.shape)}: "
            f"{' '.join(str(error).split())}"
        ) from None
    return shapes


def detect_blocks(model: nn.Module, example_input: Tensor) -> list[nn.Module]:
    """Fine blocks of ``model`` in order; running them one after another equals ``model``."""
    return list(_detect(model, example_input).modules)


def detect_fine_blocks(model: nn.Module, example_input: Tensor) -> tuple[list[nn.Module], list[FineBlockInfo]]:
    """Fine blocks with their description (operators, label, FLOPs, params, output shape)."""
    detection = _detect(model, example_input)
    infos: list[FineBlockInfo] = []
    x = example_input
    for module, info in zip(detection.modules, detection.infos):
        flops = count_flops(module, x)
        module.eval()
        with torch.no_grad():
            x = module(x)
        infos.append(
            FineBlockInfo(
                index=info.index,
                operators=info.operators,
                label=info.label,
                modules=info.modules,
                flops=flops,
                params=count_params(module),
                output_shape=tuple(x.shape[1:]),
            )
        )
    return list(detection.modules), infos


# ----------------------------------------------------------------------------- coarse grouping


def _matches(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


def _stage_of(info: FineBlockInfo, stages: Sequence[Sequence[str]]) -> int | None:
    for path in info.modules:
        for stage, prefixes in enumerate(stages):
            if any(_matches(path, prefix) for prefix in prefixes):
                return stage
    return None


def group_by_stages(infos: Sequence[FineBlockInfo], stages: Sequence[Sequence[str]]) -> list[list[int]] | None:
    """Coarse blocks = the backbone's named stages; None when the fine blocks do not follow them."""
    assigned: list[int] = []
    for info in infos:
        stage = _stage_of(info, stages)
        assigned.append(stage if stage is not None else (assigned[-1] if assigned else 0))
    if assigned != sorted(assigned) or sorted(set(assigned)) != list(range(len(stages))):
        return None
    return [[i for i, s in enumerate(assigned) if s == stage] for stage in range(len(stages))]


def _units(infos: Sequence[FineBlockInfo], depth: int | None) -> list[list[int]]:
    """Runs of consecutive fine blocks that FLOPs balancing must keep together."""
    if depth is None:
        return [[info.index] for info in infos]
    units: list[list[int]] = []
    previous: str | None = None
    for info in infos:
        key = ".".join(info.modules[0].split(".")[:depth]) if info.modules else ""
        if units and key == previous:
            units[-1].append(info.index)
        else:
            units.append([info.index])
        previous = key
    return units


def balance_flops(costs: Sequence[int], num_groups: int) -> list[list[int]]:
    """Split items into ``num_groups`` contiguous non-empty groups of FLOPs as equal as possible.

    Dynamic programming minimizing the sum of squared deviations from the mean group cost.
    """
    n = len(costs)
    if not 1 <= num_groups <= n:
        raise ValueError(f"cannot split {n} items into {num_groups} groups")
    prefix = [0]
    for cost in costs:
        prefix.append(prefix[-1] + cost)
    target = prefix[-1] / num_groups
    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(num_groups + 1)]
    back = [[0] * (n + 1) for _ in range(num_groups + 1)]
    best[0][0] = 0.0
    for g in range(1, num_groups + 1):
        for end in range(g, n - (num_groups - g) + 1):
            for start in range(g - 1, end):
                if best[g - 1][start] == inf:
                    continue
                value = best[g - 1][start] + (prefix[end] - prefix[start] - target) ** 2
                if value < best[g][end]:
                    best[g][end], back[g][end] = value, start
    bounds = [n]
    for g in range(num_groups, 0, -1):
        bounds.append(back[g][bounds[-1]])
    bounds.reverse()
    return [list(range(a, b)) for a, b in zip(bounds, bounds[1:])]


def group_blocks(
    infos: Sequence[FineBlockInfo],
    num_blocks: int,
    stages: Sequence[Sequence[str]] | None = None,
    unit_depth: int | None = None,
    add_branch_points: Iterable[int] = (),
    remove_branch_points: Iterable[int] = (),
    name: str = "backbone",
) -> list[list[int]]:
    """Group fine blocks into coarse blocks (lists of fine indices).

    Named stages are used when the backbone declares ``num_blocks`` of them; otherwise FLOPs are
    balanced over whole units. Then the automatic boundaries numbered in ``remove_branch_points``
    (1..num_blocks-1; boundary k starts coarse block k) are removed and a boundary is forced after
    every fine block in ``add_branch_points``, so the result may have a different count.
    """
    n = len(infos)
    if num_blocks < 1:
        raise TreeMTLError(f"backbone.blocks: expected at least 1, got {num_blocks}")
    groups = group_by_stages(infos, stages) if stages is not None and len(stages) == num_blocks else None
    if groups is None:
        units = _units(infos, unit_depth)
        if len(units) < num_blocks:
            units = [[info.index] for info in infos]
        if len(units) < num_blocks:
            raise TreeMTLError(
                f"backbone.blocks: {name} has only {n} fine blocks, cannot make {num_blocks} coarse blocks"
            )
        unit_groups = balance_flops([sum(infos[i].flops for i in unit) for unit in units], num_blocks)
        groups = [[i for u in unit_group for i in units[u]] for unit_group in unit_groups]
    starts = [group[0] for group in groups]  # starts[k] = first fine block of coarse block k
    boundaries = set(starts[1:])
    for k in remove_branch_points:
        if not 1 <= k < len(starts):
            raise TreeMTLError(f"backbone.remove_branch_points: {k} is not a boundary 1..{len(starts) - 1}")
        boundaries.discard(starts[k])
    for i in add_branch_points:
        if not 0 <= i < n - 1:
            raise TreeMTLError(f"backbone.add_branch_points: {i} is not a fine block index 0..{n - 2}")
        boundaries.add(i + 1)
    edges = [0, *sorted(boundaries), n]
    return [list(range(a, b)) for a, b in zip(edges, edges[1:])]


# ----------------------------------------------------------------------------- the whole pipeline


def split_model(
    model: nn.Module,
    input_size: Sequence[int],
    num_blocks: int,
    add_branch_points: Iterable[int] = (),
    remove_branch_points: Iterable[int] = (),
    name: str | None = None,
) -> BackboneSplit:
    """Detect fine blocks of ``model`` and group them into coarse blocks with their costs."""
    size = tuple(int(s) for s in input_size)
    if len(size) != 3 or min(size) < 1:
        raise TreeMTLError(f"backbone.input_size: expected [C, H, W] of positive integers, got {list(input_size)}")
    label = name or type(model).__name__
    model.eval()
    example = torch.zeros(1, *size)
    modules, infos = detect_fine_blocks(model, example)
    groups = group_blocks(
        infos,
        num_blocks,
        stages=getattr(model, STAGES_ATTR, None),
        unit_depth=getattr(model, UNIT_DEPTH_ATTR, None),
        add_branch_points=add_branch_points,
        remove_branch_points=remove_branch_points,
        name=label,
    )
    blocks: list[nn.Module] = [nn.Sequential(*(modules[i] for i in group)) for group in groups]
    return BackboneSplit(
        name=label,
        input_size=size,  # type: ignore[arg-type]
        blocks=blocks,
        groups=groups,
        flops=[sum(infos[i].flops for i in group) for group in groups],
        params=[count_params(block) for block in blocks],
        output_shapes=[infos[group[-1]].output_shape for group in groups],
        fine_blocks=infos,
    )


def split_backbone(backbone_config: _BackboneConfigLike) -> BackboneSplit:
    """Build the configured backbone and split it into its coarse blocks (deterministic)."""
    model = build_backbone(backbone_config.name, backbone_config.weights)
    return split_model(
        model,
        backbone_config.input_size,
        backbone_config.blocks,
        add_branch_points=backbone_config.add_branch_points,
        remove_branch_points=backbone_config.remove_branch_points,
        name=backbone_config.name,
    )


def check_composition(model: nn.Module, blocks: Sequence[nn.Module], x: Tensor, atol: float = 1e-5) -> bool:
    """Whether running ``blocks`` in sequence on ``x`` gives ``model(x)`` (both in eval mode)."""
    model.eval()
    for block in blocks:
        block.eval()
    with torch.no_grad():
        expected = model(x)
        y = x
        for block in blocks:
            y = block(y)
    return bool(torch.allclose(expected, y, atol=atol, rtol=1e-4))


__all__ = [
    "BackboneSplit",
    "FineBlockInfo",
    "balance_flops",
    "check_composition",
    "cut_points",
    "detect_blocks",
    "detect_fine_blocks",
    "group_blocks",
    "group_by_stages",
    "merge_candidates",
    "node_is_parametric",
    "operator_graph",
    "split_backbone",
    "split_model",
    "trace",
]
