"""The patient overlay: visited states, numbered moves, current state, overrides, days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from pydantic import ValidationError

import viz
from pathway import Definition
from viz import OverlayMismatch, PathStep, PatientPath

Make = Callable[..., PatientPath]

MOVES = [
    ("initial_trial", "reassess", "reassess"),
    ("reassess", "switch", "switch"),
    ("switch", "reassess", "reassess"),
    ("reassess", "escalate", "neurostimulation"),
    ("neurostimulation", "reassess", "reassess"),
    ("reassess", None, "augment", "PATIENT_PREFERENCE"),
]
DAYS = {"initial_trial": 42, "reassess": 6, "switch": 49, "neurostimulation": 35, "augment": 20}


def test_visited_current_and_days(trd: Definition, make_path: Make) -> None:
    d = viz.build(trd, patient=make_path(MOVES, days=DAYS))
    visited = {n.id for n in d.nodes if n.visited}
    assert visited == {"initial_trial", "reassess", "switch", "neurostimulation", "augment"}
    assert [n.id for n in d.nodes if n.current] == ["augment"]
    assert {n.id: n.days for n in d.nodes if n.days is not None} == DAYS
    assert d.overlay == "patient"
    assert d.as_of == date(2026, 6, 1)


def test_moves_are_numbered_in_order_on_their_edges(trd: Definition, make_path: Make) -> None:
    d = viz.build(trd, patient=make_path(MOVES, days=DAYS))
    steps = {e.id: e.steps for e in d.edges if e.steps}
    assert steps == {
        "initial_trial--reassess->reassess": [1],
        "reassess--switch->switch": [2],
        "switch--reassess->reassess": [3],
        "reassess--escalate->neurostimulation": [4],
        "neurostimulation--reassess->reassess": [5],
        "reassess==override=>augment": [6],
    }


def test_a_star_move_is_drawn_from_the_state_it_left(trd: Definition, make_path: Make) -> None:
    d = viz.build(trd, patient=make_path(MOVES, days=DAYS))
    ids = [e.id for e in d.edges]
    compact = "_any_escalate_neurostimulation--escalate->neurostimulation"
    taken = "reassess--escalate->neurostimulation"
    assert ids.index(taken) == ids.index(compact) + 1
    assert d.edge(taken).style == "any"
    assert d.edge(compact).steps == []


def test_override_is_its_own_edge_with_reason(trd: Definition, make_path: Make) -> None:
    path = make_path(
        [
            ("initial_trial", "reassess", "reassess"),
            ("reassess", "augment", "augment", "GUARD_UNKNOWN_LABS_PENDING"),
            ("augment", "reassess", "reassess"),
            ("reassess", "augment", "augment"),
        ]
    )
    d = viz.build(trd, patient=path)
    override = d.edge("reassess==augment=>augment")
    assert override.style == "override"
    assert override.steps == [2]
    assert override.reasons == ["GUARD_UNKNOWN_LABS_PENDING"]
    assert d.edge("reassess--augment->augment").steps == [4]


def test_repeated_edge_lists_every_step(trd: Definition, make_path: Make) -> None:
    path = make_path(
        [
            ("initial_trial", "reassess", "reassess"),
            ("reassess", "review", "differential_review"),
            ("differential_review", "resolve", "reassess"),
            ("reassess", "review", "differential_review"),
        ]
    )
    assert viz.build(trd, patient=path).edge("reassess--review->differential_review").steps == [
        2,
        4,
    ]


def test_a_path_with_no_moves_is_in_the_initial_state(trd: Definition, make_path: Make) -> None:
    d = viz.build(trd, patient=make_path([], days={"initial_trial": 12}))
    assert [n.id for n in d.nodes if n.visited] == ["initial_trial"]
    assert d.node("initial_trial").current


@pytest.mark.parametrize(
    "moves, message",
    [
        ([("initial_trial", "reassess", "nowhere")], "state 'nowhere' is not declared"),
        ([("initial_trial", "remit", "maintenance")], "is not a declared transition"),
    ],
    ids=["unknown-state", "undeclared-move"],
)
def test_paths_that_do_not_fit_the_definition_are_refused(
    trd: Definition, make_path: Make, moves: list[tuple[str, str, str]], message: str
) -> None:
    with pytest.raises(OverlayMismatch, match=message):
        viz.build(trd, patient=make_path(moves))


def test_steps_must_chain() -> None:
    step = PathStep(source="reassess", dest="switch", trigger="switch", effective=date(2026, 1, 1))
    with pytest.raises(ValidationError, match="step 2 leaves 'reassess'"):
        PatientPath(patient_id="P", as_of=date(2026, 6, 1), current="switch", steps=[step, step])
    with pytest.raises(ValidationError, match="current is 'augment'"):
        PatientPath(patient_id="P", as_of=date(2026, 6, 1), current="augment", steps=[step])


def test_mermaid_carries_numbers_and_override(trd: Definition, make_path: Make) -> None:
    text = str(viz.render(trd, fmt="mermaid", patient=make_path(MOVES, days=DAYS)))
    assert "reassess --> augment : #35;6 override#58; PATIENT_PREFERENCE" in text
    assert "reassess --> neurostimulation : #35;4<br>escalate" in text
    assert "class augment current" in text
