"""Definition diff: a definition against itself is empty; renames, guards and phases are marked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import viz
from pathway import Definition, load_definition

Edit = Callable[[Callable[[dict[str, Any]], None]], Path]


def test_a_definition_against_itself_is_empty(trd: Definition) -> None:
    d = viz.diff(trd, trd)
    assert d.empty
    assert d.changes == []
    assert all(n.change is None for n in d.diagram.nodes)
    assert all(e.change is None for e in d.diagram.edges)
    assert d.diagram.subtitle == "no changes"
    assert json.loads(d.to_json()) == {"old": "trd 1.1.0", "new": "trd 1.1.0", "changes": []}


def test_a_copy_on_disk_is_the_same_definition(trd: Definition, edited_definition: Edit) -> None:
    assert viz.diff(trd, edited_definition(lambda data: None)).empty


def rename_maintenance(data: dict[str, Any]) -> None:
    for s in data["states"]:
        if s["id"] == "maintenance":
            s["id"] = "continuation"
    for t in data["transitions"]:
        if t["dest"] == "maintenance":
            t["dest"] = "continuation"
        if isinstance(t["source"], list):
            t["source"] = ["continuation" if s == "maintenance" else s for s in t["source"]]


def test_a_renamed_state_is_removed_and_added(trd: Definition, edited_definition: Edit) -> None:
    d = viz.diff(trd, load_definition(edited_definition(rename_maintenance)))
    states = {(c.id, c.change) for c in d.changes if c.item == "state"}
    assert states == {("maintenance", "removed"), ("continuation", "added")}
    transitions = {(c.id, c.change) for c in d.changes if c.item == "transition"}
    assert transitions == {
        ("reassess--remit->maintenance", "removed"),
        ("maintenance--relapse->reassess", "removed"),
        ("reassess--remit->continuation", "added"),
        ("continuation--relapse->reassess", "added"),
        # escalate leaves from every state, so its list of sources changed too
        ("_any_escalate_neurostimulation--escalate->neurostimulation", "changed"),
    }
    assert d.diagram.node("maintenance").change == "removed"
    assert d.diagram.node("continuation").change == "added"
    outcome = next(c for c in d.diagram.clusters if c.id == "outcome")
    assert {"maintenance", "continuation"} <= set(outcome.nodes)


def test_guard_and_label_changes_are_marked(trd: Definition, edited_definition: Edit) -> None:
    def edit(data: dict[str, Any]) -> None:
        remit = next(t for t in data["transitions"] if t["trigger"] == "remit")
        remit["guard"] = {"pred": "outcome", "in": ["remission", "response"]}
        remit["label"] = "remission or response"

    d = viz.diff(trd, edited_definition(edit))
    [change] = d.changes
    assert (change.item, change.id, change.change) == (
        "transition",
        "reassess--remit->maintenance",
        "changed",
    )
    assert change.fields["label"] == (
        "remission in the current step (trial or procedure course)",
        "remission or response",
    )
    assert set(change.fields) == {"label", "guard"}
    edge = d.diagram.edge("reassess--remit->maintenance")
    assert edge.change == "changed"
    assert "[changed: label, guard]" in str(viz.render_diagram(d.diagram, fmt="dot"))


def test_escalate_sources_and_phases(trd: Definition, edited_definition: Edit) -> None:
    def edit(data: dict[str, Any]) -> None:
        escalate = next(t for t in data["transitions"] if t["trigger"] == "escalate")
        escalate["exclude"] = ["neurostimulation", "rapid_acting"]
        data["phases"][3]["label"] = "Outcomes"

    d = viz.diff(trd, edited_definition(edit))
    kinds = {(c.item, c.id, c.change): c.fields for c in d.changes}
    sources = kinds[
        ("transition", "_any_escalate_neurostimulation--escalate->neurostimulation", "changed")
    ]["sources"]
    assert "rapid_acting" in sources[0] and "rapid_acting" not in sources[1]
    assert kinds[("phase", "outcome", "changed")] == {"label": ("Outcome", "Outcomes")}
    assert d.diagram.node("_any_escalate_neurostimulation").change == "changed"


def test_diff_renders_in_every_text_format(trd: Definition, edited_definition: Edit) -> None:
    d = viz.diff(trd, edited_definition(rename_maintenance))
    mermaid = str(viz.render_diagram(d.diagram, fmt="mermaid"))
    assert "class continuation added" in mermaid
    assert "class maintenance removed" in mermaid
    data = json.loads(str(viz.render_diagram(d.diagram, fmt="json")))
    assert data["overlay"] == "diff"
    assert {n["id"]: n["change"] for n in data["nodes"]}["continuation"] == "added"
