"""Boundary cohorts for CMS159 and CMS128, expected populations worked out by hand from the
published CQL (shared/fhir/cql/DepressionRemissionatTwelveMonthsFHIR.cql,
AntidepressantMedicationManagementFHIR.cql, CumulativeMedicationDuration.cql, QICoreCommon.cql),
checked through the library and through `pathway measure --fhir … --json`.

Measurement period 2025 throughout, so (CMS159) the Denominator Identification Period is
[2023-11-01, 2024-11-01) and (CMS128) the intake period is 2024-05-01 – 2025-04-30.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from measure_support import RXNORM, SNOMED, Chart, d
from typer.testing import CliRunner

from engine.cli import app

IP, EXCL, NUM = "initial-population", "denominator-exclusion", "numerator"
BIPOLAR = (
    "13746004"  # SNOMED bipolar disorder: shared/fhir/mapping.md, "Bipolar Disorder" value set
)
HOSPICE_DX = "170935008"  # in the shipped "Hospice Diagnosis" expansion


def _in(res: Any) -> tuple[bool, bool, bool]:
    """(initial population, denominator exclusion, numerator) of a GroupResult."""
    return (res.populations[IP], res.populations[EXCL], res.populations[NUM])


# -- CMS159 -------------------------------------------------------------------------------


def _remission(
    visit: str = "2024-03-01",
    phq: str = "2024-03-01",
    score: int = 15,
    *,
    birth: str = "1980-06-15",
    deceased: str | None = None,
) -> Chart:
    """An MDD diagnosis from 2023, a finished office visit and a PHQ-9 on it."""
    return Chart(birth, deceased).mdd("2023-01-01").visit(visit).phq9(phq, score)


# Index 2024-03-01: Measure Assessment Period 2025-03-01 ± 60 days = [2024-12-31, 2025-04-30].
CMS159_CASES: dict[str, tuple[Chart, tuple[bool, bool, bool]]] = {
    # "Depression Encounter": the visit ends during [2023-11-01, 2024-11-01)
    "visit ends on the first day of the identification period": (
        _remission("2023-11-01", "2023-11-01").phq9("2024-11-01", 3),
        (True, False, True),
    ),
    "visit ends the day before it": (
        _remission("2023-10-31", "2023-10-31").phq9("2024-10-31", 3),
        (False, False, False),
    ),
    "visit ends on its last day": (
        _remission("2024-10-31", "2024-10-31").phq9("2025-10-31", 3),
        (True, False, True),
    ),
    "visit ends on its (open) end": (
        _remission("2024-11-01", "2024-11-01").phq9("2025-11-01", 3),
        (False, False, False),
    ),
    # the index PHQ-9: during [start of the visit - 7 days, end of the visit]
    "PHQ-9 seven days before the visit": (
        _remission("2024-03-08", "2024-03-01").phq9("2025-03-01", 3),
        (True, False, True),
    ),
    "PHQ-9 eight days before the visit": (
        _remission("2024-03-09", "2024-03-01").phq9("2025-03-01", 3),
        (False, False, False),
    ),
    "PHQ-9 the day after the visit": (
        _remission("2024-03-01", "2024-03-02").phq9("2025-03-02", 3),
        (False, False, False),
    ),
    # "Depression Assessments Greater than 9"
    "index PHQ-9 of 9": (_remission(score=9).phq9("2025-03-01", 3), (False, False, False)),
    "index PHQ-9 of 10": (_remission(score=10).phq9("2025-03-01", 3), (True, False, True)),
    # Numerator: the last PHQ-9 in the window < 5
    "last PHQ-9 of 5": (_remission().phq9("2025-03-01", 5), (True, False, False)),
    "last PHQ-9 of 4": (_remission().phq9("2025-03-01", 4), (True, False, True)),
    "remission, then a later score of 12": (
        _remission().phq9("2025-02-01", 3).phq9("2025-03-01", 12),
        (True, False, False),
    ),
    "remission on the window's first day": (
        _remission().phq9("2024-12-31", 3),
        (True, False, True),
    ),
    "remission the day before it": (_remission().phq9("2024-12-30", 3), (True, False, False)),
    "remission on the window's last day": (
        _remission().phq9("2025-04-30", 3),
        (True, False, True),
    ),
    "remission the day after it": (_remission().phq9("2025-05-01", 3), (True, False, False)),
    # 2024-02-29 + 12 months is 2025-02-28 (calendar arithmetic): window ends 2025-04-29
    "leap-day index, remission on 2025-04-29": (
        _remission("2024-02-29", "2024-02-29").phq9("2025-04-29", 3),
        (True, False, True),
    ),
    "leap-day index, remission on 2025-04-30": (
        _remission("2024-02-29", "2024-02-29").phq9("2025-04-30", 3),
        (True, False, False),
    ),
    # Initial Population: age >= 12 at the index
    "twelfth birthday on the index day": (
        _remission(birth="2012-03-01").phq9("2025-03-01", 3),
        (True, False, True),
    ),
    "twelfth birthday the day after": (
        _remission(birth="2012-03-02").phq9("2025-03-01", 3),
        (False, False, False),
    ),
    # "Patient Expired": on or before the end of the Measure Assessment Period
    "died on the window's last day": (
        _remission(deceased="2025-04-30").phq9("2025-03-01", 3),
        (True, True, False),
    ),
    "died the day after": (
        _remission(deceased="2025-05-01").phq9("2025-03-01", 3),
        (True, False, True),
    ),
    # "Has Mental Health Disorder Diagnoses": confirmed active, starting on or before that end
    "bipolar from the window's last day": (
        _remission().phq9("2025-03-01", 3).condition(SNOMED, BIPOLAR, "2025-04-30"),
        (True, True, False),
    ),
    "bipolar from the day after": (
        _remission().phq9("2025-03-01", 3).condition(SNOMED, BIPOLAR, "2025-05-01"),
        (True, False, True),
    ),
    "bipolar provisional": (
        _remission()
        .phq9("2025-03-01", 3)
        .condition(SNOMED, BIPOLAR, "2024-01-01", verification="provisional"),
        (True, False, True),
    ),
    "bipolar resolved": (
        _remission()
        .phq9("2025-03-01", 3)
        .condition(SNOMED, BIPOLAR, "2024-01-01", clinical="resolved"),
        (True, False, True),
    ),
}


@pytest.mark.parametrize("case", list(CMS159_CASES))
def test_cms159_boundaries(case: str):
    chart, expected = CMS159_CASES[case]
    assert _in(chart.run("CMS159")["remission-12-months"]) == expected


def _condition_without_onset(code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "code": {"coding": [{"system": SNOMED, "code": code}]},
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "verificationStatus": {"coding": [{"code": "confirmed"}]},
        **extra,
    }


@pytest.mark.parametrize("extra", [{}, {"recordedDate": "2026-01-01"}], ids=["bare", "recorded"])
def test_cms159_a_bipolar_diagnosis_without_onset_excludes(extra: dict[str, Any]):
    # QICoreCommon prevalenceInterval = Interval[start of onset, …]: no onset is a closed null
    # low boundary, i.e. from the beginning of time, so "on or before end of Measure
    # Assessment Period" holds. recordedDate is not part of the interval.
    chart = _remission().phq9("2025-03-01", 3)
    chart._add(_condition_without_onset(BIPOLAR, **extra))
    res = chart.run("CMS159")["remission-12-months"]
    assert _in(res) == (True, True, False)
    assert res.detail["exclusions"] == ["mental health disorder"]


def test_cms159_a_depression_diagnosis_without_onset_covers_the_visit():
    chart = Chart().visit("2024-03-01").phq9("2024-03-01", 15).phq9("2025-03-01", 3)
    chart._add(_condition_without_onset("370143000", recordedDate="2024-06-01"))
    assert _in(chart.run("CMS159")["remission-12-months"]) == (True, False, True)


def test_cms159_an_abatement_period_ends_the_diagnosis_at_its_end():
    # prevalenceInterval ends at `end of condition.abatementInterval()`: the visit on
    # 2024-03-01 overlaps a diagnosis that abated over 2024-02-01 – 2024-04-01.
    chart = Chart().visit("2024-03-01").phq9("2024-03-01", 15).phq9("2025-03-01", 3)
    chart._add(
        {
            **_condition_without_onset("370143000"),
            "onsetDateTime": "2023-01-01",
            "abatementPeriod": {"start": "2024-02-01", "end": "2024-04-01"},
        }
    )
    assert _in(chart.run("CMS159")["remission-12-months"]) == (True, False, True)


# -- CMS128 -------------------------------------------------------------------------------


def _amm(ipsd: str = "2024-05-01", days: int = 84, *, birth: str = "1980-06-15") -> Chart:
    return Chart(birth).mdd(ipsd).visit(ipsd).dispense(ipsd, days)


CMS128_CASES: dict[str, tuple[Chart, tuple[bool, bool, bool], tuple[bool, bool, bool]]] = {
    "IPSD on the intake period's first day": (
        _amm("2024-05-01"),
        (True, False, True),
        (True, False, False),
    ),
    "dispensing the day before it": (
        _amm("2024-04-30"),
        (False, False, False),
        (False, False, False),
    ),
    "IPSD on its last day": (_amm("2025-04-30"), (True, False, True), (True, False, False)),
    "dispensing the day after it": (
        _amm("2025-05-01"),
        (False, False, False),
        (False, False, False),
    ),
    "83 days": (_amm(days=83), (True, False, False), (True, False, False)),
    "eighteenth birthday on the IPSD": (
        _amm(birth="2006-05-01"),
        (True, False, True),
        (True, False, False),
    ),
    "eighteenth birthday the day after": (
        _amm(birth="2006-05-02"),
        (False, False, False),
        (False, False, False),
    ),
    "diagnosis 60 days after the IPSD": (
        Chart().mdd(d("2024-05-01", 60)).visit("2024-05-01").dispense("2024-05-01", 84),
        (True, False, True),
        (True, False, False),
    ),
    "diagnosis 61 days after": (
        Chart().mdd(d("2024-05-01", 61)).visit("2024-05-01").dispense("2024-05-01", 84),
        (False, False, False),
        (False, False, False),
    ),
    # 90 + 90 days with a 52-day gap: 180 days within [IPSD, IPSD + 231] (the second fill
    # is cut at IPSD + 231), 90 within IPSD + 114
    "two fills, gap, second cut at IPSD + 231": (
        _amm(days=90).dispense(d("2024-05-01", 142), 90),
        (True, False, True),
        (True, False, True),
    ),
    "two fills, second cut one day short": (
        _amm(days=90).dispense(d("2024-05-01", 143), 90),
        (True, False, True),
        (True, False, False),
    ),
    # Denominator Exclusions: an active order overlapping [IPSD - 105 days, IPSD)
    "order ending the day before the IPSD": (
        _amm().order(d("2024-05-01", -200), d("2024-05-01", -1)),
        (True, True, False),
        (True, True, False),
    ),
    "order ending 105 days before": (
        _amm().order(d("2024-05-01", -200), d("2024-05-01", -105)),
        (True, True, False),
        (True, True, False),
    ),
    "order ending 106 days before": (
        _amm().order(d("2024-05-01", -200), d("2024-05-01", -106)),
        (True, False, True),
        (True, False, False),
    ),
    "order starting on the IPSD": (
        _amm().order("2024-05-01", "2024-12-01"),
        (True, False, True),
        (True, False, False),
    ),
    "completed order": (
        _amm().order(d("2024-05-01", -200), d("2024-05-01", -1), status="completed"),
        (True, False, True),
        (True, False, False),
    ),
}


@pytest.mark.parametrize("case", list(CMS128_CASES))
def test_cms128_boundaries(case: str):
    chart, acute, continuation = CMS128_CASES[case]
    got = chart.run("CMS128")
    assert _in(got["acute-phase-84-days"]) == acute
    assert _in(got["continuation-phase-180-days"]) == continuation


def _request(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "312941"}]},
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "excluded"),
    [
        # CMD medicationRequestPeriod: no supply and no end of the bounds → null: no overlap
        ({"authoredOn": "2024-01-01"}, False),
        (
            {
                "authoredOn": "2024-01-01",
                "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {}}}}],
            },
            False,
        ),
        # IPSD 2024-05-01 - 105 days = 2024-01-17. 30 days from 2023-12-18 end on 2024-01-16
        (
            {
                "authoredOn": "2023-12-18",
                "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "code": "d"}},
            },
            False,
        ),
        # … and from 2023-12-19 on 2024-01-17, the first day of the 105
        (
            {
                "authoredOn": "2023-12-19",
                "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "code": "d"}},
            },
            True,
        ),
        # 30 days × (1 + 1 refill) from 2023-11-19: to 2024-01-17
        (
            {
                "authoredOn": "2023-11-19",
                "dispenseRequest": {
                    "expectedSupplyDuration": {"value": 30, "code": "d"},
                    "numberOfRepeatsAllowed": 1,
                },
            },
            True,
        ),
        # no authoredOn: the start of the validity period
        (
            {
                "dispenseRequest": {
                    "validityPeriod": {"start": "2024-03-01"},
                    "expectedSupplyDuration": {"value": 30, "code": "d"},
                }
            },
            True,
        ),
    ],
    ids=["authored-only", "open-bounds", "ends-day-106", "ends-day-105", "refill", "validity"],
)
def test_cms128_order_period_follows_cmd(fields: dict[str, Any], excluded: bool):
    chart = _amm()
    chart._add(_request(**fields))
    got = chart.run("CMS128")["acute-phase-84-days"]
    assert _in(got) == (True, excluded, not excluded)


def test_cms128_hospice_diagnosis_abated_over_a_period_overlapping_the_year():
    # Hospice.cql: Hospice Diagnosis prevalenceInterval overlaps the measurement period; the
    # interval ends at the *end* of abatementPeriod (2025-02-01), inside 2025.
    chart = _amm()
    chart._add(
        {
            **_condition_without_onset(HOSPICE_DX),
            "clinicalStatus": {"coding": [{"code": "resolved"}]},
            "onsetDateTime": "2024-09-01",
            "abatementPeriod": {"start": "2024-12-01", "end": "2025-02-01"},
        }
    )
    got = chart.run("CMS128")["acute-phase-84-days"]
    assert _in(got) == (True, True, False)
    assert got.detail["exclusions"] == ["hospice"]


def test_cms128_a_diagnosis_known_only_by_recorded_date_is_not_within_60_days():
    # "date from start of MajorDepression.prevalenceInterval() within 60 days of IPSD": with
    # no onset the interval starts at the beginning of time, whatever the recordedDate.
    chart = Chart().visit("2024-05-01").dispense("2024-05-01", 84)
    chart._add(_condition_without_onset("370143000", recordedDate="2024-05-01"))
    assert _in(chart.run("CMS128")["acute-phase-84-days"]) == (False, False, False)


# -- the same counts through the CLI ------------------------------------------------------


def _as_patient(chart: Chart, pid: str) -> list[dict[str, Any]]:
    """The chart's resources as patient `pid` (ids and references renamed)."""
    out = []
    for r in copy.deepcopy(chart.resources):
        r["id"] = f"{pid}-{r['id']}"
        if r["resourceType"] == "Patient":
            r["id"] = pid
            r["identifier"][0]["value"] = pid
        else:
            r["subject"] = {"reference": f"Patient/{pid}"}
        out.append(r)
    return out


