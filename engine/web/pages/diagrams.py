"""Diagrams on the pages: Graphviz SVG inline at page width, its legend moved out of the drawing
into a compact HTML strip (state kinds as small shapes, and the overlay's notes) so the pathway
gets the whole width. Downloads and exports keep the legend in the drawing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup, escape

from viz.dot import to_dot
from viz.graphviz_run import run_dot
from viz.model import Cell, Diagram
from viz.styles import KINDS, STATE_KINDS

_PROLOG = re.compile(r"\A.*?(?=<svg)", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
# one small outline per state kind, as Graphviz draws it (24 × 16 user units)
_SHAPES = {
    "treatment": '<rect x="2" y="2" width="20" height="12" rx="3"/>',
    "decision": '<polygon points="12,1 23,8 12,15 1,8"/>',
    "evaluation": '<polygon points="6,2 18,2 23,8 18,14 6,14 1,8"/>',
    "procedure": '<rect x="2" y="4" width="17" height="10"/><path d="M2 4l3-3h17v10l-3 3" '
    'fill="none"/>',
    "continuing": '<ellipse cx="12" cy="8" rx="10" ry="6"/>',
    "final": '<ellipse cx="12" cy="8" rx="10" ry="6"/><ellipse cx="12" cy="8" rx="7.5" ry="4" '
    'fill="none"/>',
}


@dataclass(frozen=True)
class Drawn:
    """A diagram for a page: the inline SVG, the legend strip's entries, and its notes; for a
    cohort overlay, its counts as table rows (the drawing's text equivalent)."""

    svg: Markup
    kinds: tuple[tuple[str, Markup], ...]
    notes: tuple[str, ...]
    states: tuple[tuple[str, ...], ...] = ()  # label, patients, entered, median days
    moves: tuple[tuple[str, ...], ...] = ()  # from, to, move, moves, share of the entries


def cell_text(c: Cell | None) -> str:
    """A count as the drawing shows it, plain (no thousands separators): a hidden one as its
    mark ("≤10", "*"), a median with one decimal, nothing for no count."""
    if c is None:
        return ""
    if c.value is None:
        return str(c.display)
    if isinstance(c.value, float) and not c.value.is_integer():
        return f"{c.value:.1f}"
    return str(int(c.value))


def counted(diagram: Diagram) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    """A cohort overlay's counts as table rows: per state, then per move (pseudo nodes and
    uncounted edges left out)."""
    label = {n.id: n.label for n in diagram.nodes}
    states = tuple(
        (n.id, n.label, cell_text(n.patients), cell_text(n.entered), cell_text(n.median_days))
        for n in diagram.nodes
        if not (n.patients is None and n.entered is None and n.median_days is None)
    )
    moves = tuple(
        (
            label.get(e.source, e.source),
            label.get(e.dest, e.dest),
            e.trigger,
            cell_text(e.traversals),
            e.conversion.display if e.conversion is not None else "",
        )
        for e in diagram.edges
        if e.traversals is not None
    )
    return states, moves


def inline_svg(data: bytes | str, label: str) -> Markup:
    """Graphviz SVG for inline use: no XML prolog or comments, with an accessible name."""
    text = data.decode() if isinstance(data, bytes) else data
    text = _COMMENT.sub("", _PROLOG.sub("", text, count=1))
    named = f'<svg role="img" aria-label="{escape(label)}"'
    return Markup(text.replace("<svg", named, 1))


def swatch(kind: str) -> Markup:
    """A state kind's shape in its colours, 24 × 16 pixels, hidden from screen readers (the
    kind's name is next to it)."""
    k = KINDS[kind]  # type: ignore[index]
    return Markup(
        f'<svg class="swatch" width="24" height="16" viewBox="0 0 24 16" aria-hidden="true" '
        f'focusable="false"><g fill="{k.fill}" stroke="{k.stroke}" stroke-width="1.2">'
        f"{_SHAPES[kind]}</g></svg>"
    )


def drawn(diagram: Diagram, label: str) -> Drawn:
    """Lay out a diagram without its in-drawing legend; the legend comes as data, and a cohort
    overlay's counts as table rows."""
    svg = inline_svg(run_dot(to_dot(diagram, legend=False), "svg"), label)
    states, moves = counted(diagram) if diagram.overlay == "cohort" else ((), ())
    return Drawn(
        svg=svg,
        kinds=tuple((kind, swatch(kind)) for kind in STATE_KINDS),
        notes=tuple(diagram.notes),
        states=states,
        moves=moves,
    )
