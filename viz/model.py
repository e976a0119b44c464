"""The diagram model: what is drawn (nodes, edges, clusters, title), independent of any format."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pathway.definition import StateKind

NodeKind = StateKind | Literal["any", "start"]
"""A state's kind, or a pseudo node: `any` (the source of a `*` transition), `start` (entry)."""

EdgeStyle = Literal["normal", "any", "start", "override"]
"""`any`: a compact edge from every state (`source: "*"`); `start`: entry into the initial state;
`override`: a move taken outside the declared transitions (patient or cohort overlay)."""

Change = Literal["added", "removed", "changed"]
Overlay = Literal["none", "patient", "cohort", "diff"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Cell(_Frozen):
    """A published number: `value` is None when suppressed, `display` is what is printed."""

    value: int | float | None
    display: str


class Node(_Frozen):
    """A state (or a pseudo node), with the overlay numbers that belong to it."""

    id: str
    label: str
    kind: NodeKind
    phase: str | None = None
    initial: bool = False
    description: str = ""
    change: Change | None = None
    changes: dict[str, tuple[str, str]] = {}
    # patient overlay
    visited: bool = False
    current: bool = False
    days: int | None = None
    # cohort overlay: patients there now, entries into the state, median days per patient
    patients: Cell | None = None
    entered: Cell | None = None
    median_days: Cell | None = None


class Edge(_Frozen):
    """A drawn arrow: one declared (source, trigger, dest), a compact `*` edge, or an override."""

    id: str
    source: str
    dest: str
    trigger: str
    guard: str = ""
    style: EdgeStyle = "normal"
    sources: list[str] = []
    change: Change | None = None
    changes: dict[str, tuple[str, str]] = {}
    # patient overlay: the step numbers (1-based) that took this edge, and override reasons
    steps: list[int] = []
    reasons: list[str] = []
    # cohort overlay
    traversals: Cell | None = None
    conversion: Cell | None = None
    width: float = 1.0


class Cluster(_Frozen):
    """A phase, drawn as a box around its states."""

    id: str
    label: str
    nodes: list[str]
    change: Change | None = None


class Diagram(_Frozen):
    """Everything a renderer needs; nodes and edges are in a stable (declaration) order."""

    definition_id: str
    definition_version: str
    title: str
    subtitle: str = ""
    overlay: Overlay = "none"
    as_of: date | None = None
    nodes: list[Node]
    edges: list[Edge]
    clusters: list[Cluster]
    notes: list[str] = []

    def node(self, node_id: str) -> Node:
        """The node with this id (KeyError if absent)."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def edge(self, edge_id: str) -> Edge:
        """The edge with this id (KeyError if absent)."""
        for e in self.edges:
            if e.id == edge_id:
                return e
        raise KeyError(edge_id)


def edge_id(source: str, trigger: str, dest: str, *, override: bool = False) -> str:
    """The stable id of an edge: `source--trigger->dest`, or `source==trigger=>dest` for an
    override (which may reuse a declared trigger, so it needs an id of its own)."""
    return f"{source}=={trigger}=>{dest}" if override else f"{source}--{trigger}->{dest}"
