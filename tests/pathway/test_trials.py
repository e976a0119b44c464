"""Trial assessment: reason codes, status, weeks, evaluation date and outcome (trd-pathway.md).

Sertraline is effective from 50 mg/day, venlafaxine from 150 mg/day; the minimum window is
6 weeks (42 days) at an effective dose and the minimum adherence 0.80.
"""

from __future__ import annotations

import datetime as dt

import pytest

# -- Reason codes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trial", "reasons"),
    [
        pytest.param({"mg": 25}, ["dose_below_effective"], id="dose_below_effective"),
        pytest.param(
            {"end": "2026-02-02", "stop_reason": "no_response"},
            ["duration_short"],
            id="duration_short",
        ),
        pytest.param({"adherence": 0.79}, ["adherence_low"], id="adherence_low"),
        pytest.param(
            {"mg": 25, "adherence": 0.5},
            ["dose_below_effective", "adherence_low"],
            id="below-dose-and-low-adherence",
        ),
        pytest.param(
            {"end": "2026-02-02", "adherence": 0.5},
            ["duration_short", "adherence_low"],
            id="short-and-low-adherence",
        ),
        pytest.param({"adherence": 0.8}, [], id="adherence-at-the-threshold"),
        pytest.param({"mg": 50}, [], id="dose-at-the-minimum"),
        pytest.param({}, [], id="adequate"),
    ],
)
def test_reason_codes(trial, reasons, make_record, make_trial, evaluate):
    result = evaluate(make_record(trials=[make_trial(**trial)]))
    assert result.trials[0].reasons == reasons


def test_dose_below_effective_is_not_also_duration_short(make_record, make_trial, evaluate):
    # Never reaching the dose is one reason, not two (duration at dose is then meaningless).
    record = make_record(trials=[make_trial(mg=25, end="2026-01-19")])
    assert evaluate(record).trials[0].reasons == ["dose_below_effective"]


def test_a_dose_reached_only_after_the_as_of_date_does_not_count(make_record, make_trial, evaluate):
    trial = make_trial(doses=[("2026-01-05", 25), ("2026-07-01", 50)])
    result = evaluate(make_record(trials=[trial]))
    assert result.trials[0].reasons == ["dose_below_effective"]
    assert result.trials[0].max_dose_mg == 25


# -- Status ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trial", "as_of", "status"),
    [
        pytest.param({"end": "2026-03-02"}, "2026-06-01", "adequate", id="ended-after-8-weeks"),
        pytest.param({}, "2026-02-16", "adequate", id="ongoing-exactly-6-weeks"),
        pytest.param({}, "2026-02-15", "in_progress", id="ongoing-one-day-short"),
        pytest.param({"mg": 25}, "2026-02-01", "in_progress", id="ongoing-below-dose-4-weeks"),
        pytest.param(
            {"mg": 25},
            "2026-02-16",
            "inadequate",
            id="ongoing-held-below-dose-for-the-whole-window",
        ),
        pytest.param(
            {"doses": [("2026-01-05", 25), ("2026-05-04", 50)]},
            "2026-06-01",
            "in_progress",
            id="ongoing-raised-late-only-duration-short",
        ),
        pytest.param(
            {"adherence": 0.5}, "2026-02-01", "inadequate", id="ongoing-low-adherence-early"
        ),
        pytest.param(
            {"end": "2026-02-02", "stop_reason": "patient_choice"},
            "2026-06-01",
            "inadequate",
            id="ended-short",
        ),
        pytest.param({"mg": 25, "end": "2026-04-06"}, "2026-06-01", "inadequate", id="ended-low"),
        pytest.param(
            {"end": "2026-09-01"}, "2026-02-01", "in_progress", id="ends-after-as-of-is-ongoing"
        ),
    ],
)
def test_status(trial, as_of, status, make_record, make_trial, evaluate):
    result = evaluate(make_record(trials=[make_trial(**trial)]), dt.date.fromisoformat(as_of))
    assert result.trials[0].status == status


def test_status_of_an_ongoing_trial_held_below_dose_changes_when_the_window_passes(
    make_record, make_trial, evaluate
):
    record = make_record(trials=[make_trial("venlafaxine", mg=75)])
    assert evaluate(record, dt.date(2026, 2, 15)).trials[0].status == "in_progress"
    assert evaluate(record, dt.date(2026, 2, 16)).trials[0].status == "inadequate"


def test_adherence_unknown_is_a_warning_not_a_reason(make_record, make_trial, evaluate):
    result = evaluate(make_record(trials=[make_trial(adherence=None)]))
    trial = result.trials[0]
    assert trial.warnings == ["adherence_unknown"]
    assert trial.reasons == []
    assert trial.status == "adequate"
    assert evaluate(make_record(trials=[make_trial()])).trials[0].warnings == []


