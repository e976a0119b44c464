"""The words printed on nodes and edges, shared by every format (lines; each format joins them)."""

from __future__ import annotations

import textwrap

from viz.model import Cell, Edge, Node
from viz.overlays import OVERRIDE

NODE_WIDTH = 24
EDGE_WIDTH = 34


def wrap(text: str, width: int) -> list[str]:
    """Break at spaces only, so joining the lines with spaces gives the text back."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [text]


def node_lines(node: Node, *, width: int = NODE_WIDTH) -> list[str]:
    """The state's label, then what the overlay says about it."""
    if node.kind == "start":
        return []
    lines = wrap(node.label, width)
    if node.current:
        lines.append("● current state")
    if node.days is not None:
        lines.append(f"{node.days} day{'s' if node.days != 1 else ''}")
    if node.patients is not None and node.entered is not None:
        lines.append(f"now {node.patients.display} · entered {node.entered.display}")
    if node.median_days is not None and node.median_days.display:
        lines.append(f"median {node.median_days.display}")
    if node.change is not None:
        # a rename is one state removed and one added: the ids tell them apart
        shown = f" {node.id}" if node.change != "changed" and node.kind != "any" else ""
        lines.append(_change(node.change + shown, node.changes))
    return lines


def edge_lines(edge: Edge, *, width: int = EDGE_WIDTH) -> list[str]:
    """Step numbers (patient), trigger, guard in brackets, counts (cohort), change (diff)."""
    lines: list[str] = []
    if edge.style == "override":
        lines += [f"#{n} override: {r}" for n, r in zip(edge.steps, edge.reasons, strict=True)]
        if edge.traversals is not None:
            lines.append(f"override {_count(edge.traversals, edge.conversion)}")
        if edge.trigger != OVERRIDE:
            lines.append(f"(as {edge.trigger})")
        return lines
    if edge.style == "start":
        return [] if edge.traversals is None else [_count(edge.traversals, edge.conversion)]
    if edge.steps:
        lines.append(", ".join(f"#{n}" for n in edge.steps))
    lines.append(edge.trigger)
    if edge.guard:
        lines += wrap(f"[{edge.guard}]", width)
    if edge.traversals is not None:
        lines.append(_count(edge.traversals, edge.conversion))
    if edge.change is not None:
        lines.append(_change(edge.change, edge.changes))
    return lines


def _count(count: Cell, conversion: Cell | None) -> str:
    return f"{count.display} ({conversion.display})" if conversion else count.display


def _change(change: str, fields: dict[str, tuple[str, str]]) -> str:
    return f"[{change}: {', '.join(fields)}]" if fields else f"[{change}]"
