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
from viz.model import Diagram
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
    """A diagram for a page: the inline SVG, the legend strip's entries, and its notes."""

    svg: Markup
    kinds: tuple[tuple[str, Markup], ...]
    notes: tuple[str, ...]


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
    """Lay out a diagram without its in-drawing legend; the legend comes as data."""
    svg = inline_svg(run_dot(to_dot(diagram, legend=False), "svg"), label)
    return Drawn(
        svg=svg,
        kinds=tuple((kind, swatch(kind)) for kind in STATE_KINDS),
        notes=tuple(diagram.notes),
    )
