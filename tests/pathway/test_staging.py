"""Staging of treatment resistance: Maudsley Staging Method and Thase–Rush (reference.md §3)."""

from __future__ import annotations

import datetime as dt

import pytest


@pytest.fixture
def failed_trials(trd, make_trial):
    """Factory: one adequate, failed 8-week trial per drug name, back to back from 2023-01-02."""

    def make(*drugs):
        trials = []
        start = dt.date(2023, 1, 2)
        for name in drugs:
            end = start + dt.timedelta(weeks=8)
            mg = trd.catalog.drug(name).min_adequate_mg
            trials.append(
                make_trial(
                    name, start=start.isoformat(), end=end.isoformat(), mg=mg,
                    stop_reason="no_response",
                )
            )  # fmt: skip
            start = end + dt.timedelta(days=7)
        return trials

    return make


def test_maudsley_worked_example_of_the_reference(make_record, make_trial, failed_trials, evaluate):
    # 18 months (2) + severe without psychosis (4) + 4 failed antidepressants (2) + augmentation
    # used (1) + no ECT (0) = 9 = moderate (reference.md §3.1).
    trials = failed_trials("sertraline", "escitalopram", "venlafaxine", "mirtazapine")
    trials.append(make_trial("aripiprazole", role="augmentation", start="2023-09-04", mg=5))
    record = make_record(episode_start="2024-12-01", severity="severe", trials=trials)
    result = evaluate(record)
    assert result.failed_adequate_trials == 4
    assert result.staging.maudsley.model_dump() == {"score": 9, "band": "moderate"}


@pytest.mark.parametrize(
    ("episode_start", "points"),
    [
        pytest.param("2025-06-01", 1, id="12-months-acute"),
        pytest.param("2025-05-02", 1, id="12-months-and-30-days-acute"),
        pytest.param("2025-05-01", 2, id="13-months-sub-acute"),
        pytest.param("2024-06-01", 2, id="24-months-sub-acute"),
        pytest.param("2024-05-01", 3, id="25-months-chronic"),
        pytest.param("2026-05-01", 1, id="1-month"),
    ],
)
def test_maudsley_duration(episode_start, points, make_record, facts_of):
    facts = facts_of(make_record(episode_start=episode_start))
    assert facts.staging.maudsley.duration == points


@pytest.mark.parametrize(
    ("severity", "points"),
    [("subsyndromal", 1), ("mild", 2), ("moderate", 3), ("severe", 4), ("severe_psychotic", 5)],
)
def test_maudsley_severity(severity, points, make_record, facts_of):
    assert facts_of(make_record(severity=severity)).staging.maudsley.severity == points


@pytest.mark.parametrize(
    ("instrument", "baseline", "points"),
    [
        ("PHQ-9", 3, 1),
        ("PHQ-9", 7, 2),
        ("PHQ-9", 12, 3),
        ("PHQ-9", 17, 4),
        ("PHQ-9", 24, 4),
        ("HAM-D17", 16, 3),
        ("MADRS", 40, 4),
    ],
)
def test_maudsley_severity_from_the_baseline_band_when_not_recorded(
    instrument, baseline, points, make_record, make_trial, make_score, facts_of
):
    record = make_record(
        severity=None,
        trials=[make_trial()],
        measurements=[
            make_score("2026-01-02", baseline, instrument),
            make_score("2026-03-02", 0, instrument),
        ],
    )
    record.pop("severity")
    assert facts_of(record).staging.maudsley.severity == points


