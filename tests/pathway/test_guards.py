"""Every transition guard of definitions/trd.yaml, with its true, false and unknown results, and
the three-valued logic (trd-pathway.md: "Guards are three-valued")."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from pydantic import TypeAdapter

from pathway import guard_results
from pathway.guards import Guard, evaluate
from pathway.parameters import Param
from pathway.results import tri_and, tri_not, tri_or

# -- Three-valued logic ----------------------------------------------------------------------

T, F, U = "true", "false", "unknown"


@pytest.mark.parametrize(
    ("a", "b", "both", "either"),
    [
        (T, T, T, T),
        (T, F, F, T),
        (T, U, U, T),
        (F, T, F, T),
        (F, F, F, F),
        (F, U, F, U),
        (U, T, U, T),
        (U, F, F, U),
        (U, U, U, U),
    ],
    ids=lambda v: v,
)
def test_and_or_truth_tables(a, b, both, either):
    assert tri_and([a, b]) == both
    assert tri_or([a, b]) == either


@pytest.mark.parametrize(("a", "negated"), [(T, F), (F, T), (U, U)])
def test_not_keeps_unknown(a, negated):
    assert tri_not(a) == negated


# Leaves with a known result for an adequate sertraline trial that has no scores on file.
LEAF = {
    T: {"pred": "trial_status", "in": ["adequate"]},
    F: {"pred": "life_threatening"},
    U: {"pred": "outcome", "in": ["remission"]},
}


@pytest.mark.parametrize(("a", "b"), list(itertools.product([T, F, U], repeat=2)))
def test_guard_trees_follow_the_truth_tables(a, b, make_record, make_trial, facts_of):
    facts = facts_of(make_record(trials=[make_trial()]))
    adapter = TypeAdapter(Guard)

    def run(tree):
        return evaluate(adapter.validate_python(tree), facts)

    both, why = run({"all": [LEAF[a], LEAF[b]]})
    assert both == tri_and([a, b])
    assert [r.result for r in why] == [a, b]  # every part is evaluated and reported
    assert run({"any": [LEAF[a], LEAF[b]]})[0] == tri_or([a, b])
    assert run({"not": LEAF[a]})[0] == tri_not(a)
    assert run({"not": {"all": [LEAF[a], {"any": [LEAF[b]]}]}})[0] == tri_not(tri_and([a, b]))


# -- Helpers ---------------------------------------------------------------------------------


@pytest.fixture
def guards_from(trd, facts_of):
    """Factory: {trigger: GuardResult} for the transitions out of `state`."""

    def run(record, state="reassess", as_of=dt.date(2026, 6, 1)):
        return {g.trigger: g for g in guard_results(trd, facts_of(record, as_of), state)}

    return run


@pytest.fixture
def scored(make_record, make_trial, make_score):
    """Factory: a record with one sertraline trial and PHQ-9 `baseline` → `end` scores."""

    def make(baseline=20, end=18, trial=None, **overrides):
        scores = [make_score("2026-01-05", baseline), make_score("2026-03-02", end)]
        return make_record(trials=[trial or make_trial()], measurements=scores, **overrides)

    return make


@pytest.fixture
def resistant(make_record, make_trial, make_score):
    """Factory: two adequate, failed trials (sertraline none, venlafaxine `last` outcome)."""

    def make(last_end=16, **overrides):
        trials = [
            make_trial(
                "sertraline", start="2025-09-01", end="2025-11-03", stop_reason="no_response"
            ),
            make_trial("venlafaxine", start="2025-11-10", end="2026-02-02", mg=225),
        ]
        scores = [make_score("2025-11-10", 20), make_score("2026-02-02", last_end)]
        return make_record(trials=trials, measurements=scores, **overrides)

    return make


STRESSOR = [{"kind": "stressor", "status": "active", "date": "2026-02-01"}]
TESTED_TRIGGERS = {
    "escalate",
    "exit",
    "review",
    "resolve",
    "remit",
    "complete",
    "optimize",  # 1.1: tests/pathway/test_pathway_1_1.py
    "continue_course",  # 1.1: tests/pathway/test_pathway_1_1.py
    "augment",
    "switch",
    "refer_neurostimulation",
    "start_rapid_acting",
    "reassess",
    "relapse",
}


def test_every_trigger_of_the_definition_is_tested_here(trd):
    assert {t.trigger for t in trd.transitions} == TESTED_TRIGGERS


# -- escalate --------------------------------------------------------------------------------


def test_escalate_leaves_every_state_but_neurostimulation_and_exited(trd):
    sources = {src for src, t in trd.edges if t.trigger == "escalate"}
    assert sources == {s.id for s in trd.states} - {"neurostimulation", "exited"}


@pytest.mark.parametrize(
    "state",
    [
        "initial_trial",
        "reassess",
        "complete_trial",
        "differential_review",
        "augment",
        "switch",
        "rapid_acting",
        "maintenance",
    ],
)
@pytest.mark.parametrize(("suicidality", "result"), [("active", T), ("passive", F)])
def test_escalate(state, suicidality, result, make_record, guards_from):
    record = make_record(risk={"date": "2026-05-01", "suicidality": suicidality})
    guard = guards_from(record, state)["escalate"]
    assert (guard.to, guard.result) == ("neurostimulation", result)


def test_escalate_without_a_risk_assessment_is_false_not_unknown(make_record, guards_from):
    assert guards_from(make_record())["escalate"].result == F


def test_a_risk_assessment_after_the_as_of_date_is_ignored(make_record, guards_from):
    record = make_record(risk={"date": "2026-07-01", "suicidality": "active"})
    assert guards_from(record)["escalate"].result == F


# -- exit, review, resolve -------------------------------------------------------------------


@pytest.mark.parametrize("state", ["reassess", "differential_review"])
@pytest.mark.parametrize(
    ("statuses", "result"),
    [
        pytest.param(["confirmed"], T, id="confirmed"),
        pytest.param(["suspected"], F, id="suspected"),
        pytest.param(["confirmed", "ruled_out"], F, id="confirmed-then-ruled-out"),
        pytest.param([], F, id="nothing-on-file"),
    ],
)
def test_exit(state, statuses, result, make_record, guards_from):
    contributors = [
        {"kind": "bipolar_disorder", "status": s, "date": f"2026-0{i + 2}-01"}
        for i, s in enumerate(statuses)
    ]
    guard = guards_from(make_record(contributors=contributors), state)["exit"]
    assert (guard.to, guard.result) == ("exited", result)


@pytest.mark.parametrize(
    ("overrides", "result"),
    [
        pytest.param({"contributors": STRESSOR}, T, id="active-stressor"),
        pytest.param({"history": {"impulsivity": True}}, T, id="bipolar-features"),
        pytest.param(
            {
                "contributors": [
                    {"kind": "bipolar_disorder", "status": "confirmed", "date": "2026-02-01"}
                ]
            },
            T,
            id="bipolar-confirmed",
        ),
        pytest.param({}, F, id="clear"),
    ],
)
def test_review_and_resolve_are_each_others_negation(overrides, result, scored, guards_from):
    review = guards_from(scored(**overrides), "reassess")["review"]
    resolve = guards_from(scored(**overrides), "differential_review")["resolve"]
    assert (review.to, review.result) == ("differential_review", result)
    assert (resolve.to, resolve.result) == ("reassess", tri_not(result))


def test_an_incomplete_trial_alone_does_not_open_the_differential(
    make_record, make_trial, guards_from
):
    guards = guards_from(make_record(trials=[make_trial(mg=25)]))
    assert guards["review"].result == F


# -- remit -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("end", "result"),
    [
        pytest.param(4, T, id="remission"),
        pytest.param(9, F, id="response"),
        pytest.param(18, F, id="none"),
    ],
)
def test_remit(end, result, scored, guards_from):
    guard = guards_from(scored(end=end))["remit"]
    assert (guard.to, guard.result) == ("maintenance", result)


def test_outcome_unknown_makes_remit_unknown(make_record, make_trial, guards_from):
    guard = guards_from(make_record(trials=[make_trial()]))["remit"]
    assert guard.result == U
    assert guard.reasons[0].value == "unknown"


def test_remit_without_any_trial_is_false(make_record, guards_from):
    assert guards_from(make_record())["remit"].result == F


# -- complete --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trial", "scores", "result"),
    [
        pytest.param({"mg": 25}, (20, 18), T, id="inadequate-no-response"),
        pytest.param({"mg": 25}, None, T, id="inadequate-outcome-unknown"),
        pytest.param({"mg": 25}, (20, 3), F, id="inadequate-but-in-remission"),
        pytest.param({"adherence": 0.5}, (20, 12), T, id="low-adherence-partial"),
        pytest.param({}, (20, 18), F, id="adequate"),
        # 1.1: an in-progress trial is not yet adequate, so completing it is an option
        pytest.param({"start": "2026-05-04"}, None, T, id="in-progress"),
    ],
)
def test_complete(trial, scores, result, make_record, make_trial, make_score, guards_from):
    measurements = []
    if scores:
        measurements = [make_score("2026-01-05", scores[0]), make_score("2026-03-02", scores[1])]
    record = make_record(trials=[make_trial(**trial)], measurements=measurements)
    guard = guards_from(record)["complete"]
    assert (guard.to, guard.result) == ("complete_trial", result)


def test_complete_without_any_trial_is_true(make_record, guards_from):
    # 1.1: no antidepressant trial at all is no adequate trial (no dead end)
    assert guards_from(make_record())["complete"].result == T


# -- augment and switch ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("end", "augment", "switch"),
    [
        pytest.param(12, T, F, id="partial"),
        pytest.param(9, T, F, id="response"),
        pytest.param(18, F, T, id="none"),
        pytest.param(4, F, F, id="remission"),
    ],
)
def test_augment_and_switch_after_one_adequate_trial(end, augment, switch, scored, guards_from):
    guards = guards_from(scored(end=end))
    assert (guards["augment"].to, guards["augment"].result) == ("augment", augment)
    assert (guards["switch"].to, guards["switch"].result) == ("switch", switch)


def test_augment_and_switch_are_unknown_when_the_outcome_is_unknown(
    make_record, make_trial, guards_from
):
    guards = guards_from(make_record(trials=[make_trial()]))
    assert guards["augment"].result == U
    assert guards["switch"].result == U


def test_augment_and_switch_need_an_adequate_trial(scored, make_trial, guards_from):
    guards = guards_from(scored(end=12, trial=make_trial(mg=25)))
    assert guards["augment"].result == F
    assert guards["switch"].result == F


def test_augment_and_switch_need_a_clear_differential(scored, resistant, guards_from):
    assert guards_from(scored(end=12, contributors=STRESSOR))["augment"].result == F
    assert guards_from(scored(end=18, contributors=STRESSOR))["switch"].result == F
    guards = guards_from(resistant(contributors=STRESSOR))
    assert (guards["augment"].result, guards["switch"].result) == (F, F)


def test_switch_after_stopping_for_side_effects(make_record, make_trial, guards_from):
    trial = make_trial(start="2026-03-02", end="2026-03-16", stop_reason="side_effects")
    assert guards_from(make_record(trials=[trial]))["switch"].result == T


@pytest.mark.parametrize(
    ("last_end", "augment", "switch"),
    [
        pytest.param(16, T, T, id="resistant-last-none"),
        pytest.param(12, T, T, id="resistant-last-partial"),
        pytest.param(8, T, F, id="last-response-is-not-a-failure"),
        pytest.param(4, F, F, id="last-remission-is-not-a-failure"),
    ],
)
def test_treatment_resistance_enables_augment_and_switch(
    last_end, augment, switch, resistant, guards_from
):
    guards = guards_from(resistant(last_end=last_end))
    assert guards["augment"].result == augment
    assert guards["switch"].result == switch


# -- refer_neurostimulation and start_rapid_acting --------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "to"),
    [("refer_neurostimulation", "neurostimulation"), ("start_rapid_acting", "rapid_acting")],
)
def test_next_line_referrals_need_treatment_resistance(trigger, to, resistant, scored, guards_from):
    assert (guards_from(resistant())[trigger].to, guards_from(resistant())[trigger].result) == (
        to,
        T,
    )
    assert guards_from(scored(end=18))[trigger].result == F  # one failed trial
    assert guards_from(resistant(contributors=STRESSOR))[trigger].result == F
    assert guards_from(resistant(history={"racing_thoughts": True}))[trigger].result == F


def test_an_incomplete_current_trial_does_not_undo_earlier_adequate_failures(
    resistant, make_trial, guards_from, evaluate
):
    record = resistant()
    record["trials"].append(make_trial("mirtazapine", start="2026-03-02", mg=7.5))
    result = evaluate(record)
    assert result.flags == ["incomplete_trial"]
    assert result.treatment_resistant is True
    assert result.recommended == "complete"
    assert "refer_neurostimulation" in result.enabled


def test_two_failures_in_one_class_count_unless_distinct_classes_are_required(
    trd, make_record, make_trial, make_score, facts_of
):
    trials = [
        make_trial("sertraline", start="2025-09-01", end="2025-11-03", stop_reason="no_response"),
        make_trial("escitalopram", start="2025-11-10", end="2026-02-02", mg=20),
    ]
    scores = [make_score("2025-11-10", 20), make_score("2026-02-02", 18)]
    record = make_record(trials=trials, measurements=scores)
    assert facts_of(record).treatment_resistant is True

    distinct = Param[bool](value=True, source="test: two classes required")
    params = trd.parameters.model_copy(update={"trd_require_distinct_classes": distinct})
    from pathway import derive
    from pathway.record import parse_record

    facts = derive(
        parse_record(record), as_of=dt.date(2026, 6, 1), params=params, catalog=trd.catalog
    )
    assert facts.failed_classes == ["SSRI"]
    assert facts.treatment_resistant is False


# -- reassess --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["initial_trial", "complete_trial", "switch"])
@pytest.mark.parametrize(
    ("trial", "as_of", "result"),
    [
        pytest.param({}, "2026-02-16", T, id="window-reached"),
        pytest.param({}, "2026-02-15", F, id="one-day-before-the-window"),
        pytest.param({"end": "2026-01-26", "stop_reason": "other"}, "2026-02-01", T, id="ended"),
        pytest.param({"mg": 25}, "2026-02-16", T, id="held-below-dose-for-the-window"),
        pytest.param({"mg": 25}, "2026-02-15", F, id="below-dose-not-yet-the-window"),
    ],
)
def test_reassess_from_a_medication_state(
    state, trial, as_of, result, make_record, make_trial, guards_from
):
    record = make_record(trials=[make_trial(**trial)])
    guard = guards_from(record, state, dt.date.fromisoformat(as_of))["reassess"]
    assert (guard.to, guard.result) == ("reassess", result)


def test_reassess_from_a_medication_state_without_a_trial_is_false(make_record, guards_from):
    assert guards_from(make_record(), "initial_trial")["reassess"].result == F


@pytest.mark.parametrize(
    ("aug", "result"),
    [
        pytest.param({"start": "2026-03-02"}, T, id="augmentation-window-reached"),
        pytest.param({"start": "2026-05-04"}, F, id="augmentation-in-progress"),
        pytest.param(
            {"start": "2026-05-04", "end": "2026-05-18", "stop_reason": "side_effects"},
            T,
            id="augmentation-ended",
        ),
        pytest.param(None, F, id="no-augmentation-trial"),
    ],
)
def test_reassess_from_augment_watches_the_augmentation_trial(
    aug, result, make_record, make_trial, guards_from
):
    trials = [make_trial("venlafaxine", start="2025-11-03", mg=225)]
    if aug is not None:
        trials.append(make_trial("aripiprazole", role="augmentation", mg=5, **aug))
    guard = guards_from(make_record(trials=trials), "augment")["reassess"]
    assert (guard.to, guard.result) == ("reassess", result)


@pytest.mark.parametrize("state", ["neurostimulation", "rapid_acting"])
@pytest.mark.parametrize(
    ("kind", "sessions", "end", "result"),
    [
        pytest.param("rTMS", 30, None, T, id="rTMS-30"),
        pytest.param("rTMS", 29, None, F, id="rTMS-29"),
        pytest.param("iTBS", 30, None, T, id="iTBS-30"),
        pytest.param("accelerated_iTBS", 49, None, F, id="accelerated-iTBS-49"),
        pytest.param("accelerated_iTBS", 50, None, T, id="accelerated-iTBS-50"),
        pytest.param("ECT", 6, None, T, id="ECT-6"),
        pytest.param("ECT", 5, None, F, id="ECT-5"),
        pytest.param("esketamine", 8, None, T, id="esketamine-8"),
        pytest.param("IV_ketamine", 5, None, F, id="IV-ketamine-5"),
        pytest.param("IV_ketamine", 6, None, T, id="IV-ketamine-6"),
        pytest.param("ECT", 3, "2026-05-20", T, id="ended-early"),
    ],
)
def test_reassess_from_a_procedure_state(
    state, kind, sessions, end, result, make_record, guards_from
):
    procedure = {"kind": kind, "start": "2026-04-01", "end": end, "sessions": sessions}
    guard = guards_from(make_record(procedures=[procedure]), state)["reassess"]
    assert (guard.to, guard.result) == ("reassess", result)


def test_reassess_from_a_procedure_state_without_a_procedure_is_false(make_record, guards_from):
    assert guards_from(make_record(), "neurostimulation")["reassess"].result == F


# -- relapse ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument", "score", "result"),
    [
        ("PHQ-9", 10, T),
        ("PHQ-9", 9, F),
        ("QIDS-SR16", 11, T),
        ("QIDS-SR16", 10, F),
        ("HAM-D17", 14, T),
        ("HAM-D17", 13, F),
        ("MADRS", 22, T),
        ("MADRS", 21, F),
    ],
)
def test_relapse(instrument, score, result, make_record, make_score, guards_from):
    scores = [make_score("2026-01-05", 3), make_score("2026-05-20", score, instrument)]
    guard = guards_from(make_record(measurements=scores), "maintenance")["relapse"]
    assert (guard.to, guard.result) == ("reassess", result)


def test_relapse_reads_the_latest_score_only(make_record, make_score, guards_from):
    scores = [make_score("2026-04-01", 15), make_score("2026-05-20", 3)]
    assert guards_from(make_record(measurements=scores), "maintenance")["relapse"].result == F


def test_relapse_without_scores_is_unknown(make_record, guards_from):
    assert guards_from(make_record(), "maintenance")["relapse"].result == U


# -- Reasons ---------------------------------------------------------------------------------


def test_every_reason_carries_predicate_value_threshold_date_and_source(scored, evaluate):
    result = evaluate(scored(end=12))
    augment = next(g for g in result.guards if g.trigger == "augment")
    outcome = next(r for r in augment.reasons if r.predicate == "outcome")
    assert outcome.value == "partial"
    assert outcome.threshold == ["partial", "response"]
    assert outcome.evidence_date == dt.date(2026, 3, 2)
    assert outcome.source
    assert "PHQ-9 20 → 12" in outcome.detail


def test_the_bipolar_history_items_are_read_from_the_definition(trd, make_record):
    from pathway.facts import derive
    from pathway.record import parse_record

    params = trd.parameters
    listed = params.bipolar_history_features
    without = params.model_copy(
        update={
            "bipolar_history_features": listed.model_copy(
                update={"value": [f for f in listed.value if f != "impulsivity"]}
            )
        }
    )
    record = parse_record(make_record(history={"impulsivity": True}), catalog=trd.catalog)
    day = dt.date(2026, 6, 1)
    shipped = derive(record, as_of=day, params=params, catalog=trd.catalog)
    edited = derive(record, as_of=day, params=without, catalog=trd.catalog)
    assert "bipolar_features" in shipped.flags
    assert "bipolar_features" not in edited.flags


ARTICLE = "source article (shared/clinical/000_d817ea9ba5dd5b8a.txt)"


@pytest.mark.parametrize(
    ("contributor", "flag", "section"),
    [
        ("stressor", "active_stressor", "active stressor"),
        ("bipolar_disorder", "bipolar_features", "missed bipolar disorder"),
        ("hypothyroidism", "medical_contributor", "untreated medical contributors"),
        ("alcohol_use", "substance_use", "active substance use"),
    ],
)
def test_a_flag_cites_its_section_of_the_source_article(
    trd, make_record, contributor, flag, section
):
    from pathway.facts import derive
    from pathway.predicates import FlagRaised
    from pathway.record import parse_record

    entry = {"kind": contributor, "status": "suspected", "date": "2026-05-01"}
    record = parse_record(make_record(contributors=[entry]), catalog=trd.catalog)
    day = dt.date(2026, 6, 1)
    facts = derive(record, as_of=day, params=trd.parameters, catalog=trd.catalog)
    [evidence] = facts.flags[flag]
    assert evidence.source == f"{ARTICLE}: {section}"
    assert FlagRaised(pred="flag", flag=flag).evaluate(facts).source == f"{ARTICLE}: {section}"
    # the verdicts the article supports as a whole cite it alone
    clear = parse_record(make_record(), catalog=trd.catalog)
    facts = derive(clear, as_of=day, params=trd.parameters, catalog=trd.catalog)
    assert FlagRaised(pred="flag", flag=flag).evaluate(facts).source == ARTICLE


def test_an_incomplete_trial_cites_its_section_of_the_source_article(trd, make_record, make_trial):
    from pathway.facts import derive
    from pathway.record import parse_record

    short = make_trial(start="2026-05-01", end="2026-05-15", stop_reason="other")
    record = parse_record(make_record(trials=[short]), catalog=trd.catalog)
    facts = derive(record, as_of=dt.date(2026, 6, 1), params=trd.parameters, catalog=trd.catalog)
    [evidence] = facts.flags["incomplete_trial"]
    assert evidence.source == f"{ARTICLE}: incomplete trials"


def test_the_citations_are_read_from_the_definition(trd, make_record, make_trial):
    from pathway.facts import derive
    from pathway.predicates import BipolarConfirmed, DifferentialClear, StoppedFor
    from pathway.record import parse_record

    params = trd.parameters
    sections = params.article_sections
    edited = params.model_copy(
        update={
            "article_sections": sections.model_copy(
                update={
                    "source": "another article",
                    "value": {**sections.value, "active_stressor": "life events"},
                }
            )
        }
    )
    day = dt.date(2026, 6, 1)
    stressed = parse_record(
        make_record(contributors=[{"kind": "stressor", "status": "active", "date": "2026-05-01"}]),
        catalog=trd.catalog,
    )
    facts = derive(stressed, as_of=day, params=edited, catalog=trd.catalog)
    assert facts.flags["active_stressor"][0].source == "another article: life events"
    assert DifferentialClear(pred="differential_clear").evaluate(facts).source == "another article"
    assert BipolarConfirmed(pred="bipolar_confirmed").evaluate(facts).source == "another article"
    stopped = parse_record(
        make_record(trials=[make_trial(end="2026-05-01", stop_reason="side_effects")]),
        catalog=trd.catalog,
    )
    facts = derive(stopped, as_of=day, params=edited, catalog=trd.catalog)
    assert DifferentialClear(pred="differential_clear").evaluate(facts).source == "another article"
    result = StoppedFor(pred="stopped_for", reasons=["side_effects"]).evaluate(facts)
    assert (result.result, result.source) == ("true", "another article")
