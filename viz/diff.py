"""Compare two definitions: added, removed and changed phases, states, transitions and guards.

Things are matched by id: a state by its id, a transition by (source, trigger, dest) — so a
renamed state is one removed and one added, with its transitions. A `*` transition is matched as
one compact edge; a change in the states it leaves from shows as a change of its `sources`.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pathway.definition import Definition, Transition
from pathway.guards import describe
from viz.graph import base_nodes, clusters, declared_edges, transition_of
from viz.model import Change, Cluster, Diagram, Edge, Node
from viz.render import DefinitionLike, as_definition

Item = Literal["phase", "state", "transition"]


class ItemChange(BaseModel):
    """One difference: what changed and, for `changed`, each field's (old, new) value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item: Item
    id: str
    change: Change
    fields: dict[str, tuple[str, str]] = {}


class DefinitionDiff(BaseModel):
    """The differences between two definitions, and a diagram that marks them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    old: str
    new: str
    changes: list[ItemChange]
    diagram: Diagram

    @property
    def empty(self) -> bool:
        return not self.changes

    def to_json(self) -> str:
        """The changes as stable JSON (the diagram itself: `render_diagram(d.diagram, fmt=...)`)."""
        data = self.model_dump(mode="json", exclude={"diagram"})
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def diff(old: DefinitionLike, new: DefinitionLike) -> DefinitionDiff:
    """What changed from `old` to `new` (definitions, YAML paths or shipped ids)."""
    a, b = as_definition(old), as_definition(new)
    changes: list[ItemChange] = []

    phases_a = {p.id: {"label": p.label} for p in a.phases}
    phases_b = {p.id: {"label": p.label} for p in b.phases}
    phase_marks = _compare("phase", phases_a, phases_b, changes)

    nodes_a = {n.id: n for n in base_nodes(a)}
    nodes_b = {n.id: n for n in base_nodes(b)}
    state_marks = _compare(
        "state",
        {s.id: _state_fields(nodes_a[s.id]) for s in a.states},
        {s.id: _state_fields(nodes_b[s.id]) for s in b.states},
        changes,
    )

    edges_a = {e.id: e for e in declared_edges(a)}
    edges_b = {e.id: e for e in declared_edges(b)}
    ta, tb = transition_of(a), transition_of(b)
    edge_marks = _compare(
        "transition",
        {eid: _edge_fields(e, ta[eid]) for eid, e in edges_a.items() if e.style != "start"},
        {eid: _edge_fields(e, tb[eid]) for eid, e in edges_b.items() if e.style != "start"},
        changes,
    )
    start_a = next(e for e in edges_a.values() if e.style == "start")
    start_b = next(e for e in edges_b.values() if e.style == "start")
    if start_a.id != start_b.id:
        edge_marks.update({start_a.id: ("removed", {}), start_b.id: ("added", {})})
    # a `*` transition's pseudo node carries the mark of its compact edge
    for e in [*edges_a.values(), *edges_b.values()]:
        if e.style == "any" and e.id in edge_marks:
            state_marks[e.source] = edge_marks[e.id]

    def mark_node(n: Node) -> Node:
        change, fields = state_marks.get(n.id, (None, {}))
        return n.model_copy(update={"change": change, "changes": fields})

    def mark_edge(e: Edge) -> Edge:
        change, fields = edge_marks.get(e.id, (None, {}))
        return e.model_copy(update={"change": change, "changes": fields})

    nodes = [*nodes_b.values(), *(n for nid, n in nodes_a.items() if nid not in nodes_b)]
    edges = [*edges_b.values(), *(e for eid, e in edges_a.items() if eid not in edges_b)]
    removed = {s.id: s.phase for s in a.states if s.id not in nodes_b}
    groups = [
        *(
            c.model_copy(
                update={"nodes": [*c.nodes, *(s for s, p in removed.items() if p == c.id)]}
            )
            for c in clusters(b)
        ),
        *(c for c in clusters(a) if c.id not in phases_b),
    ]
    counts = {k: sum(c.change == k for c in changes) for k in ("added", "removed", "changed")}
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no changes"
    diagram = Diagram(
        definition_id=b.metadata.id,
        definition_version=b.metadata.version,
        title=f"{b.metadata.title}: {_name(a)} → {_name(b)}",
        subtitle=summary,
        overlay="diff",
        nodes=[mark_node(n) for n in nodes],
        edges=[mark_edge(e) for e in edges],
        clusters=[_mark_cluster(c, phase_marks) for c in groups],
        notes=[
            "green: added",
            "red, dashed: removed",
            "orange: changed (the fields are named)",
            "grey: unchanged",
        ],
    )
    return DefinitionDiff(old=_name(a), new=_name(b), changes=changes, diagram=diagram)


Marks = dict[str, tuple[Change | None, dict[str, tuple[str, str]]]]


def _compare(
    item: Item,
    old: dict[str, dict[str, str]],
    new: dict[str, dict[str, str]],
    changes: list[ItemChange],
) -> Marks:
    """Append the differences to `changes` (new order, then removed ones); return id → mark."""
    marks: Marks = {}
    for key, fields in new.items():
        if key not in old:
            marks[key] = ("added", {})
        else:
            moved = {f: (old[key][f], v) for f, v in fields.items() if old[key][f] != v}
            if moved:
                marks[key] = ("changed", moved)
    marks.update({key: ("removed", {}) for key in old if key not in new})
    changes += [
        ItemChange(item=item, id=k, change=c, fields=f)
        for k, (c, f) in marks.items()
        if c is not None
    ]
    return marks


def _state_fields(n: Node) -> dict[str, str]:
    return {
        "label": n.label,
        "kind": n.kind,
        "phase": n.phase or "",
        "initial": str(n.initial).lower(),
        "description": n.description,
    }


def _edge_fields(e: Edge, t: Transition) -> dict[str, str]:
    return {
        "label": t.guard_text(),
        "guard": describe(t.guard),
        "sources": ", ".join(e.sources),
        "description": t.description,
    }


def _mark_cluster(c: Cluster, marks: Marks) -> Cluster:
    return c.model_copy(update={"change": marks.get(c.id, (None, {}))[0]})


def _name(d: Definition) -> str:
    return f"{d.metadata.id} {d.metadata.version}"
