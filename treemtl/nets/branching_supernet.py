"""Learning-to-Branch tree supernet (Guo et al. 2020, seed 004, sections 3.2-3.4).

Every coarse block ``b`` of the backbone holds ``K_b`` nodes (copies of the block). Node ``i`` of
block 0 reads the image; child node ``j`` of block ``b >= 1`` reads the output of one parent node
of block ``b-1``, chosen by a categorical distribution over the parents. The task heads are the
last level of children: task ``t``'s head reads one node of the last block, chosen the same way,
so the network branches "at the end of every block" (paper 4.3) and every tree of the design
space, the all-shared one included, can be reached.

* Parent distribution: ``logits[b]`` is the paper's matrix ``M`` (parents x children) of block
  ``b``, held as log-probabilities up to a constant (``log theta``; a softmax over the parents
  gives ``theta``). Initialised to zero: every parent equally likely (paper Fig. 2a).
* Forward in search mode: each child draws ``d_j = one_hot(argmax_i(log theta_ij + eps_i))`` with
  Gumbel noise ``eps`` (Eq. 4) and the backward pass uses the relaxed sample of Eq. 5 with
  temperature ``tau`` (straight-through Gumbel-softmax). The input of child ``j`` is
  ``d_j . [y_1..y_I]`` (Eq. 2), so every parent of a block is evaluated: the gradient of a
  parent's probability needs its output. The cost is linear in the nodes, not exponential.
* Selection (Eq. 7, section 3.4): each child keeps its most likely parent; :meth:`derived_layout`
  follows every task's path and groups the tasks by the node they pass at each block, which is a
  :class:`~treemtl.core.layout.Layout`. In ``argmax`` mode the forward pass uses exactly those
  parents, so it computes the :class:`~treemtl.nets.model.TreeMTLModel` of that layout
  (:meth:`tree_state_dict` maps the weights).
* Resource term (in the spirit of BMTAS, Bruggemann et al. 2020): :meth:`expected_models` is the
  expected FLOPs of the sampled tree in backbones' worth, from the probability that each node is
  used by some task (independent choices: ``u_i = 1 - prod_j (1 - theta_ij u_j)``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from treemtl.core.layout import Layout
from treemtl.errors import TreeMTLError
from treemtl.nets.model import group_key

Mode = Literal["sample", "argmax"]


def node_counts(num_tasks: int, num_blocks: int, children: Sequence[int] | None) -> tuple[int, ...]:
    """Nodes per block: ``children`` (one entry per block) or T everywhere.

    The paper uses as many child nodes per block as tasks on Taskonomy (5 for 5 tasks), enough for
    every tree; fewer nodes restrict the trees the search can reach.
    """
    if not children:
        return (num_tasks,) * num_blocks
    counts = tuple(int(c) for c in children)
    if len(counts) != num_blocks:
        raise TreeMTLError(
            f"baselines.learn_to_branch.children: expected {num_blocks} entries (one per block), got {list(counts)}"
        )
    if any(c < 1 for c in counts):
        raise TreeMTLError(f"baselines.learn_to_branch.children: expected positive counts, got {list(counts)}")
    return counts


class BranchingSupernet(nn.Module):
    """Tree supernet over backbone blocks with trainable parent distributions (see module doc)."""

    def __init__(self, blocks: Sequence[nn.Module], heads: Mapping[str, nn.Module],
                 children: Sequence[int] | None = None) -> None:
        super().__init__()
        self.tasks: tuple[str, ...] = tuple(heads)
        self.counts = node_counts(len(self.tasks), len(blocks), children)
        self.nodes = nn.ModuleList(
            nn.ModuleList(copy.deepcopy(block) for _ in range(count)) for block, count in zip(blocks, self.counts)
        )
        # logits[b - 1] is block b's matrix M (parents of block b-1 x children of block b); the
        # last one is the heads' (nodes of the last block x tasks).
        sizes = [*self.counts, len(self.tasks)]
        self.logits = nn.ParameterList(
            nn.Parameter(torch.zeros(sizes[b - 1], sizes[b])) for b in range(1, len(sizes))
        )
        self.heads = nn.ModuleDict(dict(heads))
        self.tau = 1.0
        self.mode: Mode = "sample"

    # ------------------------------------------------------------------ parameters
    def architecture_parameters(self) -> list[nn.Parameter]:
        return list(self.logits)

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.logits}
        return [p for p in self.parameters() if id(p) not in arch]

    def probabilities(self) -> list[Tensor]:
        """theta of every block >= 1: softmax of the logits over the parents (columns sum to 1)."""
        return [torch.softmax(logits, dim=0) for logits in self.logits]

    def parents(self) -> list[list[int]]:
        """Most likely parent of every child of blocks 1..B-1 and of every task's head (Eq. 7)."""
        return [logits.argmax(dim=0).tolist() for logits in self.logits]

    def set_parents(self, parents: Sequence[Sequence[int]], confidence: float = 10.0) -> None:
        """Force converged (one-hot) parent matrices: ``parents[b-1][j]`` is the parent of child j of
        block b, ``parents[-1][t]`` the node of the last block that task t's head reads."""
        if len(parents) != len(self.logits):
            raise TreeMTLError(f"expected parents for {len(self.logits)} blocks, got {len(parents)}")
        with torch.no_grad():
            for logits, chosen in zip(self.logits, parents):
                if len(chosen) != logits.shape[1] or not all(0 <= p < logits.shape[0] for p in chosen):
                    raise TreeMTLError(f"parents {list(chosen)}: expected {logits.shape[1]} indices in 0..{logits.shape[0] - 1}")
                logits.zero_()
                logits[list(chosen), list(range(len(chosen)))] = confidence

    # ------------------------------------------------------------------ forward
    def _route(self, logits: Tensor, outputs: Sequence[Tensor]) -> Tensor:
        """Input of every child: ``d_j . [y_1..y_I]`` (Eq. 2), children stacked first."""
        return torch.einsum("ij,i...->j...", self._selection(logits), torch.stack(list(outputs)))

    def _selection(self, logits: Tensor) -> Tensor:
        """One-hot parent choice per child (parents x children); straight-through in sample mode."""
        if self.mode == "argmax":
            return F.one_hot(logits.argmax(dim=0), logits.shape[0]).T.to(logits.dtype)
        return F.gumbel_softmax(logits.T, tau=self.tau, hard=True, dim=-1).T

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        size = x.shape[-2:]
        outputs = [node(x) for node in self.nodes[0]]
        for b in range(1, len(self.nodes)):
            inputs = self._route(self.logits[b - 1], outputs)
            outputs = [node(inputs[j]) for j, node in enumerate(self.nodes[b])]
        features = self._route(self.logits[-1], outputs)
        predictions: dict[str, Tensor] = {}
        for t, task in enumerate(self.tasks):
            prediction = self.heads[task](features[t])
            if prediction.dim() == 4 and prediction.shape[-2:] != size:
                prediction = F.interpolate(prediction, size=size, mode="bilinear", align_corners=False)
            predictions[task] = prediction
        return predictions

    # ------------------------------------------------------------------ resource term
    def expected_models(self, block_fractions: Sequence[float]) -> Tensor:
        """Expected backbone FLOPs of the sampled tree, in backbones' worth (differentiable).

        ``block_fractions[b]`` is block b's share of one backbone's FLOPs. Every task's head is used;
        a parent is used unless every used child picks another parent.
        """
        if len(block_fractions) != len(self.counts):
            raise TreeMTLError(f"expected {len(self.counts)} block FLOPs fractions, got {len(block_fractions)}")
        used = torch.ones(len(self.tasks), device=self.logits[0].device)
        total = used.new_zeros(())
        for b in range(len(self.counts) - 1, -1, -1):
            theta = torch.softmax(self.logits[b], dim=0)
            used = 1.0 - torch.prod(1.0 - theta * used.unsqueeze(0), dim=1)
            total = total + block_fractions[b] * used.sum()
        return total

    # ------------------------------------------------------------------ the derived tree
    def task_paths(self) -> list[list[int]]:
        """Node index of every task at every block under the most likely parents."""
        parents = self.parents()
        paths = []
        for t in range(len(self.tasks)):
            path = [parents[-1][t]]
            for b in range(len(self.counts) - 1, 0, -1):
                path.append(parents[b - 1][path[-1]])
            paths.append(path[::-1])
        return paths

    def derived_layout(self) -> Layout:
        """The tree of the most likely parents: at block b, tasks passing the same node share it."""
        paths = self.task_paths()
        blocks = []
        for b in range(len(self.counts)):
            groups: dict[int, list[int]] = {}
            for t, path in enumerate(paths):
                groups.setdefault(path[b], []).append(t)
            blocks.append(tuple(tuple(g) for g in groups.values()))
        return Layout(tuple(blocks))

    def tree_state_dict(self) -> dict[str, Tensor]:
        """Weights of the derived layout's ``TreeMTLModel``: each group copy takes its node's weights."""
        paths = self.task_paths()
        layout = self.derived_layout()
        state: dict[str, Tensor] = {}
        for b, partition in enumerate(layout.blocks):
            for group in partition:
                node = self.nodes[b][paths[group[0]][b]]
                for name, value in node.state_dict().items():
                    state[f"blocks.{b}.{group_key(group)}.{name}"] = value
        for name, value in self.heads.state_dict().items():
            state[f"heads.{name}"] = value
        return state
