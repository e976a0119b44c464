"""How things look: a shape and colours per state kind, colours per edge style and change."""

from __future__ import annotations

from typing import NamedTuple

from viz.model import Change, Node, NodeKind, Overlay


class KindStyle(NamedTuple):
    shape: str
    fill: str
    stroke: str
    style: str = "filled"
    peripheries: int = 1


KINDS: dict[NodeKind, KindStyle] = {
    "treatment": KindStyle("box", "#dbeafe", "#1d4ed8", "rounded,filled"),
    "decision": KindStyle("diamond", "#fef3c7", "#b45309"),
    "evaluation": KindStyle("hexagon", "#ede9fe", "#6d28d9"),
    "procedure": KindStyle("box3d", "#ffedd5", "#c2410c"),
    "continuing": KindStyle("ellipse", "#dcfce7", "#15803d"),
    "final": KindStyle("ellipse", "#e5e7eb", "#374151", "filled", 2),
    "any": KindStyle("note", "#fef2f2", "#b91c1c", "dashed,filled"),
    "start": KindStyle("point", "#111827", "#111827"),
}
STATE_KINDS: tuple[NodeKind, ...] = (
    "treatment",
    "decision",
    "evaluation",
    "procedure",
    "continuing",
    "final",
)

INK = "#1f2937"
DIM = "#9ca3af"
DIM_FILL = "#f9fafb"
TAKEN = "#1d4ed8"
CURRENT = "#dc2626"
ANY_EDGE = "#b91c1c"
OVERRIDE = "#ea580c"
CHANGES: dict[Change, str] = {"added": "#15803d", "removed": "#b91c1c", "changed": "#d97706"}
FONT = "Helvetica"


def dimmed(n: Node, overlay: Overlay) -> bool:
    """Drawn greyed out: a state the patient never visited, nobody entered, or the diff left
    unchanged."""
    if n.kind in ("start", "any") or n.change:
        return False
    return (
        (overlay == "patient" and not n.visited)
        or (overlay == "cohort" and n.entered is not None and n.entered.value == 0)
        or overlay == "diff"
    )