def test_lithium_augmentation_is_judged_by_serum_level_when_recorded(
    make_record, make_trial, evaluate
):
    def lithium(**kw):
        return make_trial("lithium", role="augmentation", start="2026-03-02", mg=450, **kw)

    antidepressant = make_trial("venlafaxine", mg=225)
    by_level = evaluate(make_record(trials=[antidepressant, lithium(serum_level=0.6)]))
    low_level = evaluate(make_record(trials=[antidepressant, lithium(serum_level=0.4)]))
    by_dose = evaluate(make_record(trials=[antidepressant, lithium()]))
    assert by_level.trials[1].reasons == []
    assert by_level.trials[1].min_adequate_dose_mg is None
    assert low_level.trials[1].reasons == ["dose_below_effective"]
    assert by_dose.trials[1].reasons == ["dose_below_effective"]  # 450 < 600 mg
    assert by_dose.trials[1].min_adequate_dose_mg == 600


def test_augmentation_uses_its_own_minimum_dose(make_record, make_trial, evaluate):
    # Bupropion is an antidepressant from 300 mg but an augmentation agent from 150 mg.
    record = make_record(
        trials=[
            make_trial("sertraline", mg=100),
            make_trial("bupropion", role="augmentation", start="2026-03-02", mg=150),
        ]
    )
    aug = evaluate(record).trials[1]
    assert (aug.min_adequate_dose_mg, aug.reasons) == (150, [])
    alone = evaluate(make_record(trials=[make_trial("bupropion", mg=150)])).trials[0]
    assert (alone.min_adequate_dose_mg, alone.reasons) == (300, ["dose_below_effective"])


# -- Weeks and the evaluation date -----------------------------------------------------------


def test_3_march_to_24_march_is_21_days_or_3_weeks(make_record, make_trial, facts_of):
    ongoing = make_record(trials=[make_trial(start="2026-03-03")])
    ended = make_record(trials=[make_trial(start="2026-03-03", end="2026-03-24")])
    for record in (ongoing, ended):
        trial = facts_of(record, dt.date(2026, 3, 24)).trials[0]
        assert (trial.days_on_drug, trial.days_at_adequate_dose) == (21, 21)
        assert (trial.weeks_on_drug, trial.weeks_at_adequate_dose) == (3.0, 3.0)


def test_a_dose_holds_until_the_next_dose_and_the_last_date_is_not_counted(
    make_record, make_trial, facts_of
):
    trial = make_trial(
        start="2026-03-03",
        doses=[("2026-03-03", 25), ("2026-03-10", 50), ("2026-03-17", 25), ("2026-03-20", 100)],
        end="2026-03-24",
    )
    facts = facts_of(make_record(trials=[trial]))
    # adequate: 10 → 17 March (7 days) and 20 → 24 March (4 days)
    assert facts.trials[0].days_at_adequate_dose == 11
    assert facts.trials[0].days_on_drug == 21


def test_weeks_are_rounded_to_one_decimal_in_the_output(make_record, make_trial, evaluate):
    result = evaluate(make_record(trials=[make_trial(start="2026-03-03")]), dt.date(2026, 3, 13))
    assert result.trials[0].weeks_on_drug == 1.4  # 10 days


@pytest.mark.parametrize(
    ("trial", "due"),
    [
        pytest.param({"start": "2026-03-03"}, "2026-04-14", id="dose-held-from-the-start"),
        pytest.param(
            {"start": "2026-03-03", "doses": [("2026-03-03", 25), ("2026-03-17", 50)]},
            "2026-04-28",
            id="from-the-day-the-dose-is-reached",
        ),
        pytest.param(
            {
                "start": "2026-03-03",
                "doses": [("2026-03-03", 50), ("2026-03-17", 25), ("2026-03-24", 50)],
            },
            "2026-04-21",
            id="interrupted-dose-counts-the-days-before",
        ),
        pytest.param({"mg": 25}, None, id="never-reached"),
        pytest.param(
            {"start": "2026-03-03", "end": "2026-03-24"}, None, id="ended-before-the-window"
        ),
        pytest.param({"start": "2026-05-25"}, "2026-07-06", id="due-after-the-as-of-date"),
    ],
)
def test_evaluation_due_on(trial, due, make_record, make_trial, evaluate):
    result = evaluate(make_record(trials=[make_trial(**trial)]))
    expected = dt.date.fromisoformat(due) if due else None
    assert result.trials[0].evaluation_due_on == expected


