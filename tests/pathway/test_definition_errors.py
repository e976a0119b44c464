"""Invalid definitions: one case per error class, each with its exact file:line, dotted path and
message; and all problems of a definition reported together.

Each case is a small text patch over the shipped definitions/trd.yaml (written beside no catalog:
its `catalog:` paths name the shipped files). The expected line of each problem is computed from
the patched text (the line an anchor starts on), so editing the definition breaks no case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pathway import DefinitionError, load_definition

TRD = Path(__file__).resolve().parents[2] / "definitions" / "trd.yaml"

RECOMMEND_NEURO = "    - trigger: refer_neurostimulation\n      when:"
REMIT = "    guard: {pred: outcome, role: step, in: [remission]}"
DUPLICATE = (
    "  - id: exited\n    kind: final\n    phase: outcome\n    label: Exited pathway (again)\n"
)

# case → ([(old text, new text)], [(anchor: the text the problem's line starts with, dotted path,
# message)]). Each `old` occurs exactly once in trd.yaml; each anchor once in the patched text.
CASES: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str, str]]]] = {
    "malformed_yaml": (
        [("guard: {pred: bipolar_confirmed}", "guard: {pred: bipolar_confirmed")],
        [("\n  - trigger: review", "", "malformed YAML: expected ',' or '}', but got ':'")],
    ),
    "unknown_state_in_dest": (
        [
            (
                "  - trigger: refer_neurostimulation\n    source: [reassess]\n"
                "    dest: neurostimulation",
                "  - trigger: refer_neurostimulation\n    source: [reassess]\n"
                "    dest: neurostimulaton",
            )
        ],
        [
            (
                "    dest: neurostimulaton",
                "transitions[11].dest",
                "unknown state 'neurostimulaton' (did you mean 'neurostimulation'?)",
            )
        ],
    ),
    "unknown_predicate": (
        [("    guard: {pred: differential_clear}", "    guard: {pred: diferential_clear}")],
        [
            (
                "    guard: {pred: diferential_clear}",
                "transitions[3].guard.pred",
                "unknown predicate 'diferential_clear' (did you mean 'differential_clear'?)",
            )
        ],
    ),
    "bad_predicate_parameter": (
        [(REMIT, REMIT.replace("remission", "remision"))],
        [
            (
                REMIT.replace("remission", "remision"),
                "transitions[4].guard.in[0]",
                "Input should be 'remission', 'relapsed', 'response', 'partial', 'none' or "
                "'unknown' (did you mean 'remission'?)",
            )
        ],
    ),
    "unexpected_predicate_parameter": (
        [
            (
                "guard: {pred: bipolar_confirmed}",
                "guard: {pred: bipolar_confirmed, role: augmentation}",
            )
        ],
        [
            (
                "    guard: {pred: bipolar_confirmed, ",
                "transitions[1].guard.role",
                "unknown field 'role'",
            )
        ],
    ),
    "unknown_parameter": (
        [("  min_adherence:", "  min_adherance:")],
        [
            (
                "  min_weeks_at_adequate_dose:",
                "parameters.min_adherence",
                "missing parameter 'min_adherence'",
            ),
            (
                '    value: 0.80\n    source: "Proportion of days',  # (the line of its first entry)
                "parameters.min_adherance",
                "unknown parameter 'min_adherance' (did you mean 'min_adherence'?)",
            ),
        ],
    ),
    "missing_parameter": (
        [
            (
                "  stop_bang_positive_min:\n    value: 3\n"
                '    source: "STOP-Bang ≥3 (reference.md §10)"\n',
                "",
            )
        ],
        [
            (
                "  min_weeks_at_adequate_dose:",
                "parameters.stop_bang_positive_min",
                "missing parameter 'stop_bang_positive_min'",
            )
        ],
    ),
    "bad_parameter_value": (
        [("  min_adherence:\n    value: 0.80", "  min_adherence:\n    value: 80")],
        [("    value: 80", "parameters.min_adherence.value", "must be a fraction 0–1")],
    ),
    "flag_without_article_section": (
        [("      active_stressor: active stressor\n", "")],
        [
            (
                "      incomplete_trial: incomplete trials",  # (the line of its first entry)
                "parameters.article_sections.value.active_stressor",
                "must name the section of the source article this flag cites",
            )
        ],
    ),
    "blank_article_section": (
        [("      substance_use: active substance use", '      substance_use: " "')],
        [
            (
                '      substance_use: " "',
                "parameters.article_sections.value.substance_use",
                "must name the section of the source article this flag cites",
            )
        ],
    ),
    "no_initial_state": (
        [("    initial: true\n", "")],
        [
            (
                "  - id: initial_trial",
                "states",
                "no initial state: mark exactly one state with `initial: true`",
            )
        ],
    ),
    "two_initial_states": (
        [("  - id: reassess\n", "  - id: reassess\n    initial: true\n")],
        [
            (
                "  - id: initial_trial",
                "states",
                "2 initial states (initial_trial, reassess); exactly one is allowed",
            )
        ],
    ),
    "unreachable_state": (
        [("    dest: maintenance", "    dest: reassess")],
        [
            (
                "  - id: maintenance",
                "states[8].id",
                "state 'maintenance' is unreachable from the initial state 'initial_trial'",
            )
        ],
    ),
    "dead_end": (
        [("source: [neurostimulation, rapid_acting]", "source: [rapid_acting]")],
        [
            (
                "  - id: neurostimulation",
                "states[7].id",
                "state 'neurostimulation' is a dead end: it is not final and no transition "
                "leaves it",
            )
        ],
    ),
    "duplicate_state": (
        [("\ntransitions:", DUPLICATE + "\ntransitions:")],
        [(DUPLICATE, "states[10].id", "duplicate state 'exited'")],
    ),
    "unknown_recommendation_trigger": (
        [(RECOMMEND_NEURO, RECOMMEND_NEURO.replace("refer_neurostimulation", "refer_neurostim"))],
        [
            (
                "    - trigger: refer_neurostim\n",
                "recommendation.order[8].trigger",
                "unknown trigger 'refer_neurostim' (did you mean 'refer_neurostimulation'?)",
            )
        ],
    ),
    "unknown_field": (
        [("    description: A treatment window", "    descripton: A treatment window")],
        [
            (
                "    descripton:",
                "states[1].descripton",
                "unknown field 'descripton' (did you mean 'description'?)",
            )
        ],
    ),
}


def patched(edits: list[tuple[str, str]]) -> str:
    """trd.yaml with each edit applied, its catalog paths naming the shipped catalog."""
    text = TRD.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, f"not exactly once in trd.yaml: {old!r}"
        text = text.replace(old, new)
    for name in ("drugs", "instruments"):
        text = text.replace(f"{name}: {name}.yaml", f"{name}: {TRD.parent / name}.yaml", 1)
    return text


def line_of(text: str, anchor: str) -> int:
    """The line (1-based) an anchor starts on (after its leading newlines, which only make it
    unique); it must occur exactly once."""
    assert text.count(anchor) == 1, f"anchor not exactly once: {anchor!r}"
    return text[: text.index(anchor)].count("\n") + 1 + len(anchor) - len(anchor.lstrip("\n"))


def load(tmp_path: Path, name: str, edits: list[tuple[str, str]]) -> tuple[str, DefinitionError]:
    text = patched(edits)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    return text, caught.value


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_definition(tmp_path, case):
    edits, expected = CASES[case]
    name = f"{case}.yaml"
    text, error = load(tmp_path, name, edits)
    assert [(i.file, i.line, i.loc, i.message) for i in error.issues] == [
        (name, line_of(text, anchor), loc, message) for anchor, loc, message in expected
    ]
    assert error.source == name


def test_issue_text_is_file_line_path_message(tmp_path):
    text, error = load(tmp_path, "d.yaml", CASES["unknown_state_in_dest"][0])
    [issue] = error.issues
    assert str(issue) == (
        f"d.yaml:{line_of(text, 'dest: neurostimulaton')}: transitions[11].dest: "
        "unknown state 'neurostimulaton' (did you mean 'neurostimulation'?)"
    )


def test_issue_text_shows_a_value_the_message_does_not_name(tmp_path):
    text, error = load(tmp_path, "d.yaml", CASES["bad_parameter_value"][0])
    [issue] = error.issues
    assert str(issue) == (
        f"d.yaml:{line_of(text, '    value: 80')}: parameters.min_adherence.value: "
        "must be a fraction 0–1 (got 80.0)"
    )


def test_several_problems_are_reported_together(tmp_path):
    names = [
        "bad_parameter_value",
        "two_initial_states",
        "unknown_field",
        "unknown_predicate",
        "unknown_state_in_dest",
    ]
    edits = [e for n in names for e in CASES[n][0]]
    expected = [x for n in names for x in CASES[n][1]]
    text, error = load(tmp_path, "several_problems.yaml", edits)
    assert [(i.line, i.loc, i.message) for i in error.issues] == [
        (line_of(text, anchor), loc, message) for anchor, loc, message in expected
    ]
    assert str(error).startswith("several_problems.yaml: 5 problems in the definition:\n")


def test_fixture_base_is_valid(tmp_path):
    # The cases' only shared change, catalog paths naming the shipped catalog, loads cleanly.
    copy = tmp_path / "copy.yaml"
    copy.write_text(patched([]), encoding="utf-8")
    assert load_definition(copy).metadata.id == "trd"


def test_missing_definition_file():
    with pytest.raises(DefinitionError, match="definition file not found"):
        load_definition(TRD.parent / "no_such_file.yaml")


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
    edits = [(RECOMMEND_NEURO, RECOMMEND_NEURO.replace("refer_neurostimulation", "relapse"))]
    text, error = load(tmp_path, "relapse_in_order.yaml", edits)
    assert [(i.line, i.loc, i.message) for i in error.issues] == [
        (
            line_of(text, "    - trigger: relapse\n      when:"),
            "recommendation.order[8].trigger",
            "trigger 'relapse' does not leave the decision state 'reassess'",
        )
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("id: P-1\nepisode_start: 2025-13-01\n", 2, "episode_start: not a valid date"),
        ("id: P-1\ntrials:\n  - start: 2025-02-30\n", 3, "trials[0].start: not a valid date"),
    ],
)
def test_an_impossible_unquoted_date_names_its_line_field_and_value(text, line, message):
    # YAML reads 2025-13-01 as a date and fails inside the parser: the error says where
    from pathway import DefinitionError
    from pathway.yamlio import parse_text

    with pytest.raises(DefinitionError) as err:
        parse_text(text, name="r.yaml")
    [issue] = err.value.issues
    assert (issue.line, issue.file) == (line, "r.yaml")
    assert message in str(issue) and issue.value in ("2025-13-01", "2025-02-30")
