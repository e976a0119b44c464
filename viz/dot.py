"""Write a diagram as Graphviz DOT text (no Graphviz needed for this step)."""

from __future__ import annotations

from itertools import pairwise

from viz import styles
from viz.labels import edge_lines, node_lines
from viz.layout import Column, columns, junction_id, returns
from viz.model import Diagram, Edge, Node
from viz.styles import KINDS, STATE_KINDS, dimmed


class Raw(str):
    """DOT text written as is (an already quoted label)."""


Attrs = dict[str, str | int | float]
EDGE_WIDTH = 26
"""Characters per line of an edge label: narrow, since the labels of a column stack."""


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
    """The DOT text of a diagram: phases as clusters laid out as columns, states styled by kind,
    returns to a hub through one junction, parallel edges as one (`viz.layout`), a legend strip."""
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
        "ranksep": 0.3,
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
    bundled = returns(diagram)
    column = columns(diagram)
    column.update({junction_id(h): column[h] for h in bundled if h in column})
    for c in diagram.clusters:
        color = styles.CHANGES[c.change] if c.change else "#94a3b8"
        label = c.label + (f" [{c.change}]" if c.change else "")
        box: Attrs = {
            "id": f"phase-{c.id}",
            "label": label,
            "style": "rounded",
            "color": color,
            "fontcolor": "#475569",
            "fontsize": 12,
        }
        out.append(f"  subgraph {quote('cluster_' + c.id)} {{")
        out.append(f"    graph [{_attrs(box)}];")
        out += [f"    {_node(by_id[nid], diagram)}" for nid in c.nodes]
        junctions = [h for h in c.nodes if h in bundled]
        out += [f"    {_junction_node(by_id[h], bundled[h], diagram)}" for h in junctions]
        # a phase is a rank (a column): the phases in the order paths reach them
        for rank in sorted({column[n] for n in c.nodes}):
            same = [n for n in c.nodes if column[n] == rank]
            same += [junction_id(h) for h in junctions if column[h] == rank]
            out.append(f"    {{ rank=same; {'; '.join(map(quote, same))}; }}")
        out.append("  }")
    out += [f"  {_node(n, diagram)}" for n in diagram.nodes if n.id not in clustered]
    for hub, back in bundled.items():
        if hub not in clustered:
            out.append(f"  {_junction_node(by_id[hub], back, diagram)}")
            out.append(f"  {{ rank=same; {quote(hub)}; {quote(junction_id(hub))}; }}")
    out += _edges(diagram, bundled, column)
    if legend:
        out += _legend(diagram)
    out.append("}")
    return "\n".join(out) + "\n"


