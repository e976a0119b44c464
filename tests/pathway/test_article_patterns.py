"""One test per pattern the source article names: why most "treatment-resistant" cases aren't.

Source: shared/clinical/000_d817ea9ba5dd5b8a.txt ("Why most 'treatment-resistant' cases aren't"),
encoded by shared/spec/trd-pathway.md. As of 2026-06-01 unless a test says otherwise.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def failing(make_record, make_trial, make_score):
    """Factory: an adequate sertraline trial without response (PHQ-9 18 → 16), which alone
    recommends `switch`; keyword overrides add the evidence under test."""

    def make(**overrides):
        overrides.setdefault("trials", [make_trial()])
        overrides.setdefault(
            "measurements", [make_score("2026-01-05", 18), make_score("2026-05-25", 16)]
        )
        return make_record(**overrides)

    return make


# -- Incomplete trials ----------------------------------------------------------------------


def test_three_weeks_instead_of_eight_is_an_incomplete_trial(make_record, make_trial, evaluate):
    record = make_record(
        trials=[
            make_trial(
                "sertraline",
                start="2026-03-02",
                end="2026-03-23",
                mg=100,
                stop_reason="patient_choice",
            )
        ]
    )
    result = evaluate(record)
    trial = result.trials[0]
    assert trial.status == "inadequate"
    assert trial.reasons == ["duration_short"]
    assert trial.weeks_on_drug == 3.0
    assert result.flags == ["incomplete_trial"]
    assert result.recommended == "complete"
    assert result.treatment_resistant is False


def test_dose_raised_once_then_held_below_range_is_an_incomplete_trial(
    make_record, make_trial, evaluate
):
    # venlafaxine is effective from 150 mg/day; 37.5 → 75 mg and held there for months.
    record = make_record(
        trials=[
            make_trial(
                "venlafaxine", start="2026-01-05", doses=[("2026-01-05", 37.5), ("2026-01-19", 75)]
            )
        ]
    )
    result = evaluate(record)
    trial = result.trials[0]
    assert (trial.status, trial.reasons) == ("inadequate", ["dose_below_effective"])
    assert trial.max_dose_mg == 75
    assert trial.min_adequate_dose_mg == 150
    assert trial.weeks_at_adequate_dose == 0.0
    assert trial.evaluation_due_on is None
    assert result.flags == ["incomplete_trial"]
    assert result.recommended == "complete"


def test_inconsistent_dosing_makes_a_trial_incomplete_regardless_of_the_calendar(
    make_record, make_trial, evaluate
):
    # 21 weeks at an effective dose, but only 60% of doses taken.
    record = make_record(trials=[make_trial("sertraline", mg=100, adherence=0.6)])
    result = evaluate(record)
    trial = result.trials[0]
    assert trial.weeks_at_adequate_dose == 21.0
    assert (trial.status, trial.reasons) == ("inadequate", ["adherence_low"])
    assert result.flags == ["incomplete_trial"]
    assert result.recommended == "complete"


def test_stopping_early_for_side_effects_enables_switch_but_completing_comes_first(
    make_record, make_trial, evaluate
):
    record = make_record(
        trials=[
            make_trial(
                "sertraline", start="2026-03-02", end="2026-03-16", stop_reason="side_effects"
            )
        ]
    )
    result = evaluate(record)
    assert result.trials[0].reasons == ["duration_short"]
    assert result.enabled == ["complete", "switch"]
    assert result.recommended == "complete"


def test_side_effects_after_an_adequate_trial_recommend_switching(
    make_record, make_trial, evaluate
):
    # Eight weeks at an effective dose, then intolerable; no scores, so the outcome is unknown.
    record = make_record(
        trials=[
            make_trial(
                "sertraline", start="2026-01-05", end="2026-03-02", stop_reason="side_effects"
            )
        ]
    )
    result = evaluate(record)
    assert result.trials[0].status == "adequate"
    assert result.current_outcome == "unknown"
    assert result.recommended == "switch"


# -- Missed bipolar disorder ----------------------------------------------------------------


@pytest.mark.parametrize(
    "item", ["elevated_mood", "decreased_need_for_sleep", "racing_thoughts", "impulsivity"]
)
def test_each_past_bipolar_feature_raises_bipolar_features(item, failing, evaluate):
    record = failing(history={item: True})
    result = evaluate(record)
    assert result.flags == ["bipolar_features"]
    assert result.recommended == "review"


@pytest.mark.parametrize(
    ("score", "same_period", "impairment", "positive"),
    [
        pytest.param(7, True, "moderate", True, id="7-same-period-moderate"),
        pytest.param(13, True, "serious", True, id="13-same-period-serious"),
        pytest.param(6, True, "serious", False, id="score-6-too-low"),
        pytest.param(9, False, "serious", False, id="not-in-the-same-period"),
        pytest.param(9, True, "minor", False, id="minor-impairment"),
        pytest.param(9, True, "none", False, id="no-impairment"),
    ],
)
def test_mdq_is_positive_only_with_score_same_period_and_impairment(
    score, same_period, impairment, positive, failing, evaluate
):
    mdq = {
        "date": "2026-02-01",
        "instrument": "MDQ",
        "score": score,
        "same_period": same_period,
        "impairment": impairment,
    }
    result = evaluate(failing(screens=[mdq]))
    assert ("bipolar_features" in result.flags) is positive


def test_only_the_latest_mdq_counts(failing, evaluate):
    positive = {"instrument": "MDQ", "score": 9, "same_period": True, "impairment": "serious"}
    negative = {"instrument": "MDQ", "score": 2, "same_period": False, "impairment": "none"}
    screens = [{"date": "2026-01-10", **positive}, {"date": "2026-04-01", **negative}]
    assert evaluate(failing(screens=screens)).flags == []
    screens = [{"date": "2026-01-10", **negative}, {"date": "2026-04-01", **positive}]
    assert evaluate(failing(screens=screens)).flags == ["bipolar_features"]


@pytest.mark.parametrize(
    ("status", "flagged"),
    # 1.1: only a rule-out clears; addressed bipolar disorder is still bipolar disorder
    [("suspected", True), ("active", True), ("addressed", True), ("ruled_out", False)],
)
def test_bipolar_disorder_contributor_status(status, flagged, failing, evaluate):
    contributor = {"kind": "bipolar_disorder", "status": status, "date": "2026-02-01"}
    result = evaluate(failing(contributors=[contributor]))
    assert ("bipolar_features" in result.flags) is flagged


def test_bipolar_ruled_out_clears_history_and_a_positive_mdq(failing, evaluate):
    record = failing(
        history={"elevated_mood": True, "racing_thoughts": True},
        screens=[
            {
                "date": "2026-02-01",
                "instrument": "MDQ",
                "score": 10,
                "same_period": True,
                "impairment": "serious",
            }
        ],
        contributors=[
            {"kind": "bipolar_disorder", "status": "suspected", "date": "2026-02-01"},
            {"kind": "bipolar_disorder", "status": "ruled_out", "date": "2026-03-01"},
        ],
    )
    assert evaluate(record).flags == []


@pytest.mark.parametrize(
    ("statuses", "flagged"),
    [
        pytest.param(["ruled_out"], False, id="ruled-out"),
        pytest.param(["addressed"], True, id="addressed"),
        pytest.param(["ruled_out", "suspected"], True, id="suspected-again-after-ruling-out"),
        pytest.param(["suspected", "addressed"], True, id="suspected-then-addressed"),
        pytest.param(["suspected", "ruled_out"], False, id="suspected-then-ruled-out"),
    ],
)
def test_history_is_cleared_only_while_the_latest_bipolar_entry_rules_it_out(
    statuses, flagged, failing, evaluate
):
    contributors = [
        {"kind": "bipolar_disorder", "status": status, "date": f"2026-0{n + 2}-01"}
        for n, status in enumerate(statuses)
    ]
    record = failing(history={"elevated_mood": True}, contributors=contributors)
    assert ("bipolar_features" in evaluate(record).flags) is flagged


def test_confirmed_bipolar_disorder_exits_the_pathway(failing, evaluate):
    record = failing(
        contributors=[
            {"kind": "bipolar_disorder", "status": "suspected", "date": "2026-02-01"},
            {"kind": "bipolar_disorder", "status": "confirmed", "date": "2026-03-01"},
        ],
    )
    result = evaluate(record)
    assert result.bipolar_confirmed is True
    assert "bipolar_features" in result.flags
    assert result.enabled == ["exit", "review"]
    assert result.recommended == "exit"


# -- Untreated medical contributors ---------------------------------------------------------


def _lab(test, value, unit, date="2026-02-01"):
    return {"date": date, "test": test, "value": value, "unit": unit}


@pytest.mark.parametrize(
    ("sex", "lab", "flagged"),
    [
        pytest.param("female", _lab("TSH", 7.8, "mIU/L"), True, id="TSH-high"),
        pytest.param("female", _lab("TSH", 0.1, "mIU/L"), True, id="TSH-low"),
        pytest.param("female", _lab("TSH", 4.5, "mIU/L"), False, id="TSH-upper-limit"),
        pytest.param("female", _lab("TSH", 0.45, "mIU/L"), False, id="TSH-lower-limit"),
        pytest.param("female", _lab("vitamin_d_25oh", 15, "ng/mL"), True, id="vitD-15-ng/mL"),
        pytest.param("female", _lab("vitamin_d_25oh", 20, "ng/mL"), False, id="vitD-20-ng/mL"),
        pytest.param("female", _lab("vitamin_d_25oh", 40, "nmol/L"), True, id="vitD-40-nmol/L"),
        pytest.param("female", _lab("vitamin_d_25oh", 50, "nmol/L"), False, id="vitD-50-nmol/L"),
        pytest.param("female", _lab("hemoglobin", 11.5, "g/dL"), True, id="Hb-female-11.5-g/dL"),
        pytest.param("female", _lab("hemoglobin", 12.5, "g/dL"), False, id="Hb-female-12.5-g/dL"),
        pytest.param("male", _lab("hemoglobin", 12.5, "g/dL"), True, id="Hb-male-12.5-g/dL"),
        pytest.param("male", _lab("hemoglobin", 13.0, "g/dL"), False, id="Hb-male-13-g/dL"),
        pytest.param("female", _lab("hemoglobin", 115, "g/L"), True, id="Hb-female-115-g/L"),
        pytest.param("female", _lab("hemoglobin", 121, "g/L"), False, id="Hb-female-121-g/L"),
        pytest.param("male", _lab("hemoglobin", 125, "g/L"), True, id="Hb-male-125-g/L"),
        pytest.param("male", _lab("hemoglobin", 135, "g/L"), False, id="Hb-male-135-g/L"),
        pytest.param("unknown", _lab("hemoglobin", 12.5, "g/dL"), False, id="Hb-unknown-sex"),
        pytest.param("other", _lab("hemoglobin", 11.9, "g/dL"), True, id="Hb-other-11.9"),
    ],
)
def test_abnormal_latest_lab_is_a_medical_contributor(sex, lab, flagged, failing, evaluate):
    result = evaluate(failing(sex=sex, labs=[lab]))
    assert ("medical_contributor" in result.flags) is flagged
    assert result.recommended == ("review" if flagged else "switch")


def test_only_the_latest_lab_of_a_test_counts(failing, evaluate):
    labs = [_lab("TSH", 8.0, "mIU/L", "2026-01-10"), _lab("TSH", 2.0, "mIU/L", "2026-03-10")]
    assert evaluate(failing(labs=labs)).flags == []


@pytest.mark.parametrize(("score", "flagged"), [(3, True), (8, True), (2, False)])
def test_sleep_apnea_by_stop_bang(score, flagged, failing, evaluate):
    screen = {"date": "2026-02-01", "instrument": "STOP-Bang", "score": score}
    result = evaluate(failing(screens=[screen]))
    assert ("medical_contributor" in result.flags) is flagged


@pytest.mark.parametrize(
    "kind",
    [
        "hypothyroidism",
        "sleep_apnea",
        "vitamin_d_deficiency",
        "anemia",
        "chronic_pain",
        "other_medical",
    ],
)
@pytest.mark.parametrize("status", ["suspected", "active", "confirmed"])
def test_each_medical_contributor_kind_raises_the_flag(kind, status, failing, evaluate):
    contributor = {"kind": kind, "status": status, "date": "2026-02-01", "note": "on file"}
    result = evaluate(failing(contributors=[contributor]))
    assert result.flags == ["medical_contributor"]
    assert result.recommended == "review"


@pytest.mark.parametrize("kind", ["chronic_pain", "other_medical", "hypothyroidism"])
@pytest.mark.parametrize("clearing", ["addressed", "ruled_out"])
def test_a_later_addressed_or_ruled_out_entry_clears_a_medical_contributor(
    kind, clearing, failing, evaluate
):
    contributors = [
        {"kind": kind, "status": "active", "date": "2026-02-01"},
        {"kind": kind, "status": clearing, "date": "2026-03-01"},
    ]
    assert evaluate(failing(contributors=contributors)).flags == []


@pytest.mark.parametrize(
    ("evidence", "kind"),
    [
        pytest.param({"labs": [_lab("TSH", 7.8, "mIU/L")]}, "hypothyroidism", id="TSH"),
        pytest.param(
            {"labs": [_lab("vitamin_d_25oh", 12, "ng/mL")]}, "vitamin_d_deficiency", id="vitD"
        ),
        pytest.param({"labs": [_lab("hemoglobin", 10.5, "g/dL")]}, "anemia", id="hemoglobin"),
        pytest.param(
            {"screens": [{"date": "2026-02-01", "instrument": "STOP-Bang", "score": 5}]},
            "sleep_apnea",
            id="STOP-Bang",
        ),
    ],
)
@pytest.mark.parametrize(
    ("clear_date", "cleared"),
    [
        pytest.param("2026-01-31", False, id="cleared-the-day-before"),
        pytest.param("2026-02-01", True, id="cleared-the-same-day"),
        pytest.param("2026-02-15", True, id="cleared-after"),
    ],
)
@pytest.mark.parametrize("clearing", ["addressed", "ruled_out"])
def test_abnormal_evidence_is_cleared_by_an_entry_dated_on_or_after_it(
    evidence, kind, clear_date, cleared, clearing, failing, evaluate
):
    record = failing(
        contributors=[{"kind": kind, "status": clearing, "date": clear_date}],
        **evidence,
    )
    assert ("medical_contributor" in evaluate(record).flags) is not cleared


def test_clearing_one_kind_does_not_clear_another(failing, evaluate):
    record = failing(
        labs=[_lab("TSH", 7.8, "mIU/L")],
        contributors=[{"kind": "anemia", "status": "ruled_out", "date": "2026-03-01"}],
    )
    assert evaluate(record).flags == ["medical_contributor"]


# -- Active substance use --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sex", "score", "flagged"),
    [
        pytest.param("male", 4, True, id="male-4"),
        pytest.param("male", 3, False, id="male-3"),
        pytest.param("female", 3, True, id="female-3"),
        pytest.param("female", 2, False, id="female-2"),
        pytest.param("other", 3, True, id="other-3"),
        pytest.param("unknown", 3, True, id="unknown-3"),
    ],
)
def test_alcohol_by_audit_c_with_sex_specific_cutoffs(sex, score, flagged, failing, evaluate):
    screen = {"date": "2026-02-01", "instrument": "AUDIT-C", "score": score}
    result = evaluate(failing(sex=sex, screens=[screen]))
    assert ("substance_use" in result.flags) is flagged


@pytest.mark.parametrize(("score", "flagged"), [(8, True), (20, True), (7, False)])
def test_cannabis_by_cudit_r(score, flagged, failing, evaluate):
    screen = {"date": "2026-02-01", "instrument": "CUDIT-R", "score": score}
    result = evaluate(failing(screens=[screen]))
    assert ("substance_use" in result.flags) is flagged


@pytest.mark.parametrize(
    ("instrument", "kind"), [("AUDIT-C", "alcohol_use"), ("CUDIT-R", "cannabis_use")]
)
def test_a_positive_substance_screen_is_cleared_by_a_later_addressed_entry(
    instrument, kind, failing, evaluate
):
    screens = [{"date": "2026-02-01", "instrument": instrument, "score": 12}]
    addressed = [{"kind": kind, "status": "addressed", "date": "2026-04-01"}]
    before = evaluate(failing(screens=screens))
    after = evaluate(failing(screens=screens, contributors=addressed))
    assert before.flags == ["substance_use"]
    assert after.flags == []


@pytest.mark.parametrize("kind", ["alcohol_use", "cannabis_use", "other_substance_use"])
def test_substance_use_contributors_raise_the_flag(kind, failing, evaluate):
    contributor = {"kind": kind, "status": "active", "date": "2026-02-01"}
    result = evaluate(failing(contributors=[contributor]))
    assert result.flags == ["substance_use"]
    assert result.recommended == "review"


# -- Active stressor -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "flagged"),
    [
        pytest.param([("active", "2026-02-01")], True, id="active"),
        pytest.param([("suspected", "2026-02-01")], True, id="suspected"),
        pytest.param(
            [("active", "2026-02-01"), ("addressed", "2026-04-01")], False, id="addressed"
        ),
        pytest.param([("addressed", "2026-02-01"), ("active", "2026-04-01")], True, id="recurred"),
        pytest.param(
            [("active", "2026-02-01"), ("ruled_out", "2026-02-15")], False, id="ruled-out"
        ),
    ],
)
def test_active_stressor(entries, flagged, failing, evaluate):
    contributors = [
        {"kind": "stressor", "status": status, "date": date, "note": "ongoing professional crisis"}
        for status, date in entries
    ]
    result = evaluate(failing(contributors=contributors))
    assert result.flags == (["active_stressor"] if flagged else [])
    assert result.recommended == ("review" if flagged else "switch")


def test_active_stressor_reason_names_the_stressor(failing, guard_of):
    contributor = {"kind": "stressor", "status": "active", "date": "2026-02-01", "note": "debt"}
    guard = guard_of(failing(contributors=[contributor]), "review")
    assert guard.result == "true"
    [why] = guard.reasons
    assert why.predicate == "differential_clear"
    assert "stressor 'debt' active since 2026-02-01" in why.detail


# -- Life-threatening depression → ECT (escalate to neurostimulation) -------------------------


@pytest.mark.parametrize(
    "risk",
    [
        pytest.param({"suicidality": "active"}, id="active-suicidality"),
        pytest.param({"psychotic_features": True}, id="psychotic-features"),
        pytest.param({"catatonia": True}, id="catatonia"),
        pytest.param({"not_eating_or_drinking": True}, id="not-eating-or-drinking"),
    ],
)
def test_life_threatening_depression_escalates_before_anything_else(
    risk, make_record, make_trial, evaluate
):
    # Even with an incomplete trial and an open differential, escalation comes first.
    record = make_record(
        trials=[make_trial(mg=25)],
        history={"racing_thoughts": True},
        risk={"date": "2026-05-20", "suicidality": "none", **risk},
    )
    result = evaluate(record)
    assert result.life_threatening is True
    assert result.recommended == "escalate"
    escalate = next(g for g in result.guards if g.trigger == "escalate")
    assert (escalate.to, escalate.result) == ("neurostimulation", "true")
    assert escalate.reasons[0].evidence_date.isoformat() == "2026-05-20"


def test_passive_suicidality_is_not_life_threatening(failing, evaluate):
    record = failing(risk={"date": "2026-05-20", "suicidality": "passive"})
    result = evaluate(record)
    assert result.life_threatening is False
    assert "escalate" not in result.enabled