@pytest.mark.parametrize(
    ("failed", "points"),
    [(0, 1), (1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (6, 3), (7, 4), (10, 4), (11, 5)],
)
def test_maudsley_treatment_failures(failed, points, make_record, failed_trials, facts_of):
    record = make_record(trials=failed_trials(*["sertraline"] * failed))
    facts = facts_of(record)
    assert len(facts.failed_trials) == failed
    assert facts.staging.maudsley.treatment == points


def test_maudsley_augmentation_and_ect_add_a_point_each(
    make_record, make_trial, failed_trials, facts_of
):
    trials = failed_trials("sertraline")
    base = facts_of(make_record(trials=trials)).staging.maudsley
    aug = make_trial("lithium", role="augmentation", start="2026-03-02", mg=900)
    ect = {"kind": "ECT", "start": "2026-04-01", "end": None, "sessions": 4}
    both = facts_of(make_record(trials=[*trials, aug], procedures=[ect])).staging.maudsley
    assert both.treatment == base.treatment + 2
    assert both.score == base.score + 2


def test_maudsley_treatment_points_are_read_from_the_definition(
    trd, make_record, make_trial, failed_trials
):
    from pathway.facts import derive
    from pathway.record import parse_record

    params = trd.parameters
    points = params.maudsley_treatment_points
    edited = params.model_copy(
        update={
            "maudsley_treatment_points": points.model_copy(
                update={
                    "value": points.value.model_copy(
                        update={"augmentation": 0, "procedures": {"ECT": 2, "rTMS": 1}}
                    )
                }
            )
        }
    )
    aug = make_trial("lithium", role="augmentation", start="2026-03-02", mg=900)
    procedures = [
        {"kind": "ECT", "start": "2026-04-01", "end": None, "sessions": 4},
        {"kind": "rTMS", "start": "2026-02-01", "end": "2026-03-01", "sessions": 30},
    ]
    record = parse_record(
        make_record(trials=[*failed_trials("sertraline"), aug], procedures=procedures),
        catalog=trd.catalog,
    )
    shipped = derive(record, as_of=dt.date(2026, 6, 1), params=params, catalog=trd.catalog)
    changed = derive(record, as_of=dt.date(2026, 6, 1), params=edited, catalog=trd.catalog)
    # shipped: augmentation 1 + ECT 1 (rTMS scores nothing); edited: 0 + ECT 2 + rTMS 1
    assert changed.staging.maudsley.treatment == shipped.staging.maudsley.treatment + 1


@pytest.mark.parametrize(
    ("episode_start", "severity", "failed", "score", "band"),
    [
        pytest.param("2026-01-01", "subsyndromal", 0, 3, "mild", id="minimum-3-mild"),
        pytest.param("2025-01-01", "moderate", 2, 6, "mild", id="6-mild"),
        pytest.param("2025-01-01", "severe", 2, 7, "moderate", id="7-moderate"),
        pytest.param("2023-01-01", "severe", 4, 9, "moderate", id="9-moderate"),
        pytest.param("2023-01-01", "severe", 5, 10, "moderate", id="10-moderate"),
        pytest.param("2023-01-01", "severe_psychotic", 5, 11, "severe", id="11-severe"),
        pytest.param("2023-01-01", "severe_psychotic", 11, 13, "severe", id="13-severe"),
    ],
)
def test_maudsley_bands(
    episode_start, severity, failed, score, band, make_record, failed_trials, evaluate
):
    record = make_record(
        episode_start=episode_start,
        severity=severity,
        trials=failed_trials(*["sertraline"] * failed),
    )
    assert evaluate(record).staging.maudsley.model_dump() == {"score": score, "band": band}


def test_maudsley_maximum_is_15(make_record, make_trial, failed_trials, evaluate):
    trials = failed_trials(*["sertraline"] * 11)
    trials.append(make_trial("lithium", role="augmentation", start="2026-03-02", mg=900))
    record = make_record(
        episode_start="2023-01-01",
        severity="severe_psychotic",
        trials=trials,
        procedures=[{"kind": "ECT", "start": "2026-04-01", "end": "2026-05-01", "sessions": 9}],
    )
    assert evaluate(record).staging.maudsley.model_dump() == {"score": 15, "band": "severe"}


@pytest.mark.parametrize("missing", ["episode_start", "severity"])
def test_maudsley_is_null_when_duration_or_severity_is_unknown(missing, make_record, evaluate):
    record = make_record()
    record.pop(missing)
    assert evaluate(record).staging.maudsley.model_dump() == {"score": None, "band": None}


@pytest.mark.parametrize(
    ("drugs", "ect", "stage"),
    [
        pytest.param((), None, None, id="no-adequate-trial"),
        pytest.param(("sertraline",), None, "I", id="I-one-failed-trial"),
        pytest.param(("sertraline", "escitalopram"), None, "I", id="I-two-in-one-class"),
        pytest.param(("sertraline", "venlafaxine"), None, "II", id="II-two-classes"),
        pytest.param(
            ("sertraline", "venlafaxine", "nortriptyline"), None, "III", id="III-plus-a-TCA"
        ),
        pytest.param(
            ("sertraline", "venlafaxine", "nortriptyline", "phenelzine"),
            None,
            "IV",
            id="IV-plus-an-MAOI",
        ),
        pytest.param(
            ("sertraline", "venlafaxine", "nortriptyline", "phenelzine"),
            ("2026-05-01", 20),
            "V",
            id="V-plus-a-failed-ECT-course",
        ),
        pytest.param(
            ("sertraline", "venlafaxine", "nortriptyline", "phenelzine"),
            ("2026-05-01", 3),
            "IV",
            id="IV-after-an-ECT-course-that-worked",
        ),
        pytest.param(
            ("sertraline", "venlafaxine", "nortriptyline", "phenelzine"),
            ("2026-05-01", None),
            "IV",
            id="IV-after-an-ECT-course-with-no-scores",
        ),
        pytest.param(
            ("sertraline", "venlafaxine", "nortriptyline", "phenelzine"),
            (None, 20),
            "IV",
            id="IV-while-ECT-is-ongoing",
        ),
        pytest.param(
            ("sertraline", "venlafaxine", "phenelzine"), None, "II", id="II-MAOI-without-a-TCA"
        ),
    ],
)
def test_thase_rush(drugs, ect, stage, make_record, make_score, failed_trials, evaluate):
    # V is IV plus a *failed* course of ECT (reference.md §3.2): PHQ-9 22 before the course,
    # then the score given at its end
    end, score = ect or (None, None)
    procedures = [{"kind": "ECT", "start": "2026-03-02", "end": end, "sessions": 10}]
    scores = [make_score("2026-03-02", 22)]
    if score is not None:
        scores.append(make_score("2026-04-30", score))
    record = make_record(trials=failed_trials(*drugs), procedures=procedures, measurements=scores)
    assert evaluate(record).staging.thase_rush == stage


def test_thase_rush_0_after_a_remission_and_a_relapse(
    make_record, make_trial, make_score, evaluate
):
    # a patient who remitted on an adequate trial responded to it, whatever came later
    record = make_record(
        trials=[make_trial(end="2026-03-02", stop_reason="remission")],
        measurements=[
            make_score("2026-01-05", 20),
            make_score("2026-03-02", 3),
            make_score("2026-05-20", 15),
        ],
    )
    result = evaluate(record)
    assert result.trials[0].outcome == "relapsed"
    assert result.staging.thase_rush == "0"


def test_thase_rush_0_after_a_response(make_record, make_trial, make_score, evaluate):
    record = make_record(
        trials=[make_trial()],
        measurements=[make_score("2026-01-05", 20), make_score("2026-03-02", 8)],
    )
    assert evaluate(record).staging.thase_rush == "0"