def _node(n: Node, d: Diagram) -> str:
    k = KINDS[n.kind]
    lines = node_lines(n)
    if k.shape == "diamond":  # a diamond is twice as wide as its widest line: split that
        lines = [part for line in lines for part in line.split(" · ")]
    attrs: Attrs = {
        "id": f"node-{n.id}",
        "label": _label(lines),
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


def _edge(e: Edge, d: Diagram) -> Attrs:
    attrs: Attrs = {"id": f"edge-{e.id}", "label": _label(edge_lines(e, width=EDGE_WIDTH))}
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
    return attrs


def _edges(d: Diagram, bundled: dict[str, list[Edge]], column: dict[str, Column]) -> list[str]:
    """The edges, the returns to a hub through its junction, and the order of the columns: an
    edge against it is written backwards (`dir=back`), so that only forward edges rank."""
    # invisible links keep the phases in order, even two that no edge joins; a further column
    # of a phase is not linked, so it may share a rank with the next phase (drawn beside it)
    firsts: dict[int, str] = {}
    for node, (phase, _) in sorted(column.items(), key=lambda item: item[1]):
        firsts.setdefault(phase, node)
    out = [
        f"  {quote(firsts[a])} -> {quote(firsts[b])} [style=invis];"
        for a, b in pairwise(sorted(firsts))
    ]
    via = {e.id: junction_id(hub) for hub, back in bundled.items() for e in back}
    parallel: dict[tuple[str, str], list[Edge]] = {}
    for e in d.edges:
        parallel.setdefault((e.source, via.get(e.id, e.dest)), []).append(e)
    for (source, dest), group in parallel.items():
        attrs = _edge(group[0], d) if len(group) == 1 else _merged(group, d)
        if dest != group[0].dest:
            attrs["dir"] = "none"  # the arrowhead is on the junction's one arrow
        out.append(_arrow(source, dest, attrs, column))
    by_id = {n.id: n for n in d.nodes}
    for hub, back in bundled.items():
        out.append(_arrow(junction_id(hub), hub, _junction_edge(by_id[hub], back, d), column))
    return out


def _merged(group: list[Edge], d: Diagram) -> Attrs:
    """Edges between the same two states drawn as one (`dot` would stack their labels on top of
    each other): its label lists each edge's, its id names them all (joined by `+`), and it is
    drawn like the most travelled of them (a plain one before a dashed one)."""
    drawn = [_edge(e, d) for e in group]
    attrs = max(drawn, key=lambda a: (float(a.get("penwidth", 1.0)), a.get("style") is None)).copy()
    if len({a.get("fontcolor") for a in drawn}) > 1:  # mixed: the text in ink
        attrs.pop("fontcolor", None)
    attrs["id"] = "edge-" + "+".join(e.id for e in group)
    attrs["label"] = _label([line for e in group for line in edge_lines(e, width=EDGE_WIDTH)])
    tips = [str(a["tooltip"]) for a in drawn if "tooltip" in a]
    if tips:
        attrs["tooltip"] = "; ".join(tips)
    return attrs


def _arrow(source: str, dest: str, attrs: Attrs, column: dict[str, Column]) -> str:
    a, b = column.get(source), column.get(dest)
    if a is not None and b is not None:
        if a[0] != b[0] and (a[1] or b[1]):
            # a further column of a phase does not push the next phase along: it may share
            # that phase's rank (Differential review beside the next-line treatments)
            attrs["constraint"] = "false"
        elif a > b:
            attrs.setdefault("dir", "back")
            source, dest = dest, source
    return f"  {quote(source)} -> {quote(dest)} [{_attrs(attrs)}];"


def _bundle_color(back: list[Edge], d: Diagram) -> str:
    """The colour of the edges meeting at a junction: grey only when all of them are."""
    colors = [str(_edge(e, d).get("color", styles.INK)) for e in back]
    return next((c for c in colors if c != styles.DIM), styles.DIM)


def _junction_node(hub: Node, back: list[Edge], d: Diagram) -> str:
    """The point, beside `hub` in its rank, where the edges back to it meet."""
    attrs: Attrs = {
        "id": f"junction-{hub.id}",
        "label": "",
        "shape": "point",
        "width": 0.08,
        "color": _bundle_color(back, d),
        "tooltip": f"back to {hub.label}",
    }
    return f"{quote(junction_id(hub.id))} [{_attrs(attrs)}];"


def _junction_edge(hub: Node, back: list[Edge], d: Diagram) -> Attrs:
    """The one arrow from the junction into the hub, as wide as the widest edge into it."""
    return {
        "id": f"returns-{hub.id}",
        "tooltip": f"back to {hub.label}: "
        + ", ".join(f"{e.trigger} from {e.source}" for e in back),
        "color": _bundle_color(back, d),
        "penwidth": max(float(_edge(e, d).get("penwidth", 1.0)) for e in back),
    }


def _legend(d: Diagram) -> list[str]:
    """A strip across the graph (above it, where `dot` puts an unlinked cluster): one small node
    per kind side by side, on successive ranks, and the overlay's notes as its caption."""
    caption = ["Legend", *d.notes] if d.notes else ["Legend"]
    box: Attrs = {
        "id": "legend",
        "label": _label(caption, end="\\l"),
        "labeljust": "l",
        "labelloc": "b",
        "style": "dashed",
        "color": "#cbd5e1",
        "fontcolor": "#475569",
        "fontsize": 9,
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
            "margin": "0.04,0.02",
            "height": 0.3,
        }
        if k.peripheries > 1:
            attrs["peripheries"] = k.peripheries
        names.append(f"legend_{kind}")
        out.append(f"    {names[-1]} [{_attrs(attrs)}];")
    out.append(f"    {' -> '.join(names)} [style=invis];")
    out.append("  }")
    return out
