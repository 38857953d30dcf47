"""Reference layouts shown in every comparison: one backbone for all tasks, or one per task.

They bound the design space (cheapest and most expensive tree) and are always trained by the
oracle, so every table can place the recommended trees between them.
"""

from __future__ import annotations

from dataclasses import dataclass

from treemtl.core.layout import Layout, layout_id


@dataclass(frozen=True)
class Reference:
    """A named reference layout with its paper id."""

    name: str
    layout_id: int
    layout: Layout


def references(num_tasks: int, num_blocks: int) -> tuple[Reference, Reference]:
    """(all-shared, independent) for T tasks and B blocks; all-shared is always id 0."""
    shared = Layout.all_shared(num_tasks, num_blocks)
    independent = Layout.independent(num_tasks, num_blocks)
    return (
        Reference("All-shared", layout_id(shared), shared),
        Reference("Independent", layout_id(independent), independent),
    )


def reference_ids(num_tasks: int, num_blocks: int) -> tuple[int, ...]:
    """Ids of the reference layouts (deduplicated: with one task both are the same layout)."""
    return tuple(sorted({ref.layout_id for ref in references(num_tasks, num_blocks)}))
