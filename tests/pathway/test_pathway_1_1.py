"""Version 1.1 of the TRD pathway: one test per change of shared/spec/trd-pathway.md, each written
from the case that misled a clinician on 1.0 (every one of these fails on the 1.0 engine)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest

from pathway import Assessment, Definition, derive, guard_results, load_definition
from pathway.record import parse_record
from pathway.yamlio import definitions_dir

Record = dict[str, Any]


def _trial(drug: str, start: str, end: str | None, mg: float, **extra: Any) -> dict[str, Any]:
    return {
        "drug": drug,
        "role": extra.pop("role", "antidepressant"),
        "start": start,
        "end": end,
        "doses": extra.pop("doses", [{"from": start, "mg_per_day": mg}]),
        "adherence": extra.pop("adherence", 0.9),
        "stop_reason": extra.pop("stop_reason", None),
        **extra,
    }


def _score(date: str, value: int) -> dict[str, Any]:
    return {"date": date, "instrument": "PHQ-9", "score": value}


TWO_FAILED = [
    _trial("sertraline", "2025-09-01", "2025-11-03", 100, stop_reason="no_response"),
    _trial("venlafaxine", "2025-11-10", "2026-02-02", 225),
]
TWO_FAILED_SCORES = [_score("2025-11-10", 20), _score("2026-02-02", 18)]


@pytest.fixture
def resistant(make_record: Callable[..., Record]) -> Callable[..., Record]:
    """Two failed adequate trials (sertraline, venlafaxine): treatment-resistant if clear."""

    def make(**overrides: Any) -> Record:
        fields = {"trials": TWO_FAILED, "measurements": TWO_FAILED_SCORES, **overrides}
        return make_record(**fields)

    return make


# -- 1. Bipolar: only a rule-out clears ---------------------------------------------------------


def test_treated_bipolar_disorder_is_still_bipolar_disorder(
    resistant: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    # 1.0: `addressed` cleared the features and `switch` (another antidepressant) was recommended
    record = resistant(
        history={"elevated_mood": True},
        contributors=[{"kind": "bipolar_disorder", "status": "addressed", "date": "2026-03-01"}],
    )
    result = evaluate(record)
    assert result.bipolar_confirmed and "bipolar_features" in result.flags
    assert not result.treatment_resistant
    assert result.recommended == "exit"
    assert "switch" not in result.enabled


def test_a_positive_mdq_after_a_rule_out_raises_the_flag_again(
    resistant: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    mdq = {"instrument": "MDQ", "score": 9, "same_period": True, "impairment": "serious"}
    ruled_out = [{"kind": "bipolar_disorder", "status": "ruled_out", "date": "2026-03-01"}]
    before = resistant(contributors=ruled_out, screens=[{**mdq, "date": "2026-02-15"}])
    assert "bipolar_features" not in evaluate(before).flags
    after = resistant(contributors=ruled_out, screens=[{**mdq, "date": "2026-04-01"}])
    result = evaluate(after)
    assert "bipolar_features" in result.flags and result.recommended == "review"


# -- 2. A confirmed stressor is an active stressor ----------------------------------------------


def test_a_confirmed_stressor_flags(
    resistant: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    stressor = {"kind": "stressor", "status": "confirmed", "date": "2026-03-01", "note": "x"}
    result = evaluate(resistant(contributors=[stressor]))
    assert "active_stressor" in result.flags and result.recommended == "review"


# -- 3. A dose cut below the effective dose and held ---------------------------------------------


def _cut_trial(start: str) -> dict[str, Any]:
    begin = dt.date.fromisoformat(start)
    cut = (begin + dt.timedelta(days=14)).isoformat()
    doses = [{"from": start, "mg_per_day": 100}, {"from": cut, "mg_per_day": 25}]
    return _trial("sertraline", start, None, 0, doses=doses)


def test_a_dose_cut_and_held_is_an_incomplete_trial(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    # 1.0: in progress forever, with no evaluation date
    result = evaluate(make_record(trials=[_cut_trial("2026-01-05")]))
    [trial] = result.trials
    assert (trial.status, trial.reasons) == ("inadequate", ["duration_short", "dose_reduced"])
    assert trial.evaluation_due_on == dt.date(2026, 2, 16)  # 6 weeks on drug
    assert "incomplete_trial" in result.flags and result.recommended == "complete"


def test_a_dose_cut_is_in_progress_until_the_weeks_on_drug_reach_the_window(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    [trial] = evaluate(make_record(trials=[_cut_trial("2026-05-01")])).trials
    assert (trial.status, trial.reasons) == ("in_progress", ["duration_short", "dose_reduced"])
    assert trial.evaluation_due_on == dt.date(2026, 6, 12)


def test_a_trial_that_had_its_window_stays_adequate_after_a_cut(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    doses = [{"from": "2026-01-05", "mg_per_day": 100}, {"from": "2026-03-02", "mg_per_day": 25}]
    [trial] = evaluate(
        make_record(trials=[_trial("sertraline", "2026-01-05", None, 0, doses=doses)])
    ).trials
    assert (trial.status, trial.reasons) == ("adequate", [])


# -- 4. Steps and relapse ----------------------------------------------------------------------


def test_a_relapse_after_remission_is_not_remission(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    # 1.0: remission → maintenance → relapse → only `remit` enabled, back to maintenance
    record = make_record(
        trials=[_trial("sertraline", "2025-10-06", "2026-03-02", 100, stop_reason="remission")],
        measurements=[_score("2025-10-06", 20), _score("2026-01-05", 3), _score("2026-05-20", 15)],
    )
    result = evaluate(record)
    assert result.current_outcome == "relapsed"
    assert "remit" not in result.enabled
    assert result.recommended == "optimize"
    assert {"optimize", "augment", "switch"} <= set(result.enabled)
    optimize = next(g for g in result.guards if g.trigger == "optimize")
    # the remission score with its date and cut-off, then the relapse with its own
    assert any(
        "PHQ-9 20 → 3 on 2026-01-05 (remission is ≤4), then 15 on 2026-05-20 (relapse is ≥10)"
        in r.detail
        for r in optimize.reasons
    )


def test_a_remission_midway_is_not_the_outcome_when_the_end_score_is_high(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    # "An outcome of remission becomes relapsed": the end score decides the outcome, so a
    # remission at week 4 of a trial that ended with PHQ-9 18 is a failed trial, not `relapsed`
    # (which would recommend `optimize`, restoring a drug stopped for no response)
    record = make_record(
        trials=[_trial("venlafaxine", "2026-01-05", "2026-04-10", 150, stop_reason="no_response")],
        measurements=[
            _score("2026-01-05", 20),
            _score("2026-02-02", 4),
            _score("2026-03-02", 15),
            _score("2026-04-06", 18),
        ],
    )
    result = evaluate(record)
    [trial] = result.trials
    assert (trial.status, trial.outcome) == ("adequate", "none")
    assert result.failed_adequate_trials == 1
    assert result.recommended == "switch"
    assert "optimize" not in result.enabled


def test_a_remission_then_a_relapse_on_a_trial_that_goes_on_is_relapsed(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    # still on the drug: its latest score is no end score, and a remission on it followed by a
    # relapse calls for `optimize` (restore what worked), with the scores in date order
    record = make_record(
        trials=[_trial("venlafaxine", "2025-11-03", None, 150)],
        measurements=[
            _score("2025-11-03", 20),
            _score("2026-01-05", 4),
            _score("2026-04-06", 15),
            _score("2026-05-25", 18),
        ],
    )
    result = evaluate(record)
    assert result.current_outcome == "relapsed"
    assert result.recommended == "optimize"
    optimize = next(g for g in result.guards if g.trigger == "optimize")
    detail = next(r.detail for r in optimize.reasons if r.predicate == "outcome")
    assert "PHQ-9 20 → 4 on 2026-01-05 (remission is ≤4), then 15 on 2026-04-06" in detail
    assert detail.endswith("latest 18 on 2026-05-25")


def test_a_later_procedure_closes_the_outcome_of_the_drug(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    # "The outcome belongs to the current step": PHQ-9 21 → 22 on venlafaxine, then an ECT course
    # to 6. The fall is the course's; venlafaxine failed (it was credited with a response).
    record = make_record(
        trials=[_trial("venlafaxine", "2025-11-03", None, 225)],
        measurements=[_score("2025-11-03", 21), _score("2026-03-30", 22), _score("2026-05-06", 6)],
        procedures=[{"kind": "ECT", "start": "2026-04-01", "end": "2026-05-08", "sessions": 12}],
    )
    result = evaluate(record)
    [trial] = result.trials
    assert (trial.outcome, trial.outcome_basis["end"]) == ("none", 22)
    assert trial.outcome_basis["closed_by"] == "ECT"
    assert result.failed_adequate_trials == 1
    assert result.staging.thase_rush == "I"
    [ect] = result.procedures
    assert ect.outcome == "response"
    assert result.current_outcome == "response"


def test_a_remission_before_a_course_relapses_only_before_it(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    # a remission on the drug, then an rTMS course: scores during the course are the course's
    record = make_record(
        trials=[_trial("sertraline", "2025-10-06", "2026-02-02", 100, stop_reason="remission")],
        measurements=[
            _score("2025-10-06", 20),
            _score("2026-01-05", 3),
            _score("2026-04-20", 20),
            _score("2026-05-25", 16),
        ],
        procedures=[{"kind": "rTMS", "start": "2026-04-20", "end": None, "sessions": 20}],
    )
    [trial] = evaluate(record).trials
    assert trial.outcome == "relapsed"  # the score on the course's first day is before it
    later = make_record(
        trials=[_trial("sertraline", "2025-10-06", "2026-02-02", 100, stop_reason="remission")],
        measurements=[_score("2025-10-06", 20), _score("2026-01-05", 3), _score("2026-05-25", 16)],
        procedures=[{"kind": "rTMS", "start": "2026-04-20", "end": None, "sessions": 20}],
    )
    [trial] = evaluate(later).trials
    assert trial.outcome == "remission"


def test_an_ect_course_is_judged_as_its_own_step(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    # 1.0: PHQ-9 22 → 6 during ECT was credited to the antidepressant
    record = make_record(
        trials=[_trial("sertraline", "2026-01-05", None, 100)],
        measurements=[_score("2026-01-05", 21), _score("2026-03-30", 22), _score("2026-05-06", 6)],
        procedures=[{"kind": "ECT", "start": "2026-04-01", "end": "2026-05-08", "sessions": 12}],
    )
    result = evaluate(record)
    assert result.current_step is not None and result.current_step.kind == "procedure"
    [ect] = result.procedures
    assert (ect.outcome, ect.outcome_basis["baseline"], ect.outcome_basis["end"]) == (
        "response",
        22,
        6,
    )
    assert result.current_outcome == "response"
    assert result.recommended == "continue_course"
    course = next(g for g in result.guards if g.trigger == "continue_course")
    assert course.to == "neurostimulation"


def test_remission_during_ect_after_a_stopped_antidepressant_is_remission(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    # 1.0: `complete` was recommended (the stopped trial was inadequate)
    record = make_record(
        trials=[_trial("sertraline", "2026-01-05", "2026-01-26", 100, stop_reason="side_effects")],
        measurements=[_score("2026-03-30", 22), _score("2026-05-06", 3)],
        procedures=[{"kind": "ECT", "start": "2026-04-01", "end": "2026-05-08", "sessions": 12}],
    )
    result = evaluate(record)
    assert result.current_outcome == "remission" and result.recommended == "remit"
    assert "complete" not in result.enabled


def test_a_rapid_acting_course_that_helps_continues_there(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    record = make_record(
        trials=[_trial("sertraline", "2025-09-01", "2026-01-05", 100)],
        measurements=[_score("2026-04-01", 20), _score("2026-05-20", 13)],
        procedures=[{"kind": "esketamine", "start": "2026-04-01", "sessions": 8}],
    )
    course = next(g for g in evaluate(record).guards if g.trigger == "continue_course")
    assert (course.result, course.to) == ("true", "rapid_acting")


# -- 5. No dead ends, no loops -----------------------------------------------------------------


def test_after_an_escalation_partway_through_a_trial_something_is_enabled(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    # 1.0: the trial was in progress and the ECT course did not help: nothing was enabled
    record = make_record(
        trials=[_trial("sertraline", "2026-04-27", None, 100)],
        measurements=[_score("2026-04-27", 24), _score("2026-05-04", 24), _score("2026-05-28", 22)],
        procedures=[{"kind": "ECT", "start": "2026-05-04", "end": "2026-05-29", "sessions": 9}],
    )
    result = evaluate(record)
    assert result.trials[0].status == "in_progress"
    assert result.current_outcome == "none"
    assert result.recommended == "complete"


def _state_guards(trd: Definition, record: Record, state: str, entered: dt.date) -> set[str]:
    parsed = parse_record(record, catalog=trd.catalog)
    facts = derive(
        parsed,
        as_of=dt.date(2026, 6, 1),
        params=trd.parameters,
        catalog=trd.catalog,
        entered_state_on=trd.judged_since(state, entered),
    )
    return {g.trigger for g in guard_results(trd, facts, state) if g.result == "true"}


def test_a_trial_that_ended_before_the_state_was_entered_does_not_reopen_reassess(
    trd: Definition, make_record: Callable[..., Record]
) -> None:
    # 1.0: complete → complete_trial → reassess enabled at once (the trial had ended) → complete
    record = make_record(
        trials=[_trial("sertraline", "2026-04-06", "2026-04-27", 100, stop_reason="side_effects")]
    )
    assert "reassess" not in _state_guards(trd, record, "complete_trial", dt.date(2026, 4, 27))
    assert "reassess" not in _state_guards(trd, record, "complete_trial", dt.date(2026, 5, 4))
    # the next trial, once it ends or reaches its window, opens it again
    record["trials"].append(_trial("escitalopram", "2026-05-04", "2026-05-25", 10))
    assert "reassess" in _state_guards(trd, record, "complete_trial", dt.date(2026, 5, 4))
    # the initial state was entered at enrollment: its record's history counts in full
    assert "reassess" in _state_guards(trd, record, "initial_trial", dt.date(2026, 5, 30))


def test_a_trial_stopped_for_side_effects_recommends_completing_a_trial_first(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    record = make_record(
        trials=[_trial("sertraline", "2026-04-06", "2026-04-27", 100, stop_reason="side_effects")]
    )
    result = evaluate(record)
    assert result.enabled[:2] == ["complete", "switch"]


# -- 6. CANMAT sequence --------------------------------------------------------------------------


FOUR_FAILED = [
    _trial("sertraline", "2025-01-06", "2025-03-10", 100, stop_reason="no_response"),
    _trial("venlafaxine", "2025-03-17", "2025-05-19", 225, stop_reason="no_response"),
    _trial("nortriptyline", "2025-05-26", "2025-07-28", 100, stop_reason="no_response"),
    _trial("tranylcypromine", "2025-08-04", "2025-10-06", 40, stop_reason="no_response"),
]


def test_after_four_failed_trials_through_an_maoi_neuromodulation_is_recommended(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    # 1.0: `switch` (a fifth antidepressant) was still recommended
    result = evaluate(make_record(trials=FOUR_FAILED))
    assert result.failed_adequate_trials == 4 and result.treatment_resistant
    assert result.staging.thase_rush == "IV"
    assert result.recommended == "refer_neurostimulation"


def test_after_a_failed_neurostimulation_course_rapid_acting_is_recommended(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    record = make_record(
        trials=FOUR_FAILED,
        measurements=[_score("2025-10-20", 21), _score("2025-12-01", 20)],
        procedures=[{"kind": "rTMS", "start": "2025-10-20", "end": "2025-12-01", "sessions": 30}],
    )
    result = evaluate(record)
    assert result.procedures[0].outcome == "none"
    assert result.recommended == "start_rapid_acting"


def test_neuromodulation_after_a_failed_adjunct(
    resistant: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    trials = [
        *TWO_FAILED[:1],
        _trial("venlafaxine", "2025-11-10", None, 225),
        _trial("aripiprazole", "2026-02-02", None, 5, role="augmentation"),
    ]
    scores = [*TWO_FAILED_SCORES, _score("2026-03-30", 17)]
    result = evaluate(resistant(trials=trials, measurements=scores))
    assert result.trials[2].status == "adequate" and result.trials[2].outcome == "none"
    assert result.recommended == "refer_neurostimulation"


def test_two_failed_trials_alone_still_recommend_switch_first(
    resistant: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    result = evaluate(resistant())
    assert result.treatment_resistant and result.recommended == "switch"


# -- 7. Early non-improvement (worklist, tests/engine), lithium, Thase–Rush ----------------------


@pytest.mark.parametrize(("birth_year", "status"), [(1960, "adequate"), (1980, "inadequate")])
def test_lithium_level_is_age_aware(
    make_record: Callable[..., Record],
    evaluate: Callable[..., Assessment],
    birth_year: int,
    status: str,
) -> None:
    lithium = _trial("lithium", "2026-01-05", None, 450, role="augmentation", serum_level=0.45)
    record = make_record(
        birth_year=birth_year, trials=[_trial("sertraline", "2025-10-06", None, 100), lithium]
    )
    assert evaluate(record).trials[1].status == status


@pytest.mark.parametrize(
    ("drugs", "stage"),
    [
        (["sertraline", "nortriptyline"], "II"),  # an SSRI and a TCA alone
        (["sertraline", "venlafaxine", "nortriptyline"], "III"),
    ],
)
def test_thase_rush_stage_iii_needs_a_tca_on_top_of_stage_ii(
    make_record: Callable[..., Record],
    evaluate: Callable[..., Assessment],
    drugs: list[str],
    stage: str,
) -> None:
    mg = {"sertraline": 100, "venlafaxine": 225, "nortriptyline": 100}
    starts = ["2025-01-06", "2025-04-07", "2025-07-07"]
    trials = [
        _trial(
            d,
            s,
            (dt.date.fromisoformat(s) + dt.timedelta(weeks=8)).isoformat(),
            mg[d],
            stop_reason="no_response",
        )
        for d, s in zip(drugs, starts, strict=False)
    ]
    assert evaluate(make_record(trials=trials)).staging.thase_rush == stage


# -- assess says what it ignored -----------------------------------------------------------------


def test_assess_lists_what_is_dated_after_the_as_of_date(
    make_record: Callable[..., Record], evaluate: Callable[..., Assessment]
) -> None:
    record = make_record(
        trials=[_trial("sertraline", "2026-01-05", "2026-07-01", 100)],
        measurements=[_score("2026-01-05", 20), _score("2026-06-15", 4)],
    )
    result = evaluate(record)
    assert result.warnings == [
        "trials[0].end is 2026-07-01, after the as-of date 2026-06-01: ignored",
        "measurements[1] dated 2026-06-15, after the as-of date 2026-06-01: ignored",
    ]
    assert result.trials[0].outcome != "remission"


# -- versions ------------------------------------------------------------------------------------


def test_version_1_0_0_is_kept_and_still_valid(trd: Definition) -> None:
    old = load_definition(definitions_dir() / "trd-1.0.0.yaml")
    assert old.key == ("trd", "1.0.0") and trd.key == ("trd", "1.1.0")
    assert {t.trigger for t in trd.transitions} - {t.trigger for t in old.transitions} == {
        "optimize",
        "continue_course",
    }


def test_validate_strict_lists_every_unverified_value_and_every_value_has_a_source() -> None:
    import json as _json

    from typer.testing import CliRunner

    from engine.cli import app

    texts = [
        (definitions_dir() / n).read_text("utf-8")
        for n in ("trd.yaml", "drugs.yaml", "instruments.yaml")
    ]
    marked = sum(  # severity_verified and inline mappings too; comments do not count
        len(re.findall(r"verified: false", line))
        for t in texts
        for line in t.splitlines()
        if not line.lstrip().startswith("#")
    )
    result = CliRunner().invoke(app, ["validate", "--strict", "--json"])
    assert result.exit_code == 0, result.stderr
    rows = _json.loads(result.stdout)["unverified"]
    assert len(rows) == marked
    assert all(isinstance(r["source"], str) and r["source"] for r in rows)
    trd = load_definition()
    for name in type(trd.parameters).model_fields:
        param = getattr(trd.parameters, name)
        assert param is None or param.source.strip(), name
    for drug in trd.catalog.drugs:
        assert drug.source or (drug.augmentation and drug.augmentation.source), drug.name
