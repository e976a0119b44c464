"""Invalid definitions: one fixture per error class, each with its exact file:line, dotted path and
message; and all problems of a definition reported together.

Each fixture in invalid_definitions/ is definitions/trd.yaml with its `catalog:` paths pointed
back at definitions/ and one minimal edit (its first line says which).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pathway import DefinitionError, load_definition

FIXTURES = Path(__file__).parent / "invalid_definitions"
TRD = Path(__file__).resolve().parents[2] / "definitions" / "trd.yaml"

# fixture → [(line, dotted path, message)]
EXPECTED = {
    "malformed_yaml.yaml": [
        (199, "", "malformed YAML: expected ',' or '}', but got ':'"),
    ],
    "unknown_state_in_dest.yaml": [
        (
            249,
            "transitions[8].dest",
            "unknown state 'neurostimulaton' (did you mean 'neurostimulation'?)",
        ),
    ],
    "unknown_predicate.yaml": [
        (
            208,
            "transitions[3].guard.pred",
            "unknown predicate 'diferential_clear' (did you mean 'differential_clear'?)",
        ),
    ],
    "bad_predicate_parameter.yaml": [
        (
            213,
            "transitions[4].guard.in[0]",
            "Input should be 'remission', 'relapsed', 'response', 'partial', 'none' or 'unknown'"
            " (did you mean 'remission'?)",
        ),
    ],
    "unexpected_predicate_parameter.yaml": [
        (198, "transitions[1].guard.role", "unknown field 'role'"),
    ],
    "unknown_parameter.yaml": [
        (23, "parameters.min_adherence", "missing parameter 'min_adherence'"),
        (
            33,
            "parameters.min_adherance",
            "unknown parameter 'min_adherance' (did you mean 'min_adherence'?)",
        ),
    ],
    "missing_parameter.yaml": [
        (23, "parameters.stop_bang_positive_min", "missing parameter 'stop_bang_positive_min'"),
    ],
    "bad_parameter_value.yaml": [
        (33, "parameters.min_adherence.value", "must be a fraction 0–1"),
    ],
    "no_initial_state.yaml": [
        (135, "states", "no initial state: mark exactly one state with `initial: true`"),
    ],
    "two_initial_states.yaml": [
        (135, "states", "2 initial states (initial_trial, reassess); exactly one is allowed"),
    ],
    "unreachable_state.yaml": [
        (
            176,
            "states[8].id",
            "state 'maintenance' is unreachable from the initial state 'initial_trial'",
        ),
    ],
    "dead_end.yaml": [
        (
            171,
            "states[7].id",
            "state 'neurostimulation' is a dead end: it is not final and no transition leaves it",
        ),
    ],
    "duplicate_state.yaml": [
        (185, "states[10].id", "duplicate state 'exited'"),
    ],
    "unknown_recommendation_trigger.yaml": [
        (
            290,
            "recommendation.order[8].trigger",
            "unknown trigger 'refer_neurostim' (did you mean 'refer_neurostimulation'?)",
        ),
    ],
    "unknown_field.yaml": [
        (145, "states[1].descripton", "unknown field 'descripton' (did you mean 'description'?)"),
    ],
}


def _issues(name):
    with pytest.raises(DefinitionError) as caught:
        load_definition(FIXTURES / name)
    return caught.value


def test_every_fixture_is_in_the_table():
    on_disk = {p.name for p in FIXTURES.glob("*.yaml")}
    assert on_disk == {*EXPECTED, "several_problems.yaml"}


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=lambda n: n.removesuffix(".yaml"))
def test_invalid_definition(name):
    error = _issues(name)
    assert [(i.file, i.line, i.loc, i.message) for i in error.issues] == [
        (name, line, loc, message) for line, loc, message in EXPECTED[name]
    ]
    assert error.source == name


def test_issue_text_is_file_line_path_message():
    [issue] = _issues("unknown_state_in_dest.yaml").issues
    assert str(issue) == (
        "unknown_state_in_dest.yaml:249: transitions[8].dest: "
        "unknown state 'neurostimulaton' (did you mean 'neurostimulation'?)"
    )


def test_issue_text_shows_a_value_the_message_does_not_name():
    [issue] = _issues("bad_parameter_value.yaml").issues
    assert str(issue) == (
        "bad_parameter_value.yaml:33: parameters.min_adherence.value: must be a fraction 0–1 "
        "(got 80.0)"
    )


def test_several_problems_are_reported_together():
    error = _issues("several_problems.yaml")
    assert [(i.line, i.loc, i.message) for i in error.issues] == [
        (33, "parameters.min_adherence.value", "must be a fraction 0–1"),
        (135, "states", "2 initial states (initial_trial, reassess); exactly one is allowed"),
        (146, "states[1].descripton", "unknown field 'descripton' (did you mean 'description'?)"),
        (
            209,
            "transitions[3].guard.pred",
            "unknown predicate 'diferential_clear' (did you mean 'differential_clear'?)",
        ),
        (
            250,
            "transitions[8].dest",
            "unknown state 'neurostimulaton' (did you mean 'neurostimulation'?)",
        ),
    ]
    assert str(error).startswith("several_problems.yaml: 5 problems in the definition:\n")


def test_fixture_base_is_valid(tmp_path):
    # The fixtures' only shared change, catalog paths relative to the definition, loads cleanly.
    text = TRD.read_text(encoding="utf-8")
    text = text.replace("drugs: drugs.yaml", f"drugs: {TRD.parent / 'drugs.yaml'}")
    text = text.replace(
        "instruments: instruments.yaml", f"instruments: {TRD.parent / 'instruments.yaml'}"
    )
    copy = tmp_path / "copy.yaml"
    copy.write_text(text, encoding="utf-8")
    assert load_definition(copy).metadata.id == "trd"


def test_missing_definition_file():
    with pytest.raises(DefinitionError, match="definition file not found"):
        load_definition(FIXTURES / "no_such_file.yaml")


def test_a_catalog_that_cannot_be_found_is_a_definition_error(tmp_path):
    copy = tmp_path / "trd.yaml"
    copy.write_text(TRD.read_text(encoding="utf-8"), encoding="utf-8")  # catalog not beside it
    with pytest.raises(DefinitionError) as caught:
        load_definition(copy)
    assert [(i.loc, i.value, i.message) for i in caught.value.issues] == [
        ("catalog.drugs", "drugs.yaml", f"catalog file not found: {tmp_path / 'drugs.yaml'}"),
        (
            "catalog.instruments",
            "instruments.yaml",
            f"catalog file not found: {tmp_path / 'instruments.yaml'}",
        ),
    ]


def test_the_shipped_definition_is_valid(trd):
    assert (trd.metadata.id, trd.metadata.version) == ("trd", "1.1.0")
    assert trd.initial_state == "initial_trial"


def test_a_recommended_trigger_must_leave_the_decision_state(tmp_path):
    # `relapse` exists, but only from maintenance: recommending it at reassess is a mistake.
    text = (FIXTURES / "unknown_recommendation_trigger.yaml").read_text(encoding="utf-8")
    copy = tmp_path / "relapse_in_order.yaml"
    copy.write_text(text.replace("trigger: refer_neurostim\n", "trigger: relapse\n"))
    catalog = TRD.parent
    copy.write_text(
        copy.read_text().replace("../../../definitions", str(catalog)), encoding="utf-8"
    )
    with pytest.raises(DefinitionError) as caught:
        load_definition(copy)
    assert [(i.line, i.loc, i.message) for i in caught.value.issues] == [
        (
            290,
            "recommendation.order[8].trigger",
            "trigger 'relapse' does not leave the decision state 'reassess'",
        )
    ]
