"""Tree-structured multi-task layouts: representation, text form, cut operator, complete enumeration.

A *layout* for ``T`` tasks and a backbone split into ``B`` blocks is a list ``[L1, ..., LB]`` where
``Lb`` is a partition of the task set ``{0, ..., T-1}`` and ``L(b+1)`` refines ``Lb`` (paper 3.2,
App. B).  Block ``b`` of the network is instantiated once per group of ``Lb``; the tasks of a group
share that copy.  Canonical form: tasks sorted inside a group, groups sorted by their smallest task,
so two layouts describing the same tree compare (and hash) equal.

Text form (what ``Layout.format`` writes and ``Layout.parse`` reads)::

    012|012|01,2|01,2|0,1,2

Blocks are separated by ``|``, the groups of a block by ``,`` and the tasks of a group are written
as digits.  Every block lists every task.  The example has 3 tasks and 5 blocks: all tasks share
blocks 0-1, task 2 leaves after block 1, tasks 0 and 1 share blocks 2-3.  With more than 10 tasks
the indices inside a group are separated by ``.`` (``0.1.11,2``); a group of one task is just its
index.  Whitespace is ignored.  ``0|0|0|0|0`` is a single-task model.

Layout ids are the paper's ids: the index of a layout in the authors' depth-first cut enumeration
(App. C-D), reproduced exactly by :func:`enumerate_layouts` (see that function for the order).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import comb

import numpy as np

from treemtl.errors import TreeMTLError

Group = tuple[int, ...]
Partition = tuple[Group, ...]
Blocks = tuple[Partition, ...]
#: A layout as ``B`` canonical partitions, each a tuple of group bitmasks sorted by lowest task.
Chain = tuple[tuple[int, ...], ...]


def _canonical_partition(groups: Iterable[Iterable[int]]) -> Partition:
    """Sort tasks inside each group and groups by their smallest task."""
    canon = [tuple(sorted(group)) for group in groups]
    canon.sort(key=lambda group: group[0] if group else -1)
    return tuple(canon)


def _validate_blocks(blocks: Sequence[Sequence[Sequence[int]]], source: str) -> Blocks:
    """Check that ``blocks`` is a refining chain of partitions of 0..T-1 and return it canonical."""
    if len(blocks) == 0:
        raise TreeMTLError(f"{source}: a layout needs at least one block")
    canon: list[Partition] = []
    tasks: frozenset[int] | None = None
    previous_owner: dict[int, int] | None = None
    for index, block in enumerate(blocks):
        partition = _canonical_partition(block)
        members = [task for group in partition for task in group]
        if any(len(group) == 0 for group in partition):
            raise TreeMTLError(f"{source}: block {index} has an empty group")
        if len(set(members)) != len(members):
            raise TreeMTLError(f"{source}: block {index} lists a task twice")
        if tasks is None:
            tasks = frozenset(members)
            if tasks != frozenset(range(len(tasks))):
                raise TreeMTLError(
                    f"{source}: tasks must be numbered 0..{len(tasks) - 1}, got {sorted(tasks)}"
                )
        elif frozenset(members) != tasks:
            raise TreeMTLError(
                f"{source}: block {index} lists tasks {sorted(members)}, expected {sorted(tasks)}"
            )
        owner = {task: g for g, group in enumerate(partition) for task in group}
        if previous_owner is not None:
            for group in partition:
                parents = {previous_owner[task] for task in group}
                if len(parents) != 1:
                    raise TreeMTLError(
                        f"{source}: block {index} group {list(group)} joins tasks that block "
                        f"{index - 1} separates (each block must refine the previous one)"
                    )
        previous_owner = owner
        canon.append(partition)
    return tuple(canon)


@dataclass(frozen=True)
class Layout:
    """An immutable, hashable tree: ``blocks[b]`` is the canonical partition of tasks at block ``b``."""

    blocks: Blocks

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", _validate_blocks(self.blocks, "layout"))

    @classmethod
    def _trusted(cls, blocks: Blocks) -> Layout:
        """Build from an already canonical, valid chain (the enumeration), skipping validation."""
        layout = object.__new__(cls)
        object.__setattr__(layout, "blocks", blocks)
        return layout

    @property
    def num_tasks(self) -> int:
        return sum(len(group) for group in self.blocks[0])

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    # ----------------------------------------------------------------- text form
    @classmethod
    def parse(cls, text: str) -> Layout:
        """Read the text form (module docstring); raise :class:`TreeMTLError` on malformed text."""
        if not isinstance(text, str):
            raise TreeMTLError(f"layout text must be a string, got {type(text).__name__}")
        compact = "".join(text.split())
        source = f"layout {text!r}"
        if not compact:
            raise TreeMTLError(f"{source}: empty layout text")
        blocks_text = compact.split("|")

        def read(dotted: bool) -> Layout:
            blocks = [[_parse_group(g, dotted, source) for g in b.split(",")] for b in blocks_text]
            return cls(tuple(tuple(tuple(g) for g in block) for block in blocks))

        if "." in compact:
            return read(dotted=True)
        try:
            return read(dotted=False)
        except TreeMTLError:
            # No dot anywhere: a text of single-task groups with multi-digit indices (>10 tasks,
            # independent layout) is read as one integer per group.
            return read(dotted=True)

    def format(self) -> str:
        """Write the text form; ``Layout.parse(layout.format()) == layout``."""
        if self.num_tasks <= 10:
            join_group = lambda group: "".join(str(t) for t in group)  # noqa: E731
        else:
            join_group = lambda group: ".".join(str(t) for t in group)  # noqa: E731
        return "|".join(",".join(join_group(g) for g in block) for block in self.blocks)

    def __str__(self) -> str:
        return self.format()

    def to_list(self) -> list[list[list[int]]]:
        """Nested lists (blocks -> groups -> tasks), the JSON form used by the CLI."""
        return [[list(group) for group in block] for block in self.blocks]

    # ----------------------------------------------------------------- structure
    def branch_point(self, a: int, b: int) -> int:
        """First block where tasks ``a`` and ``b`` are in different groups, ``B`` if never.

        This is the branch point of the two-task model associated with the pair (paper 3.1):
        0 = independent models, B = everything shared.
        """
        for task in (a, b):
            if not 0 <= task < self.num_tasks:
                raise TreeMTLError(f"task index {task} out of range 0..{self.num_tasks - 1}")
        for index, block in enumerate(self.blocks):
            for group in block:
                if a in group:
                    if b not in group:
                        return index
                    break
        return self.num_blocks

    def copies(self) -> tuple[int, ...]:
        """Number of instances of each backbone block (groups per block)."""
        return tuple(len(block) for block in self.blocks)

    def available_blocks(self) -> tuple[int, ...]:
        """Blocks where a cut may start (App. C.1): equal to every later block, with a group of >= 2."""
        last = self.blocks[-1]
        if all(len(group) == 1 for group in last):
            return ()
        start = self.num_blocks - 1
        while start > 0 and self.blocks[start - 1] == last:
            start -= 1
        return tuple(range(start, self.num_blocks))

    def cut(self, block: int, group: Sequence[int], part: Sequence[int]) -> Layout:
        """Split ``group`` into ``part`` and the rest at ``block`` and every later block holding it.

        This is the paper's layout cut (App. C.2).  Raises :class:`TreeMTLError` when the group is
        not a group of that block, the part is not a non-empty proper subset, or the result would
        not be a tree (a later block already separates the group differently).
        """
        if not 0 <= block < self.num_blocks:
            raise TreeMTLError(f"cut: block {block} out of range 0..{self.num_blocks - 1}")
        whole = tuple(sorted(group))
        one = frozenset(part)
        if whole not in self.blocks[block]:
            raise TreeMTLError(f"cut: {list(whole)} is not a group of block {block} in {self}")
        if not one or not one < frozenset(whole):
            raise TreeMTLError(f"cut: part {sorted(one)} must be a non-empty proper subset of {list(whole)}")
        first = tuple(t for t in whole if t in one)
        second = tuple(t for t in whole if t not in one)
        new_blocks: list[list[Group]] = [list(b) for b in self.blocks]
        for index in range(block, self.num_blocks):
            if whole in new_blocks[index]:
                new_blocks[index].remove(whole)
                new_blocks[index].extend((first, second))
        return Layout(tuple(tuple(b) for b in new_blocks))

    # ----------------------------------------------------------------- constructors
    @classmethod
    def all_shared(cls, num_tasks: int, num_blocks: int) -> Layout:
        """Every block shared by all tasks (layout #0)."""
        _check_sizes(num_tasks, num_blocks)
        return cls(((tuple(range(num_tasks)),),) * num_blocks)

    @classmethod
    def independent(cls, num_tasks: int, num_blocks: int) -> Layout:
        """One backbone per task (no sharing)."""
        _check_sizes(num_tasks, num_blocks)
        return cls((tuple((t,) for t in range(num_tasks)),) * num_blocks)

    @classmethod
    def two_task(cls, branch: int, num_blocks: int) -> Layout:
        """Two tasks sharing blocks ``< branch``: the two-task model at that branch point."""
        _check_sizes(2, num_blocks)
        if not 0 <= branch <= num_blocks:
            raise TreeMTLError(f"branch point {branch} out of range 0..{num_blocks}")
        return cls((((0, 1),),) * branch + (((0,), (1,)),) * (num_blocks - branch))


def _parse_group(text: str, dotted: bool, source: str) -> list[int]:
    if not text:
        raise TreeMTLError(f"{source}: empty group (check ',' and '|' separators)")
    parts = text.split(".") if dotted else list(text)
    if not all(p.isdigit() and p.isascii() for p in parts):
        raise TreeMTLError(f"{source}: group {text!r} must hold task indices (digits)")
    return [int(p) for p in parts]


def _check_sizes(num_tasks: int, num_blocks: int) -> None:
    if num_tasks < 1:
        raise TreeMTLError(f"number of tasks must be >= 1, got {num_tasks}")
    if num_blocks < 1:
        raise TreeMTLError(f"number of blocks must be >= 1, got {num_blocks}")


# --------------------------------------------------------------------------- enumeration
def _splits(mask: int) -> tuple[tuple[int, int], ...]:
    """Two-part splits of a group bitmask in the authors' order.

    Boolean patterns over the group's tasks (ascending) in ``itertools.product([True, False])``
    order, keeping those whose first entry is False with at least one True; part one = True tasks.
    """
    tasks = [t for t in range(mask.bit_length()) if mask >> t & 1]
    result = []
    for pattern in itertools.product((True, False), repeat=len(tasks)):
        if pattern[0] or not any(pattern):
            continue
        one = sum(1 << t for t, flag in zip(tasks, pattern) if flag)
        result.append((one, mask ^ one))
    return tuple(result)


@dataclass(frozen=True)
class LayoutSpace:
    """All layouts for (T, B) in id order, encoded for vectorized use.

    ``partitions[k]`` is a canonical partition as group bitmasks (sorted by smallest task);
    ``chains[id, b]`` indexes ``partitions`` for block ``b`` of layout ``id``.  Arrays are read-only.
    """

    num_tasks: int
    num_blocks: int
    partitions: tuple[tuple[int, ...], ...]
    chains: np.ndarray

    def __len__(self) -> int:
        return int(self.chains.shape[0])

    @property
    def pairs(self) -> tuple[tuple[int, int], ...]:
        """Task pairs (a < b) in ``itertools.combinations`` order: the columns of ``branch_points``."""
        return tuple(itertools.combinations(range(self.num_tasks), 2))

    def branch_points(self) -> np.ndarray:
        """int array [L, pairs]: branch point of each task pair in each layout."""
        return _branch_points(self.num_tasks, self.num_blocks)

    def copies(self) -> np.ndarray:
        """int array [L, B]: groups per block of each layout."""
        return _copies(self.num_tasks, self.num_blocks)

    def texts(self) -> list[str]:
        """Text form of every layout (built per distinct partition, then joined)."""
        part_text = [partition_text(p, self.num_tasks) for p in self.partitions]
        return ["|".join([part_text[k] for k in row]) for row in self.chains.tolist()]


def mask_tasks(mask: int) -> list[int]:
    """Tasks of a group stored as a bitmask (bit t set = task t in the group), ascending."""
    return [t for t in range(mask.bit_length()) if mask >> t & 1]


def partition_text(partition: tuple[int, ...], num_tasks: int) -> str:
    """One block of the text form (``Layout.format``): tasks as digits, '.'-separated beyond 10 tasks."""
    sep = "" if num_tasks <= 10 else "."
    return ",".join(sep.join(str(t) for t in mask_tasks(m)) for m in partition)


@lru_cache(maxsize=16)
def layout_space(num_tasks: int, num_blocks: int) -> LayoutSpace:
    """Enumerate every layout for (T, B) in the paper's id order (cached per (T, B)).

    Depth-first search from the all-shared layout, exactly as the authors' enumerator: a layout
    keeps the lowest block where a cut may start (initially 0) and its number of cuts, and stops at
    T-1 cuts.  For each block i from that lowest block to B-1, for each group of block i in its
    *stored* order (one-task groups skipped), for each split (see ``_splits``) the cut is applied
    at block i and every later block (the group is removed from the block's group list and the two
    parts appended, part one first); if the canonical form was never seen, the new layout gets the
    next id and is explored immediately with lowest block i.  Blocks from the lowest block on are
    always identical, so a state is (fixed prefix, current partition, lowest block).
    :func:`iter_chains` yields the same layouts one at a time; this keeps them all, as arrays.
    """
    partitions: list[tuple[int, ...]] = []
    chains = list(_chain_keys(num_tasks, num_blocks, partitions))
    array = np.asarray(chains, dtype=np.int32).reshape(len(chains), num_blocks)
    array.setflags(write=False)
    return LayoutSpace(num_tasks, num_blocks, tuple(partitions), array)


@lru_cache(maxsize=16)
def _branch_points(num_tasks: int, num_blocks: int) -> np.ndarray:
    space = layout_space(num_tasks, num_blocks)
    result = chain_branch_points(space.partitions, space.chains, space.pairs)
    result.setflags(write=False)
    return result


@lru_cache(maxsize=16)
def _copies(num_tasks: int, num_blocks: int) -> np.ndarray:
    space = layout_space(num_tasks, num_blocks)
    result = chain_copies(space.partitions, space.chains)
    result.setflags(write=False)
    return result


def chain_branch_points(partitions: Sequence[tuple[int, ...]], chains: np.ndarray,
                        pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """int array [L, pairs] of the layouts ``chains`` (rows of indices into ``partitions``)."""
    together = np.array(
        [[any(m & both == both for m in partition) for both in ((1 << a) | (1 << b) for a, b in pairs)]
         for partition in partitions],
        dtype=np.int16,
    ).reshape(len(partitions), len(pairs))
    # Chains refine, so "a and b together" holds on a prefix of blocks: its length is the branch point.
    return together[chains].sum(axis=1, dtype=np.int32)


def chain_copies(partitions: Sequence[tuple[int, ...]], chains: np.ndarray) -> np.ndarray:
    """int array [L, B]: groups per block of the layouts ``chains``."""
    sizes = np.array([len(partition) for partition in partitions], dtype=np.int32)
    return sizes[chains]


@lru_cache(maxsize=16)
def _layouts(num_tasks: int, num_blocks: int) -> tuple[Layout, ...]:
    space = layout_space(num_tasks, num_blocks)
    as_tuples = [tuple(tuple(mask_tasks(m)) for m in p) for p in space.partitions]
    trusted = Layout._trusted
    return tuple(trusted(tuple([as_tuples[k] for k in row])) for row in space.chains.tolist())


def enumerate_layouts(num_tasks: int, num_blocks: int) -> list[Layout]:
    """Every layout for T tasks and B blocks; the list index is the paper's layout id."""
    return list(_layouts(num_tasks, num_blocks))


def layout_from_id(layout_id: int, num_tasks: int, num_blocks: int) -> Layout:
    """The layout with the paper's id ``layout_id`` for (T, B), found without enumerating.

    The inverse of :func:`layout_id`: from the all-shared layout, the authors' search is followed
    down, skipping every earlier child with its whole subtree (sizes are products of chain counts,
    as there), so an id of a space of 10^13 layouts is found in milliseconds.
    """
    _check_sizes(num_tasks, num_blocks)
    total = count_chains(num_tasks, num_blocks)
    if not 0 <= layout_id < total:
        raise TreeMTLError(
            f"layout id {layout_id} out of range: {num_tasks} tasks and {num_blocks} blocks have "
            f"{total} layouts (ids 0..{total - 1})"
        )
    chains = _chain_counts(num_tasks, num_blocks)
    prefix: Chain = ()
    stored: tuple[int, ...] = ((1 << num_tasks) - 1,)
    closed: frozenset[int] = frozenset()
    lowest, rest = 0, layout_id
    while rest:
        block, rest = _cut_block(chains, stored, closed, lowest, num_blocks, rest - 1)
        prefix += (tuple(sorted(stored, key=_lowest_bit)),) * (block - lowest)
        stored, closed, rest = _cut_group(chains, stored, closed if block == lowest else frozenset(),
                                          num_blocks - block, rest)
        lowest = block
    chain = prefix + (tuple(sorted(stored, key=_lowest_bit)),) * (num_blocks - lowest)
    return Layout._trusted(tuple(tuple(tuple(mask_tasks(m)) for m in partition) for partition in chain))


def _cut_block(chains: tuple[tuple[int, ...], ...], stored: tuple[int, ...], closed: frozenset[int], lowest: int,
               num_blocks: int, rest: int) -> tuple[int, int]:
    """The block of the child whose subtree holds descendant number ``rest``, and its number among them.

    A node's descendants that first differ from it at block ``c`` or later are the refinements of
    its groups over blocks ``c..B-1`` (at ``lowest``: with closed groups kept whole), less itself.
    """
    def later(block: int) -> int:
        if block == num_blocks:
            return 0
        return _refinements(chains, stored, closed if block == lowest else frozenset(), num_blocks - block) - 1

    for block in range(lowest, num_blocks):
        here = later(block) - later(block + 1)
        if rest < here:
            return block, rest
        rest -= here
    raise AssertionError("the id is below the number of the node's descendants")


def _cut_group(chains: tuple[tuple[int, ...], ...], stored: tuple[int, ...], frozen: frozenset[int], length: int,
               rest: int) -> tuple[tuple[int, ...], frozenset[int], int]:
    """The child at the cut block whose subtree holds descendant ``rest``: its groups, closed set and number."""
    for position, group in enumerate(stored):
        if group & (group - 1) == 0 or group in frozen:
            continue
        before = frozen.union(stored[:position])
        others = stored[:position] + stored[position + 1:]
        base = _refinements(chains, others, before, length)
        size = group.bit_count()
        whole = base * sum(comb(size - 1, part) * chains[length][part] * chains[length - 1][size - part]
                           for part in range(1, size))
        if rest >= whole:
            rest -= whole
            continue
        for one, two in _cached_splits(group):
            subtree = base * chains[length][one.bit_count()] * chains[length - 1][two.bit_count()]
            if rest < subtree:
                return others + (one, two), before | {two}, rest
            rest -= subtree
    raise AssertionError("the id is below the number of the node's descendants")


def iter_chains(num_tasks: int, num_blocks: int) -> Iterator[Chain]:
    """Every layout for (T, B) in id order, one at a time: ``B`` canonical partitions (group bitmasks).

    Memory stays small however many layouts there are (2.2 million at T=7, B=5; 45.6 million at
    T=8): see :func:`_chain_keys`.
    """
    partitions: list[tuple[int, ...]] = []
    for key in _chain_keys(num_tasks, num_blocks, partitions):
        yield tuple([partitions[k] for k in key])


def _chain_keys(num_tasks: int, num_blocks: int, partitions: list[tuple[int, ...]]) -> Iterator[tuple[int, ...]]:
    """Every layout in id order as indices into ``partitions`` (canonical partitions, appended as met).

    The authors' search numbers a layout when it first reaches it, and the layouts it reaches
    again are exactly those that split, at a node's cut block, a group that an earlier sibling
    left whole there (see :func:`layout_id`). So each node keeps those groups *closed* at its cut
    block, every child it generates is new, and nothing seen has to be remembered: the stack
    holds one list of children per level (at most T-1 levels).
    """
    _check_sizes(num_tasks, num_blocks)
    index: dict[tuple[int, ...], int] = {}  # stored group order -> canonical partition index

    def canonical(stored: tuple[int, ...]) -> int:
        found = index.get(stored)
        if found is None:
            ordered = tuple(sorted(stored, key=_lowest_bit))
            found = index.get(ordered)
            if found is None:
                found = len(partitions)
                partitions.append(ordered)
                index[ordered] = found
            index[stored] = found
        return found

    root = ((1 << num_tasks) - 1,)
    yield (canonical(root),) * num_blocks
    stack = [[_children((), root, canonical(root), frozenset(), 0, num_blocks, canonical), 0]]
    while stack:
        frame = stack[-1]
        children, position = frame
        if position == len(children):
            stack.pop()
            continue
        frame[1] = position + 1
        head, block, stored, key, closed = children[position]
        yield head + (key,) * (num_blocks - block)
        if len(stored) < num_tasks:
            stack.append([_children(head, stored, key, closed, block, num_blocks, canonical), 0])


def _children(prefix: tuple[int, ...], stored: tuple[int, ...], key: int, closed: frozenset[int], lowest: int,
              num_blocks: int, canonical: Callable[[tuple[int, ...]], int]) -> list[tuple]:
    """The new children of a node of the authors' search, in their order.

    A node keeps blocks before ``lowest`` (``prefix``, partition indices) and ``stored`` (groups in
    the search's own order; partition ``key``) from ``lowest`` on; ``closed`` groups may not be
    split at ``lowest``. A child splits one group at a block from ``lowest`` on into the two parts
    of :func:`_splits`, and keeps closed at that block the groups stored before the split one and
    the part holding its first task.
    """
    children = []
    for block in range(lowest, num_blocks):
        head = prefix + (key,) * (block - lowest)
        frozen = closed if block == lowest else frozenset()
        for position, group in enumerate(stored):
            if group & (group - 1) == 0 or group in frozen:
                continue
            others = stored[:position] + stored[position + 1:]
            before = frozen.union(stored[:position])
            for one, two in _cached_splits(group):
                new = others + (one, two)
                children.append((head, block, new, canonical(new), before | {two}))
    return children


def _lowest_bit(mask: int) -> int:
    return mask & -mask


@lru_cache(maxsize=1 << 14)
def _cached_splits(mask: int) -> tuple[tuple[int, int], ...]:
    return _splits(mask)


def layout_id(layout: Layout) -> int:
    """The paper's id of ``layout`` (inverse of :func:`layout_from_id`), counted without enumerating.

    Walks the authors' depth-first search (:func:`layout_space`) from the all-shared layout towards
    ``layout`` and adds the number of layouts the search numbers before each step.  A node's
    descendants are the chains that keep its blocks before its lowest block and refine its
    partition from there on; the search reaches ``layout`` through the first child (cut block,
    group in stored order, split) whose descendants hold it.  Of an earlier sibling's descendants,
    those already numbered are exactly the ones that split, at the sibling's cut block, a group that
    an earlier step left whole there: the groups before the cut group in stored order and, for the
    cut group, the part holding its first task (any earlier split of it would have been taken
    instead).  So every count is a product over groups of chain counts, and the id costs
    O(T * 2^T) instead of an enumeration of every layout.
    """
    num_tasks, num_blocks = layout.num_tasks, layout.num_blocks
    target = [frozenset(sum(1 << t for t in group) for group in block) for block in layout.blocks]
    chains = _chain_counts(num_tasks, num_blocks)
    stored: list[int] = [(1 << num_tasks) - 1]
    frozen: frozenset[int] = frozenset()
    lowest, index = 0, 0
    while True:
        cut = next((b for b in range(lowest, num_blocks) if target[b] != frozenset(stored)), None)
        if cut is None:
            return index
        if cut > lowest:  # every child cutting blocks lowest..cut-1 comes first, with its subtree
            index += (_refinements(chains, stored, frozen, num_blocks - lowest)
                      - _refinements(chains, stored, frozenset(), num_blocks - cut))
            frozen = frozenset()
        index, stored, frozen = _cut_step(chains, target[cut], stored, frozen, num_blocks - cut, index)
        lowest = cut


def _refinements(chains: tuple[tuple[int, ...], ...], groups: Iterable[int], frozen: frozenset[int],
                 length: int) -> int:
    """Chains of ``length`` blocks refining ``groups`` whose first block splits no frozen group."""
    total = 1
    for group in groups:
        total *= chains[length - 1 if group in frozen else length][group.bit_count()]
    return total


def _cut_step(chains: tuple[tuple[int, ...], ...], goal: frozenset[int], stored: list[int],
              frozen: frozenset[int], length: int, index: int) -> tuple[int, list[int], frozenset[int]]:
    """At the cut block: add the new layouts of the siblings before the first split ``goal`` refines."""
    for position, group in enumerate(stored):
        if group & (group - 1) == 0:
            continue
        inside = [part for part in goal if part & group]
        before = frozen.union(stored[:position])
        others = stored[:position] + stored[position + 1:]
        for one, two in _splits(group):
            if all(part & one == 0 or part & two == 0 for part in inside):
                return index + 1, others + [one, two], before | {two}
            if group not in frozen:
                index += _refinements(chains, others + [one, two], before | {two}, length)
    raise AssertionError("the layout's block refines the current partition, so one split matches")


@lru_cache(maxsize=16)
def _chain_counts(num_tasks: int, num_blocks: int) -> tuple[tuple[int, ...], ...]:
    """``[n][m]``: refining chains of n partitions of an m-set, n = 0..B, m = 0..T (1 when n or m is 0)."""
    return tuple(
        tuple(1 if n == 0 or m == 0 else count_chains(m, n) for m in range(num_tasks + 1))
        for n in range(num_blocks + 1)
    )


def count_chains(num_tasks: int, num_blocks: int) -> int:
    """Number of refining chains of B partitions of a T-set, computed independently of enumeration.

    Chains whose first partition is P factor into independent chains on each group of P, so with
    ``g_k(n)`` the number of length-k chains on an n-set, ``g_k(n) = sum over partitions P of
    prod g_{k-1}(|group|)``, evaluated by splitting off the group holding the first element.
    """
    _check_sizes(num_tasks, num_blocks)
    previous = [1] * (num_tasks + 1)  # g_0(n) = 1: the empty chain
    for _ in range(num_blocks):
        current = [1] + [0] * num_tasks
        for n in range(1, num_tasks + 1):
            current[n] = sum(
                comb(n - 1, s - 1) * previous[s] * current[n - s] for s in range(1, n + 1)
            )
        previous = current
    return previous[num_tasks]
