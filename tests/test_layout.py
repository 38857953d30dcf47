"""Layout representation, text form, cut operator and the complete enumeration in paper order."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from treemtl.errors import TreeMTLError
from treemtl.core.layout import (
    Layout,
    count_chains,
    enumerate_layouts,
    layout_from_id,
    layout_id,
    layout_space,
)


@pytest.mark.parametrize(("tasks", "blocks", "expected"), [(3, 5, 51), (5, 5, 7556), (6, 5, 120196)])
def test_counts_match_paper_and_independent_count(tasks: int, blocks: int, expected: int) -> None:
    space = layout_space(tasks, blocks)
    assert len(space) == expected
    assert count_chains(tasks, blocks) == expected
    assert len({tuple(row) for row in space.chains.tolist()}) == expected


@pytest.mark.parametrize(("tasks", "blocks"), [(1, 3), (2, 1), (2, 4), (3, 1), (3, 3), (4, 2), (4, 4), (5, 2)])
def test_enumeration_is_complete_and_duplicate_free(tasks: int, blocks: int) -> None:
    layouts = enumerate_layouts(tasks, blocks)
    assert len(set(layouts)) == len(layouts) == count_chains(tasks, blocks)


def _brute_force_chains(tasks: int, blocks: int) -> int:
    """Count refining chains by listing every partition (independent of the cut enumeration)."""

    def partitions(items: list[int]) -> list[list[list[int]]]:
        if not items:
            return [[]]
        first, rest = items[0], items[1:]
        result = []
        for smaller in partitions(rest):
            result.append([[first], *smaller])
            for i in range(len(smaller)):
                result.append(smaller[:i] + [[first, *smaller[i]]] + smaller[i + 1:])
        return result

    parts = [frozenset(frozenset(g) for g in p) for p in partitions(list(range(tasks)))]
    refines = {(a, b): all(any(g <= h for h in a) for g in b) for a in parts for b in parts}
    counts = {p: 1 for p in parts}
    for _ in range(blocks - 1):
        counts = {b: sum(counts[a] for a in parts if refines[(a, b)]) for b in parts}
    return sum(counts.values())


@pytest.mark.parametrize(("tasks", "blocks"), [(3, 5), (4, 3), (4, 5)])
def test_count_chains_agrees_with_brute_force(tasks: int, blocks: int) -> None:
    assert count_chains(tasks, blocks) == _brute_force_chains(tasks, blocks)


def test_known_paper_ids_for_three_tasks() -> None:
    layouts = enumerate_layouts(3, 5)
    assert layouts[0] == Layout.all_shared(3, 5)
    assert layouts[1].format() == "0,12|0,12|0,12|0,12|0,12"
    assert layouts[45].format() == "012|012|012|01,2|01,2"
    assert layouts[50].format() == "012|012|012|012|01,2"
    assert Layout.independent(3, 5) in layouts


def test_every_enumerated_layout_is_a_valid_refining_chain() -> None:
    for layout in enumerate_layouts(4, 3):
        assert Layout(layout.blocks) == layout  # re-validates and re-canonicalizes
        for previous, block in itertools.pairwise(layout.blocks):
            for group in block:
                assert any(set(group) <= set(parent) for parent in previous)


def test_ids_round_trip() -> None:
    for index in (0, 1, 353, 958, 7555):
        layout = layout_from_id(index, 5, 5)
        assert layout_id(layout) == index
    with pytest.raises(TreeMTLError, match="out of range"):
        layout_from_id(7556, 5, 5)


def test_parse_format_examples() -> None:
    layout = Layout.parse("012|012|01,2|01,2|0,1,2")
    assert layout.blocks[2] == ((0, 1), (2,))
    assert layout.copies() == (1, 1, 2, 2, 3)
    assert layout.branch_point(0, 2) == 2 and layout.branch_point(0, 1) == 4
    assert Layout.parse("21,0|1,2,0") == Layout.parse("0,12|0,1,2")  # canonical form
    assert Layout.parse("0|0|0|0|0").num_tasks == 1
    assert Layout.two_task(2, 5).format() == "01|01|0,1|0,1|0,1"
    assert Layout.two_task(5, 5).branch_point(0, 1) == 5
    assert Layout.two_task(0, 5).branch_point(1, 0) == 0


def test_many_task_text_form() -> None:
    eleven = Layout.independent(11, 2)
    assert Layout.parse(eleven.format()) == eleven
    grouped = Layout(((tuple(range(11)),), ((0, 1, 10), tuple(range(2, 10)))))
    assert grouped.format() == "0.1.2.3.4.5.6.7.8.9.10|0.1.10,2.3.4.5.6.7.8.9"
    assert Layout.parse(grouped.format()) == grouped


@pytest.mark.parametrize(
    "text",
    ["", "012|01", "01|0,0", "0a|01", "01||01", "0,1|01", "12|12", "01,|01", "02|02"],
)
def test_parse_rejects_bad_text(text: str) -> None:
    with pytest.raises(TreeMTLError):
        Layout.parse(text)


def test_cut_operator() -> None:
    shared = Layout.all_shared(4, 5)
    cut = shared.cut(2, (0, 1, 2, 3), (2, 3))
    assert cut.format() == "0123|0123|01,23|01,23|01,23"
    again = cut.cut(3, (2, 3), (3,))
    assert again.format() == "0123|0123|01,23|01,2,3|01,2,3"
    assert again.available_blocks() == (3, 4)
    with pytest.raises(TreeMTLError):
        cut.cut(2, (0, 1), (0, 1))
    with pytest.raises(TreeMTLError):
        cut.cut(1, (0, 1), (1,))
    with pytest.raises(TreeMTLError):  # later block separates 0123 as 01,23: cutting 02,13 breaks the tree
        Layout.parse("0123|01,23").cut(0, (0, 1, 2, 3), (1, 3))


def test_enumeration_uses_cut_children_only() -> None:
    """Each layout but #0 is one cut away from an earlier layout (the DFS discovers it that way)."""
    layouts = enumerate_layouts(3, 3)
    index = {layout: i for i, layout in enumerate(layouts)}
    for i, layout in enumerate(layouts[1:], start=1):
        parents = [
            j for j, earlier in enumerate(layouts[:i])
            for b in earlier.available_blocks() for g in earlier.blocks[b] if len(g) > 1
            for r in range(1, len(g)) for part in itertools.combinations(g, r)
            if earlier.cut(b, g, part) == layout
        ]
        assert parents, f"layout {i} {layout} has no parent"
        assert index[layout] == i


layout_ids = st.integers(min_value=0, max_value=7555)


@settings(max_examples=200, deadline=None)
@given(layout_ids)
def test_parse_format_identity(index: int) -> None:
    layout = layout_from_id(index, 5, 5)
    assert Layout.parse(layout.format()) == layout
    assert hash(Layout.parse(layout.format())) == hash(layout)


@settings(max_examples=200, deadline=None)
@given(layout_ids, st.integers(0, 4), st.integers(0, 4))
def test_branch_points_symmetric_and_consistent(index: int, a: int, b: int) -> None:
    layout = layout_from_id(index, 5, 5)
    point = layout.branch_point(a, b)
    assert point == layout.branch_point(b, a)
    if a == b:
        assert point == 5
    else:
        column = layout_space(5, 5).pairs.index((min(a, b), max(a, b)))
        assert layout_space(5, 5).branch_points()[index, column] == point
    assert tuple(layout_space(5, 5).copies()[index]) == layout.copies()
