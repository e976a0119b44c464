"""The plain pathway graph: states, pseudo nodes, declared edges and phase clusters."""

from __future__ import annotations

from pathway.definition import Definition, Transition
from viz.model import Cluster, Edge, Node, edge_id

START = "_start"
"""The id of the entry point drawn before the initial state."""


def any_node_id(t: Transition) -> str:
    """The pseudo node a `source: "*"` transition is drawn from."""
    return f"_any_{t.trigger}_{t.dest}"


def base_nodes(definition: Definition) -> list[Node]:
    """The states in declaration order, then the pseudo nodes (entry, `*` sources)."""
    nodes = [
        Node(
            id=s.id,
            label=s.label,
            kind=s.kind,
            phase=s.phase,
            initial=s.initial,
            description=s.description,
        )
        for s in definition.states
    ]
    nodes.append(Node(id=START, label="start", kind="start"))
    for t in definition.transitions:
        if t.source == "*":
            sources = set(definition.sources_of(t))
            others = [s.label for s in definition.states if s.id not in sources]
            label = "any state" + (f" except {', '.join(others)}" if others else "")
            nodes.append(Node(id=any_node_id(t), label=label, kind="any"))
    return nodes


def declared_edges(definition: Definition, *, no_guards: bool = False) -> list[Edge]:
    """One edge per (source, trigger, dest); a `*` transition is one compact edge."""
    edges = [
        Edge(
            id=edge_id(START, "start", definition.initial_state),
            source=START,
            dest=definition.initial_state,
            trigger="start",
            style="start",
        )
    ]
    for t in definition.transitions:
        guard = "" if no_guards else t.guard_text()
        if t.source == "*":
            src = any_node_id(t)
            edges.append(
                Edge(
                    id=edge_id(src, t.trigger, t.dest),
                    source=src,
                    dest=t.dest,
                    trigger=t.trigger,
                    guard=guard,
                    style="any",
                    sources=definition.sources_of(t),
                )
            )
            continue
        edges += [
            Edge(
                id=edge_id(s, t.trigger, t.dest),
                source=s,
                dest=t.dest,
                trigger=t.trigger,
                guard=guard,
            )
            for s in t.source
        ]
    return edges


def taken_from(compact: Edge, source: str) -> Edge:
    """The edge a `*` transition made from one real state (its guard stays on the compact one)."""
    return Edge(
        id=edge_id(source, compact.trigger, compact.dest),
        source=source,
        dest=compact.dest,
        trigger=compact.trigger,
        style="any",
    )


def transition_of(definition: Definition) -> dict[str, Transition]:
    """Each declared edge id → its transition (the compact id for `*` transitions)."""
    out: dict[str, Transition] = {}
    for t in definition.transitions:
        sources = [any_node_id(t)] if t.source == "*" else t.source
        for s in sources:
            out[edge_id(s, t.trigger, t.dest)] = t
    return out


def clusters(definition: Definition) -> list[Cluster]:
    """Phases in declaration order with their states (empty phases are left out)."""
    out = []
    for p in definition.phases:
        members = [s.id for s in definition.states if s.phase == p.id]
        if members:
            out.append(Cluster(id=p.id, label=p.label, nodes=members))
    return out