def _cli_counts(tmp_path: Path, measure: str, charts: list[Chart]) -> dict[str, dict[str, int]]:
    path = tmp_path / "cohort.ndjson"
    lines = [json.dumps(r) for n, c in enumerate(charts) for r in _as_patient(c, f"B-{n:03d}")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["measure", measure, "--fhir", str(path), "--period", "2025-01-01:2025-12-31", "--json"],
        env={"USER": "tester"},
    )
    assert result.exit_code == 0, result.stderr
    return {g["id"]: g["populations"] for g in json.loads(result.stdout)["groups"]}


def _expected(rows: list[tuple[bool, bool, bool]]) -> dict[str, int]:
    ip = sum(r[0] for r in rows)
    return {
        IP: ip,
        "denominator": ip,
        EXCL: sum(r[0] and r[1] for r in rows),
        NUM: sum(r[0] and not r[1] and r[2] for r in rows),
    }


def test_cli_counts_of_the_cms159_cohort(tmp_path: Path):
    charts = [c for c, _ in CMS159_CASES.values()]
    got = _cli_counts(tmp_path, "CMS159", charts)
    assert got == {"remission-12-months": _expected([e for _, e in CMS159_CASES.values()])}
    assert got["remission-12-months"] == {IP: 20, "denominator": 20, EXCL: 2, NUM: 13}


