"""SVG from Graphviz, parsed as XML: every state and transition is there with its label."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import date

import pytest

import viz
from pathway import Definition
from viz import PatientPath

SVG = "{http://www.w3.org/2000/svg}"
pytestmark = pytest.mark.usefixtures("needs_dot")


def groups(svg: bytes | str) -> dict[str, str]:
    """id of each <g> → all its text, lines joined by spaces."""
    root = ET.fromstring(svg)
    out = {}
    for g in root.iter(f"{SVG}g"):
        if "id" in g.attrib:
            texts = [t.text or "" for t in g.iter(f"{SVG}text")]
            out[g.attrib["id"]] = re.sub(r"\s+", " ", " ".join(texts)).strip()
    return out


def test_every_state_is_drawn_with_its_label(trd: Definition) -> None:
    drawn = groups(viz.render(trd, fmt="svg"))
    for state in trd.states:
        assert drawn[f"node-{state.id}"].startswith(state.label), state.id


def test_every_transition_is_drawn_with_trigger_and_guard(trd: Definition) -> None:
    drawn = groups(viz.render(trd, fmt="svg"))
    # edges between the same two states are drawn as one: `edge-<id>+<id>`, labels in order
    expected = {"_start--start->initial_trial": ""}
    for t in trd.transitions:
        sources = ["_any_" + t.trigger + "_" + t.dest] if t.source == "*" else t.source
        for src in sources:
            expected[f"{src}--{t.trigger}->{t.dest}"] = f"{t.trigger} [{t.guard_text()}]"
    edges = {k: v for k, v in drawn.items() if k.startswith("edge-")}
    for key, text in edges.items():
        ids = key.removeprefix("edge-").split("+")
        assert text == " ".join(expected.pop(i) for i in ids).strip()
    assert expected == {}
    assert "edge-reassess--complete->complete_trial+reassess--optimize->complete_trial" in edges


def test_returns_to_reassess_meet_at_one_junction(trd: Definition) -> None:
    svg = viz.render(trd, fmt="svg")
    drawn = groups(svg)
    assert "junction-reassess" in drawn
    assert "returns-reassess" in drawn
    root = ET.fromstring(svg)
    titles = {g.get("id"): g.findtext(f"{SVG}title") for g in root.iter(f"{SVG}g")}
    # each return keeps its own label, and ends at the junction (`dot` writes it reversed)
    assert titles["edge-switch--reassess->reassess"] == "_returns_reassess->switch"
    assert drawn["edge-switch--reassess->reassess"].startswith("reassess [the trial reached")
    assert titles["edge-initial_trial--reassess->reassess"] == "initial_trial->reassess"


def test_escalate_is_one_dashed_edge_from_an_any_state_node(trd: Definition) -> None:
    svg = viz.render(trd, fmt="svg")
    drawn = groups(svg)
    escalates = [k for k in drawn if k.startswith("edge-") and "--escalate->" in k]
    assert escalates == ["edge-_any_escalate_neurostimulation--escalate->neurostimulation"]
    assert drawn["node-_any_escalate_neurostimulation"] == (
        "any state except Neurostimulation, Exited pathway"
    )
    root = ET.fromstring(svg)
    edge = next(g for g in root.iter(f"{SVG}g") if g.get("id") == escalates[0])
    assert "stroke-dasharray" in ET.tostring(edge, encoding="unicode")


def test_legend_shows_every_kind(trd: Definition) -> None:
    drawn = groups(viz.render(trd, fmt="svg"))
    kinds = ("treatment", "decision", "evaluation", "procedure", "continuing", "final")
    assert all(drawn[f"legend-{k}"] == k for k in kinds)


def test_no_guards_keeps_triggers_only(trd: Definition) -> None:
    drawn = groups(viz.render(trd, fmt="svg", no_guards=True))
    assert drawn["edge-reassess--remit->maintenance"] == "remit"


def test_title_names_definition_and_as_of(
    trd: Definition, make_path: Callable[..., PatientPath]
) -> None:
    path = make_path([("initial_trial", "reassess", "reassess")])
    root = ET.fromstring(viz.render(trd, fmt="svg", patient=path))
    graph = next(g for g in root.iter(f"{SVG}g") if g.get("id") == "pathway")
    title = " ".join(t.text or "" for t in graph.findall(f"{SVG}text"))
    assert "trd 1.1.0" in title
    assert "P-001" in title
    assert date(2026, 6, 1).isoformat() in title


def test_patient_overlay_in_svg_numbers_moves(
    trd: Definition, make_path: Callable[..., PatientPath]
) -> None:
    path = make_path(
        [
            ("initial_trial", "reassess", "reassess"),
            ("reassess", "switch", "switch"),
            ("switch", "reassess", "reassess"),
            ("reassess", None, "maintenance", "CLINICIAN_JUDGEMENT"),
        ],
        days={"initial_trial": 40, "reassess": 3, "switch": 50, "maintenance": 10},
    )
    drawn = groups(viz.render(trd, fmt="svg", patient=path))
    assert drawn["edge-initial_trial--reassess->reassess"].startswith("#1 reassess")
    assert drawn["edge-reassess--switch->switch"].startswith("#2 switch")
    assert drawn["edge-switch--reassess->reassess"].startswith("#3 reassess")
    assert drawn["edge-reassess--remit->maintenance+reassess==override=>maintenance"] == (
        "remit [remission in the current step (trial or procedure course)] "
        "#4 override: CLINICIAN_JUDGEMENT"
    )
    assert drawn["node-maintenance"] == "Maintenance ● current state 10 days"


@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_binary_formats(trd: Definition, fmt: str, magic: bytes) -> None:
    data = viz.render(trd, fmt=fmt)
    assert isinstance(data, bytes)
    assert data.startswith(magic)


def test_cohort_overlay_in_svg_shows_counts_and_hides_small_ones(
    trd: Definition, make_path: Callable[..., PatientPath]
) -> None:
    start = ("initial_trial", "reassess", "reassess")
    paths = [make_path([start])] * 30 + [make_path([start, ("reassess", "exit", "exited")])] * 2
    cohort = viz.aggregate(paths, as_of=date(2026, 6, 1))
    drawn = groups(viz.render(trd, fmt="svg", cohort=cohort))
    assert drawn["edge-initial_trial--reassess->reassess"].endswith("32 (100%)")
    assert drawn["edge-reassess--exit->exited"].endswith("≤10")
    # a diamond's overlay line is split in two (it grows with its widest line)
    assert drawn["node-reassess"] == "Reassess now * entered 32"
