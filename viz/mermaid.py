"""Write a diagram as a Mermaid `stateDiagram-v2`, for Markdown pages."""

from __future__ import annotations

import json

from viz import styles
from viz.graph import START
from viz.labels import edge_lines, node_lines, wrap
from viz.model import Diagram, Node
from viz.styles import KINDS, STATE_KINDS, dimmed

INDENT = "    "
LEGEND = "_legend"
LEGEND_WIDTH = 60
_LEGEND_CSS = "fill:#ffffff,stroke:#cbd5e1,stroke-dasharray:4,color:#475569"
_OVERLAY_CLASSES: dict[str, str] = {
    "dim": f"fill:{styles.DIM_FILL},stroke:{styles.DIM},color:{styles.DIM}",
    "current": f"fill:#fee2e2,stroke:{styles.CURRENT},stroke-width:3px",
    **{change: f"stroke:{color},stroke-width:3px" for change, color in styles.CHANGES.items()},
}


_ENTITIES = str.maketrans({"#": "#35;", ":": "#58;", ";": "#59;", '"': "#quot;"})


def text(s: str) -> str:
    """Mermaid-safe text: `:` and `;` end statements, `"` ends a description; use entities."""
    return s.translate(_ENTITIES)


def to_mermaid(diagram: Diagram) -> str:
    """The stateDiagram-v2 text: phases as composite states, kinds as classes."""
    title = diagram.title + (f" · {diagram.subtitle}" if diagram.subtitle else "")
    # the front matter is YAML: a JSON string is a valid YAML scalar whatever it holds
    out = [
        "---",
        f"title: {json.dumps(title, ensure_ascii=False)}",
        "---",
        "stateDiagram-v2",
        f"{INDENT}direction LR",
    ]
    by_id = {n.id: n for n in diagram.nodes}
    clustered = {nid for c in diagram.clusters for nid in c.nodes}
    for c in diagram.clusters:
        label = c.label + (f" [{c.change}]" if c.change else "")
        out.append(f'{INDENT}state "{text(label)}" as _phase_{c.id} {{')
        out += [f"{INDENT * 2}{_state(by_id[nid])}" for nid in c.nodes]
        out.append(f"{INDENT}}}")
    out += [
        f"{INDENT}{_state(n)}" for n in diagram.nodes if n.id not in clustered and n.kind != "start"
    ]
    if diagram.notes:  # the legend, as the DOT drawing's: what the marks and numbers are
        legend = ["Legend", *(part for note in diagram.notes for part in wrap(note, LEGEND_WIDTH))]
        out.append(f'{INDENT}state "{"<br>".join(text(line) for line in legend)}" as {LEGEND}')
    for e in diagram.edges:
        src = "[*]" if e.source == START else e.source
        lines = edge_lines(e)
        label = f" : {'<br>'.join(text(line) for line in lines)}" if lines else ""
        out.append(f"{INDENT}{src} --> {e.dest}{label}")
    out += [f"{INDENT}{n.id} --> [*]" for n in diagram.nodes if n.kind == "final"]
    classes: dict[str, list[str]] = {}
    for n in diagram.nodes:
        if n.kind != "start":
            classes.setdefault(_class_of(n, diagram), []).append(n.id)
    for kind in (*STATE_KINDS, "any"):
        k = KINDS[kind]
        out.append(f"{INDENT}classDef {kind} fill:{k.fill},stroke:{k.stroke}")
    out += [
        f"{INDENT}classDef {name} {css}"
        for name, css in _OVERLAY_CLASSES.items()
        if name in classes
    ]
    out += [f"{INDENT}class {','.join(ids)} {name}" for name, ids in classes.items()]
    if diagram.notes:
        out += [f"{INDENT}classDef legend {_LEGEND_CSS}", f"{INDENT}class {LEGEND} legend"]
    return "\n".join(out) + "\n"


def _state(n: Node) -> str:
    return f'state "{"<br>".join(text(line) for line in node_lines(n))}" as {n.id}'


def _class_of(n: Node, d: Diagram) -> str:
    if n.change:
        return n.change
    if n.current:
        return "current"
    return "dim" if dimmed(n, d.overlay) else n.kind
