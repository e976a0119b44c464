"""Reasons read by a clinician or a care coordinator: clinical words, not internal codes, and
the value, the threshold and the date each rests on (a review of the explanations, not of the
rules: every case here keeps its outcome, only its words changed)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from pathway import Assessment, Definition
from pathway.due import due_items
from pathway.facts import Facts, derive
from pathway.record import parse_record
from pathway.results import PredicateResult

Record = dict[str, Any]
AS_OF = dt.date(2026, 6, 1)


def _reason(result: Assessment, trigger: str, predicate: str) -> PredicateResult:
    guard = next(g for g in result.guards if g.trigger == trigger)
    return next(r for r in guard.reasons if r.predicate == predicate)


def test_no_step_at_all_is_said_in_words(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    # was "no step trial on record": the role name `step` leaked into the sentence
    remit = _reason(evaluate(make_record()), "remit", "outcome")
    assert remit.result == "false"
    assert remit.detail == "no trial or procedure on record"


def test_an_outcome_is_named_in_clinical_words_with_its_cut_off(
    make_record: Callable[..., Record],
    make_trial: Callable[..., Any],
    make_score: Callable[..., Any],
    evaluate: Callable[..., Assessment],
) -> None:
    # was "outcome of sertraline is none: …", which reads as "no outcome is known"
    none = make_record(
        trials=[make_trial()],
        measurements=[make_score("2026-01-05", 20), make_score("2026-03-02", 18)],
    )
    r = _reason(evaluate(none), "remit", "outcome")
    assert r.value == "none"  # the code stays in the value
    assert r.detail == (
        "outcome of sertraline is no response: PHQ-9 20 → 18 "
        "(10% fall; no response is a fall of less than 25%)"
    )
    partial = make_record(
        trials=[make_trial()],
        measurements=[make_score("2026-01-05", 20), make_score("2026-03-02", 13)],
    )
    r = _reason(evaluate(partial), "remit", "outcome")
    assert (
        "is partial response: PHQ-9 20 → 13 (35% fall; a partial response is a fall of 25% "
        "to under 50%)"
    ) in r.detail


def test_an_outcome_from_a_stop_reason_says_so_in_words_with_the_stop_date(
    make_record: Callable[..., Record],
    make_trial: Callable[..., Any],
    evaluate: Callable[..., Assessment],
) -> None:
    record = make_record(trials=[make_trial(end="2026-03-01", stop_reason="no_response")])
    r = _reason(evaluate(record), "remit", "outcome")
    assert "stopped for no response (no baseline and end scores to judge by)" in r.detail
    assert "no_response" not in r.detail
    assert r.evidence_date == dt.date(2026, 3, 1)


def test_an_unknown_outcome_says_which_scores_are_missing(
    make_record: Callable[..., Record],
    make_trial: Callable[..., Any],
    evaluate: Callable[..., Assessment],
) -> None:
    r = _reason(evaluate(make_record(trials=[make_trial()])), "remit", "outcome")
    assert r.result == "unknown"
    assert "a baseline is a score in the 30 days before the start or the first 14 days" in r.detail
    assert "an end score is one at least 14 days after the start" in r.detail


def test_a_relapse_after_a_closed_remission_reads_in_order_with_both_dates(
    make_record: Callable[..., Record],
    make_trial: Callable[..., Any],
    make_score: Callable[..., Any],
    evaluate: Callable[..., Assessment],
) -> None:
    # was "PHQ-9 20 → 3 (85% fall); remission is PHQ-9 ≤4, then 15 on …": the relapse score
    # read as if it followed the remission threshold, and the remission score had no date
    record = make_record(
        trials=[make_trial(start="2025-10-06", end="2026-03-02", stop_reason="remission")],
        measurements=[
            make_score("2025-10-06", 20),
            make_score("2026-01-05", 3),
            make_score("2026-05-20", 15),
        ],
    )
    r = _reason(evaluate(record), "optimize", "outcome")
    assert r.detail == (
        "outcome of sertraline is relapse after remission: PHQ-9 20 → 3 on 2026-01-05 "
        "(remission is ≤4), then 15 on 2026-05-20 (relapse is ≥10)"
    )


def test_trial_status_says_why_in_words_with_the_weeks_needed_and_adherence(
    make_record: Callable[..., Record],
    make_trial: Callable[..., Any],
    evaluate: Callable[..., Assessment],
) -> None:
    # was "… is inadequate: dose_below_effective (0.0 weeks at ≥150 mg, max 75 mg)"
    record = make_record(trials=[make_trial("venlafaxine", mg=75)])
    r = _reason(evaluate(record), "complete", "trial_status")
    assert r.detail == (
        "current antidepressant trial of venlafaxine is inadequate (the dose never reached the "
        "effective dose): 0.0 weeks at ≥150 mg/day (needs ≥6 weeks), max 75 mg/day, "
        "adherence 90% (needs ≥80%)"
    )
    ongoing = make_record(trials=[make_trial(start="2026-05-04")])
    r = _reason(evaluate(ongoing), "complete", "trial_status")
    assert "is in progress (too few weeks at the effective dose): 4.0 weeks" in r.detail
    assert "in_progress" not in r.detail


def test_the_incomplete_trial_flag_says_why_in_words(
    make_record: Callable[..., Record],
    make_trial: Callable[..., Any],
    facts_of: Callable[..., Facts],
) -> None:
    record = make_record(trials=[make_trial(adherence=0.5)])
    (flag,) = facts_of(record).flags["incomplete_trial"]
    assert flag.detail == "current trial of sertraline is inadequate: adherence below 80%"


def test_stopped_for_says_whether_and_when_the_drug_stopped(
    make_record: Callable[..., Record],
    make_trial: Callable[..., Any],
    evaluate: Callable[..., Assessment],
) -> None:
    # was "sertraline stop reason: none" for a drug still taken
    ongoing = _reason(evaluate(make_record(trials=[make_trial()])), "switch", "stopped_for")
    assert ongoing.detail == "sertraline is still being taken (not stopped)"
    assert ongoing.evidence_date is None
    stopped = make_record(trials=[make_trial(end="2026-02-01", stop_reason="side_effects")])
    r = _reason(evaluate(stopped), "switch", "stopped_for")
    assert r.result == "true"
    assert r.detail == "sertraline stopped on 2026-02-01 for side effects"


def test_treatment_resistant_names_outcomes_in_words_and_why_the_count_is_not_enough(
    make_record: Callable[..., Record],
    make_trial: Callable[..., Any],
    make_score: Callable[..., Any],
    evaluate: Callable[..., Assessment],
) -> None:
    # was "2 failed adequate trials (sertraline none, venlafaxine none); but the differential
    # is not clear; needs ≥2", which read as if the differential needed ≥2
    record = make_record(
        trials=[
            make_trial(start="2025-07-01", end="2025-10-01", stop_reason="no_response"),
            make_trial("venlafaxine", start="2025-10-02", mg=225),
        ],
        measurements=[make_score("2025-10-02", 19), make_score("2026-01-10", 18)],
        contributors=[{"kind": "stressor", "status": "active", "date": "2026-04-01"}],
    )
    r = _reason(evaluate(record), "refer_neurostimulation", "treatment_resistant")
    assert r.result == "false"
    assert r.detail == (
        "2 failed adequate trials (sertraline: no response, venlafaxine: no response); needs "
        "≥2 and a clear differential: the differential is not clear"
    )


def test_differential_not_clear_says_so_once_per_finding_with_its_date(
    make_record: Callable[..., Record],
    make_trial: Callable[..., Any],
    evaluate: Callable[..., Assessment],
) -> None:
    # the page shows "no: <detail>" without the predicate's name: "open: …" did not say what was
    # open; a confirmed bipolar disorder was listed twice (as a feature and as a diagnosis)
    record = make_record(
        trials=[make_trial()],
        contributors=[{"kind": "bipolar_disorder", "status": "confirmed", "date": "2026-04-01"}],
    )
    r = _reason(evaluate(record), "review", "differential_clear")
    assert r.detail == "differential not clear: bipolar disorder confirmed since 2026-04-01"
    assert r.evidence_date == dt.date(2026, 4, 1)


def test_no_life_threatening_feature_cites_the_assessment_and_its_date(
    make_record: Callable[..., Record],
    make_trial: Callable[..., Any],
    evaluate: Callable[..., Assessment],
) -> None:
    # was "no life-threatening feature on the latest risk assessment (or none on file)", with no
    # date and no source: a reader could not tell an assessment on file from none
    risk = {"date": "2026-05-20", "suicidality": "passive"}
    assessed = make_record(trials=[make_trial()], risk=risk)
    r = _reason(evaluate(assessed), "escalate", "life_threatening")
    assert r.result == "false"
    assert r.detail == (
        "risk assessment of 2026-05-20: none of active suicidality, psychotic features, "
        "catatonia, not eating or drinking"
    )
    assert r.evidence_date == dt.date(2026, 5, 20) and r.source
    none = _reason(evaluate(make_record(trials=[make_trial()])), "escalate", "life_threatening")
    assert none.result == "false" and none.detail == "no risk assessment on file"


def test_a_dose_never_effective_shows_the_dose_and_the_effective_dose(
    make_record: Callable[..., Record],
    make_trial: Callable[..., Any],
    trd: Definition,
) -> None:
    record = parse_record(
        make_record(trials=[make_trial("venlafaxine", start="2026-04-06", mg=75)]),
        catalog=trd.catalog,
    )
    facts = derive(record, as_of=AS_OF, params=trd.parameters, catalog=trd.catalog)
    (item,) = [
        i
        for i in due_items(
            "initial_trial", entered_state_on=dt.date(2026, 4, 6), facts=facts, definition=trd
        )
        if i.item == "evaluation_due"
    ]
    assert (
        "venlafaxine: 8.0 weeks on drug (reassessed at 6 weeks on drug), effective dose never "
        "reached (max 75 mg/day, effective ≥150 mg/day)"
    ) in item.why


def _due(trd: Definition, record: Record, state: str, entered: dt.date) -> list[Any]:
    parsed = parse_record(record, catalog=trd.catalog)
    facts = derive(
        parsed,
        as_of=AS_OF,
        params=trd.parameters,
        catalog=trd.catalog,
        entered_state_on=trd.judged_since(state, entered),
    )
    return due_items(state, entered_state_on=entered, facts=facts, definition=trd)


def test_a_procedure_not_improving_is_not_judged_in_antidepressant_weeks(
    make_record: Callable[..., Record],
    make_trial: Callable[..., Any],
    make_score: Callable[..., Any],
    trd: Definition,
) -> None:
    # was "… less than a 20% fall by 4 weeks (early_improvement): response by 8–12 weeks is
    # unlikely" for an ECT course, judged 14 days after its start
    record = make_record(
        trials=[make_trial("venlafaxine", start="2025-10-06", mg=225)],
        measurements=[make_score("2026-05-04", 20), make_score("2026-05-25", 19)],
        procedures=[{"kind": "ECT", "start": "2026-05-04", "end": None, "sessions": 5}],
    )
    found = _due(trd, record, "neurostimulation", dt.date(2026, 5, 4))
    (item,) = [i for i in found if i.item == "not_improving"]
    assert item.why == (
        "the ECT course: PHQ-9 20 → 19 on 2026-05-25 (5% fall); less than a 20% fall 14 or "
        "more days into the course (early_improvement)"
    )
    assert "8–12 weeks" not in item.why


def test_urgent_risk_names_the_destination_as_the_other_items_do(
    make_record: Callable[..., Record],
    make_trial: Callable[..., Any],
    trd: Definition,
) -> None:
    record = make_record(
        trials=[make_trial()], risk={"date": "2026-05-28", "suicidality": "active"}
    )
    (item,) = [
        i
        for i in _due(trd, record, "initial_trial", dt.date(2026, 1, 5))
        if i.item == "urgent_risk"
    ]
    assert item.why == (
        "risk assessment of 2026-05-28: active suicidality; 'escalate' → Neurostimulation is "
        "enabled"
    )


def test_measurement_overdue_gives_the_last_score_value(
    make_record: Callable[..., Record],
    make_trial: Callable[..., Any],
    make_score: Callable[..., Any],
    trd: Definition,
) -> None:
    record = make_record(trials=[make_trial()], measurements=[make_score("2026-01-05", 20)])
    (item,) = [
        i
        for i in _due(trd, record, "complete_trial", dt.date(2026, 3, 1))
        if i.item == "measurement_overdue"
    ]
    assert item.why.startswith(
        "no score since entering the state on 2026-03-01 (last: PHQ-9 20 on 2026-01-05)"
    )
