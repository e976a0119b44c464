"""How the DOT drawing is arranged, so that it reads at page width with no label on another.

- *Columns*: the drawing runs left to right, one rank per phase, the phases in the order paths
  reach them (`phase_order`, `columns`).
- *Returns*: a *hub* is a state that others are sent to and come back from (Reassess in the TRD
  pathway). The edges back to it meet at one junction point beside it, then one arrow goes in
  (`returns`): fewer arrowheads on the hub, and no two opposite edges between a pair of states,
  whose labels `dot` draws on top of each other (it routes `a -> b` and `b -> a` as one chain).

Only the drawing changes: the diagram model (and so JSON and Mermaid) keeps one edge per
transition, each with its own label and counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from viz.graph import START
from viz.model import Diagram, Edge

JUNCTION = "_returns_"
"""The id prefix of a hub's junction node (the hub's id follows)."""


def returns(diagram: Diagram) -> dict[str, list[Edge]]:
    """Hub id → the edges that come back to it, in drawing order.

    An edge `a -> b` comes back when `b -> a` is drawn too; of the two states, the one with more
    such partners is the hub (on a tie, the one declared first), so each opposite pair is split
    once, at the hub's end.
    """
    pairs = {(e.source, e.dest) for e in diagram.edges}
    partners: defaultdict[str, set[str]] = defaultdict(set)
    for a, b in pairs:
        if a != b and (b, a) in pairs:
            partners[a].add(b)
    order = {n.id: i for i, n in enumerate(diagram.nodes)}

    def is_hub(node: str, other: str) -> bool:
        mine, theirs = len(partners[node]), len(partners[other])
        return mine > theirs or (mine == theirs and order[node] < order[other])

    out: dict[str, list[Edge]] = {}
    for e in diagram.edges:
        if e.source in partners[e.dest] and is_hub(e.dest, e.source):
            out.setdefault(e.dest, []).append(e)
    return out


def junction_id(hub: str) -> str:
    """The id of the node where the edges back to `hub` meet."""
    return JUNCTION + hub


def _depths(starts: list[str], nexts: Mapping[str, list[str]]) -> dict[str, int]:
    """The fewest moves from any of `starts` to each node reached (breadth first)."""
    depth = dict.fromkeys(starts, 0)
    frontier = starts
    while frontier:
        reached = []
        for node in frontier:
            for dest in nexts.get(node, ()):
                if dest not in depth:
                    depth[dest] = depth[node] + 1
                    reached.append(dest)
        frontier = reached
    return depth


def phase_order(diagram: Diagram) -> list[str]:
    """The phases (cluster ids) in the order paths reach them: by the fewest moves from the entry
    point to any of their states, then as declared (a phase no path reaches comes last)."""
    nexts: defaultdict[str, list[str]] = defaultdict(list)
    for e in diagram.edges:
        nexts[e.source].append(e.dest)
    depth = _depths([START], nexts)
    never = len(depth) + 1
    first = {
        c.id: (min((depth.get(n, never) for n in c.nodes), default=never), i)
        for i, c in enumerate(diagram.clusters)
    }
    return sorted(first, key=first.__getitem__)


Column = tuple[int, int]
"""Where a state is drawn: (its phase's place in `phase_order`, its step within the phase)."""


def columns(diagram: Diagram) -> dict[str, Column]:
    """Each clustered state's column. The states of a phase share one rank, except that a state
    entered only from inside its phase goes one rank further (Differential review, after
    Reassess): `dot` overlaps the labels of edges within one rank."""
    order = {p: i for i, p in enumerate(phase_order(diagram))}
    phase = {n: c.id for c in diagram.clusters for n in c.nodes}
    inside: defaultdict[str, list[str]] = defaultdict(list)
    entered = set()
    for e in diagram.edges:
        if e.dest not in phase:
            continue
        if phase.get(e.source) == phase[e.dest]:
            inside[e.source].append(e.dest)
        else:
            entered.add(e.dest)
    out: dict[str, Column] = {}
    for c in diagram.clusters:
        step = _depths([n for n in c.nodes if n in entered] or c.nodes[:1], inside)
        out.update({n: (order[c.id], step.get(n, 0)) for n in c.nodes})
    return out