# -- Outcome ---------------------------------------------------------------------------------


def _phq(date, value):
    return {"date": date, "instrument": "PHQ-9", "score": value}


@pytest.mark.parametrize(
    ("baseline", "end", "outcome"),
    [
        pytest.param(18, 4, "remission", id="remission-at-the-threshold"),
        pytest.param(8, 5, "partial", id="37pc-fall-above-remission"),
        pytest.param(20, 10, "response", id="50pc-fall"),
        pytest.param(20, 11, "partial", id="45pc-fall"),
        pytest.param(20, 15, "partial", id="25pc-fall"),
        pytest.param(20, 16, "none", id="20pc-fall"),
        pytest.param(15, 19, "none", id="worse"),
    ],
)
def test_outcome_category(baseline, end, outcome, make_record, make_trial, evaluate):
    record = make_record(
        trials=[make_trial()],
        measurements=[_phq("2026-01-05", baseline), _phq("2026-03-02", end)],
    )
    result = evaluate(record)
    assert result.trials[0].outcome == outcome
    assert result.current_outcome == outcome
    basis = result.trials[0].outcome_basis
    assert (basis["instrument"], basis["baseline"], basis["end"]) == ("PHQ-9", baseline, end)


@pytest.mark.parametrize(
    ("instrument", "remission_max", "baseline"),
    [("PHQ-9", 4, 20), ("QIDS-SR16", 5, 20), ("HAM-D17", 7, 30), ("MADRS", 10, 40)],
)
def test_remission_threshold_per_instrument(
    instrument, remission_max, baseline, make_record, make_trial, evaluate
):
    def outcome(end):
        scores = [
            {"date": "2026-01-05", "instrument": instrument, "score": baseline},
            {"date": "2026-03-02", "instrument": instrument, "score": end},
        ]
        return evaluate(make_record(trials=[make_trial()], measurements=scores)).current_outcome

    assert outcome(remission_max) == "remission"
    assert outcome(remission_max + 1) == "response"


@pytest.mark.parametrize(
    ("instruments", "chosen"),
    [
        pytest.param(["MADRS", "HAM-D17", "QIDS-SR16", "PHQ-9"], "PHQ-9", id="PHQ-9-first"),
        pytest.param(["MADRS", "HAM-D17", "QIDS-SR16"], "QIDS-SR16", id="then-QIDS-SR16"),
        pytest.param(["MADRS", "HAM-D17"], "HAM-D17", id="then-HAM-D17"),
        pytest.param(["MADRS"], "MADRS", id="then-MADRS"),
    ],
)
def test_instrument_preference(instruments, chosen, make_record, make_trial, evaluate):
    scores = [
        {"date": date, "instrument": inst, "score": value}
        for inst in instruments
        for date, value in (("2026-01-05", 20), ("2026-03-02", 12))
    ]
    result = evaluate(make_record(trials=[make_trial()], measurements=scores))
    assert result.trials[0].outcome_basis["instrument"] == chosen


def test_an_instrument_without_both_scores_is_skipped(make_record, make_trial, evaluate):
    # PHQ-9 has only a baseline; QIDS-SR16 has both, so it decides.
    scores = [
        _phq("2026-01-05", 20),
        {"date": "2026-01-05", "instrument": "QIDS-SR16", "score": 16},
        {"date": "2026-03-02", "instrument": "QIDS-SR16", "score": 4},
    ]
    result = evaluate(make_record(trials=[make_trial()], measurements=scores))
    assert result.trials[0].outcome_basis["instrument"] == "QIDS-SR16"
    assert result.current_outcome == "remission"


@pytest.mark.parametrize(
    ("scores", "baseline"),
    [
        pytest.param(
            [("2025-12-01", 25), ("2025-12-20", 20)], 20, id="latest-in-the-30-days-before"
        ),
        pytest.param([("2025-12-06", 20)], 20, id="30-days-before-start"),
        pytest.param([("2025-12-05", 25), ("2026-01-12", 20)], 20, id="31-days-before-is-too-old"),
        pytest.param(
            [("2026-01-12", 20), ("2026-01-15", 25)], 20, id="else-earliest-in-first-14-days"
        ),
        pytest.param([("2025-12-20", 20), ("2026-01-10", 25)], 20, id="before-start-wins"),
        pytest.param([("2026-01-18", 20)], 20, id="day-13-of-the-trial"),
        pytest.param([("2026-01-20", 20)], None, id="day-15-is-too-late"),
    ],
)
def test_baseline_window(scores, baseline, make_record, make_trial, evaluate):
    # Trial starts 2026-01-05; the end score is 10 on 2026-03-02.
    measurements = [_phq(d, s) for d, s in scores] + [_phq("2026-03-02", 10)]
    result = evaluate(make_record(trials=[make_trial()], measurements=measurements))
    basis = result.trials[0].outcome_basis
    if baseline is None:
        assert result.trials[0].outcome == "unknown"
        assert basis is None
    else:
        assert basis["baseline"] == baseline