def test_cli_counts_of_the_cms128_cohort(tmp_path: Path):
    charts = [c for c, _, _ in CMS128_CASES.values()]
    got = _cli_counts(tmp_path, "CMS128", charts)
    assert got == {
        "acute-phase-84-days": _expected([a for _, a, _ in CMS128_CASES.values()]),
        "continuation-phase-180-days": _expected([b for _, _, b in CMS128_CASES.values()]),
    }


def _phq_resource(score: int, **effective: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "valueInteger": score,
        **effective,
    }


def test_cms159_an_index_phq9_given_as_an_instant_counts():
    # Observation.effective[x] may be an instant; toInterval() takes it as a DateTime
    chart = Chart().mdd("2023-01-01").visit("2024-03-01").phq9("2025-03-01", 3)
    chart._add(_phq_resource(15, effectiveInstant="2024-03-01T10:00:00Z"))
    assert _in(chart.run("CMS159")["remission-12-months"]) == (True, False, True)


@pytest.mark.parametrize(("end", "expected"), [("2024-03-01", True), ("2024-03-02", False)])
def test_cms159_an_index_phq9_over_a_period_must_lie_within_the_visit_window(end, expected):
    # "DepressionAssessment.effective.toInterval() during day of Interval[start - 7 days,
    # end of the encounter]": the whole period, not only its start
    chart = Chart().mdd("2023-01-01").visit("2024-03-01").phq9("2025-03-01", 3)
    chart._add(_phq_resource(15, effectivePeriod={"start": "2024-02-28", "end": end}))
    assert _in(chart.run("CMS159")["remission-12-months"]) == (expected, False, expected)


