"""Write a diagram as Graphviz DOT text (no Graphviz needed for this step)."""

from __future__ import annotations

from viz import styles
from viz.labels import edge_lines, node_lines
from viz.model import Diagram, Edge, Node
from viz.styles import KINDS, STATE_KINDS, dimmed


class Raw(str):
    """DOT text written as is (an already quoted label)."""


Attrs = dict[str, str | int | float]


def quote(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + _escape(text) + '"'


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _label(lines: list[str], *, end: str = "\\n") -> Raw:
    """Centred lines (`\\n`), or left-aligned ones with end=`\\l`."""
    if end == "\\n":
        return Raw('"' + end.join(_escape(line) for line in lines) + '"')
    return Raw('"' + "".join(_escape(line) + end for line in lines) + '"')


def _attrs(attrs: Attrs) -> str:
    return ", ".join(
        f"{k}={v if isinstance(v, Raw) else quote(v) if isinstance(v, str) else v}"
        for k, v in attrs.items()
    )


def to_dot(diagram: Diagram, *, legend: bool = True) -> str:
    """The DOT text of a diagram: phases as clusters, states styled by kind, a legend."""
    title = [diagram.title, *([diagram.subtitle] if diagram.subtitle else [])]
    graph: Attrs = {
        "id": "pathway",
        "label": _label(title),
        "labelloc": "t",
        "fontsize": 18,
        "fontname": styles.FONT,
        "rankdir": "LR",
        "newrank": "true",  # without it dot 2.43 cannot rank some overlays (init_rank)
        "nodesep": 0.35,
        "ranksep": 0.45,
    }
    nodes: Attrs = {"fontname": styles.FONT, "fontsize": 11, "margin": "0.12,0.06"}
    edges: Attrs = {"fontname": styles.FONT, "fontsize": 9, "color": styles.INK}
    out = [
        "digraph pathway {",
        f"  graph [{_attrs(graph)}];",
        f"  node [{_attrs(nodes)}];",
        f"  edge [{_attrs(edges)}];",
    ]
    by_id = {n.id: n for n in diagram.nodes}
    clustered = {nid for c in diagram.clusters for nid in c.nodes}
    for c in diagram.clusters:
        color = styles.CHANGES[c.change] if c.change else "#94a3b8"
        label = c.label + (f" [{c.change}]" if c.change else "")
        box: Attrs = {
            "label": label,
            "style": "rounded",
            "color": color,
            "fontcolor": "#475569",
            "fontsize": 12,
        }
        out.append(f"  subgraph {quote('cluster_' + c.id)} {{")
        out.append(f"    graph [{_attrs(box)}];")
        out += [f"    {_node(by_id[nid], diagram)}" for nid in c.nodes]
        out.append("  }")
    out += [f"  {_node(n, diagram)}" for n in diagram.nodes if n.id not in clustered]
    out += [f"  {_edge(e, diagram)}" for e in diagram.edges]
    if legend:
        out += _legend(diagram)
    out.append("}")
    return "\n".join(out) + "\n"


def _node(n: Node, d: Diagram) -> str:
    k = KINDS[n.kind]
    attrs: Attrs = {
        "id": f"node-{n.id}",
        "label": _label(node_lines(n)),
        "shape": k.shape,
        "style": k.style,
        "fillcolor": k.fill,
        "color": k.stroke,
    }
    if k.peripheries > 1:
        attrs["peripheries"] = k.peripheries
    if n.kind == "start":
        attrs.update(label="", width=0.15, tooltip="start")
    elif n.description:
        attrs["tooltip"] = n.description
    if dimmed(n, d.overlay):
        attrs.update(fillcolor=styles.DIM_FILL, color=styles.DIM, fontcolor=styles.DIM)
    if n.visited:
        attrs["penwidth"] = 2
    if n.current:
        attrs.update(color=styles.CURRENT, penwidth=3)
    if n.change:
        attrs.update(color=styles.CHANGES[n.change], penwidth=2.5)
        if n.change == "removed":
            attrs["style"] = f"{k.style},dashed"
    return f"{quote(n.id)} [{_attrs(attrs)}];"


def _edge(e: Edge, d: Diagram) -> str:
    attrs: Attrs = {"id": f"edge-{e.id}", "label": _label(edge_lines(e))}
    if e.guard:
        attrs["tooltip"] = f"{e.trigger}: {e.guard}"
    if e.style == "any":
        attrs.update(style="dashed", color=styles.ANY_EDGE, fontcolor=styles.ANY_EDGE)
    elif e.style == "start":
        attrs["arrowsize"] = 0.7
    elif e.style == "override":
        attrs.update(
            style="dashed,bold", color=styles.OVERRIDE, fontcolor=styles.OVERRIDE, penwidth=2
        )
    if d.overlay == "patient" and e.style != "override":
        if e.steps:
            attrs.update(color=styles.TAKEN, fontcolor=styles.TAKEN, penwidth=2.5)
        elif e.style != "start":
            attrs.update(color=styles.DIM, fontcolor=styles.DIM)
    if d.overlay == "cohort":
        attrs["penwidth"] = e.width
        if e.traversals is not None and e.traversals.value == 0:
            attrs.update(color=styles.DIM, fontcolor=styles.DIM)
    if d.overlay == "diff":
        if e.change:
            attrs.update(
                color=styles.CHANGES[e.change], fontcolor=styles.CHANGES[e.change], penwidth=2
            )
            if e.change == "removed":
                attrs["style"] = "dashed"
        elif e.style != "start":
            attrs.update(color=styles.DIM, fontcolor=styles.DIM)
    return f"{quote(e.source)} -> {quote(e.dest)} [{_attrs(attrs)}];"


def _legend(d: Diagram) -> list[str]:
    box: Attrs = {
        "label": "Legend",
        "style": "dashed",
        "color": "#cbd5e1",
        "fontcolor": "#475569",
        "fontsize": 11,
    }
    out = ['  subgraph "cluster_legend" {', f"    graph [{_attrs(box)}];"]
    names = []
    for kind in STATE_KINDS:
        k = KINDS[kind]
        attrs: Attrs = {
            "id": f"legend-{kind}",
            "label": kind,
            "shape": k.shape,
            "style": k.style,
            "fillcolor": k.fill,
            "color": k.stroke,
            "fontsize": 9,
        }
        if k.peripheries > 1:
            attrs["peripheries"] = k.peripheries
        names.append(f"legend_{kind}")
        out.append(f"    {names[-1]} [{_attrs(attrs)}];")
    if d.notes:
        notes: Attrs = {
            "id": "legend-notes",
            "shape": "plaintext",
            "fontsize": 9,
            "label": _label(d.notes, end="\\l"),
        }
        out.append(f"    legend_notes [{_attrs(notes)}];")
        names.append("legend_notes")
    out.append(f"    {{ rank=same; {'; '.join(names)}; }}")
    out.append("  }")
    return out