@pytest.mark.parametrize(
    ("trial", "scores", "end"),
    [
        pytest.param({}, [("2026-01-19", 9)], 9, id="14-days-after-start"),
        pytest.param({}, [("2026-01-18", 9)], None, id="13-days-after-start-too-early"),
        pytest.param({}, [("2026-03-02", 12), ("2026-04-06", 8)], 8, id="latest-wins"),
        pytest.param(
            {"end": "2026-03-02", "stop_reason": "other"},
            [("2026-03-02", 12), ("2026-03-09", 8)],
            12,
            id="on-or-before-the-trial-end",
        ),
        pytest.param({}, [("2026-03-02", 12), ("2026-06-02", 8)], 12, id="not-after-as-of"),
    ],
)
def test_end_score_window(trial, scores, end, make_record, make_trial, evaluate):
    measurements = [_phq("2026-01-05", 20)] + [_phq(d, s) for d, s in scores]
    result = evaluate(make_record(trials=[make_trial(**trial)], measurements=measurements))
    basis = result.trials[0].outcome_basis
    if end is None:
        assert result.trials[0].outcome == "unknown"
    else:
        assert basis["end"] == end


def test_baseline_and_end_are_never_the_same_score(make_record, make_trial, evaluate):
    # One score, 14 days into the trial: not a baseline (too late) and not a pair.
    record = make_record(trials=[make_trial()], measurements=[_phq("2026-01-19", 3)])
    assert evaluate(record).trials[0].outcome == "unknown"


@pytest.mark.parametrize(
    ("stop_reason", "outcome"),
    [
        ("remission", "remission"),
        ("partial_response", "partial"),
        ("no_response", "none"),
        ("side_effects", "unknown"),
        ("patient_choice", "unknown"),
        ("other", "unknown"),
    ],
)
def test_stop_reason_is_the_fallback_outcome(
    stop_reason, outcome, make_record, make_trial, evaluate
):
    trial = make_trial(end="2026-03-02", stop_reason=stop_reason)
    result = evaluate(make_record(trials=[trial]))
    assert result.trials[0].outcome == outcome


def test_scores_beat_the_stop_reason(make_record, make_trial, evaluate):
    trial = make_trial(end="2026-03-02", stop_reason="no_response")
    scores = [_phq("2026-01-05", 20), _phq("2026-03-02", 3)]
    assert evaluate(make_record(trials=[trial], measurements=scores)).current_outcome == "remission"


def test_no_scores_and_no_stop_reason_is_unknown(make_record, make_trial, evaluate):
    result = evaluate(make_record(trials=[make_trial()]))
    assert result.trials[0].outcome == "unknown"
    assert result.trials[0].outcome_basis is None


def test_current_outcome_is_that_of_the_latest_antidepressant_trial(
    make_record, make_trial, evaluate
):
    record = make_record(
        trials=[
            make_trial("venlafaxine", start="2026-03-02", mg=150),  # listed first, started later
            make_trial("sertraline", start="2025-12-01", end="2026-02-23", stop_reason="remission"),
            make_trial("aripiprazole", role="augmentation", start="2026-04-06", mg=5),
        ]
    )
    result = evaluate(record)
    assert [t.index for t in result.trials] == [0, 1, 2]
    assert result.current_outcome == "unknown"  # venlafaxine's, not sertraline's remission


def test_current_outcome_is_null_without_an_antidepressant_trial(make_record, evaluate):
    assert evaluate(make_record()).current_outcome is None


def test_a_stop_reason_dated_after_the_as_of_date_is_not_known_yet(
    make_record, make_trial, evaluate
):
    trial = make_trial(start="2026-03-02", end="2026-09-01", stop_reason="side_effects")
    early = evaluate(make_record(trials=[trial]), dt.date(2026, 3, 30))
    assert early.trials[0].status == "in_progress"
    assert "switch" not in early.enabled
    remitted = make_trial(end="2026-09-01", stop_reason="remission")
    assert evaluate(make_record(trials=[remitted])).current_outcome == "unknown"
    assert evaluate(make_record(trials=[remitted]), dt.date(2026, 9, 1)).current_outcome == (
        "remission"
    )