def test_cms159_scores_on_one_day_are_ordered_by_their_times():
    # Index: First(... sort by start of effective); Numerator: Last(... sort by start of
    # effective). The sort is by DateTime: 09:00 comes before 15:00 whatever the scores.
    chart = Chart().mdd("2023-01-01").visit("2024-03-01")
    for when, score in [
        ("2024-03-01T15:00:00Z", 11),
        ("2024-03-01T09:00:00Z", 20),
        ("2025-03-01T15:00:00+01:00", 3),
        ("2025-03-01T09:00:00+01:00", 12),
    ]:
        chart._add(_phq_resource(score, effectiveDateTime=when))
    res = chart.run("CMS159")["remission-12-months"]
    assert _in(res) == (True, False, True)
    assert (res.detail["index_score"], res.detail["last_score"]) == (20, 3)


def test_cms159_without_times_same_day_scores_stay_independent_of_input_order():
    for scores in ([12, 3], [3, 12]):
        chart = Chart().mdd("2023-01-01").visit("2024-03-01").phq9("2024-03-01", 15)
        for s in scores:
            chart.phq9("2025-03-01", s)
        assert chart.run("CMS159")["remission-12-months"].detail["last_score"] == 12


def _hospice_assessment(**extra: Any) -> dict[str, Any]:
    """Hospice care [Minimum Data Set] 45755-6 = Yes (SNOMED 373066001), final."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "45755-6"}]},
        "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "373066001"}]},
        "effectiveDateTime": "2025-02-01",
        **extra,
    }


SURVEY = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}


@pytest.mark.parametrize(
    ("category", "excluded"),
    [([{"coding": [SURVEY]}], True), ([], False)],
    ids=["survey", "no-category"],
)
def test_cms128_hospice_assessment_must_be_a_survey(category: list[Any], excluded: bool):
    # Hospice.cql: [Observation: "Hospice care [Minimum Data Set]"].isAssessmentPerformed(),
    # and Status.cql isAssessmentPerformed needs status final/amended/corrected AND a
    # category ~ "survey".
    chart = _amm()
    chart._add(_hospice_assessment(category=category))
    assert _in(chart.run("CMS128")["acute-phase-84-days"]) == (True, excluded, not excluded)


def test_cms159_hospice_assessment_needs_no_category():
    # CMS159 writes its own hospice test: status final/amended/corrected, no category.
    chart = _remission().phq9("2025-03-01", 3)
    chart._add(_hospice_assessment())
    assert _in(chart.run("CMS159")["remission-12-months"]) == (True, True, False)
