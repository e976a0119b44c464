"""CMS159 (remission at 12 months) at every boundary the CQL names; NQF 1884 and DRR-E."""

from __future__ import annotations

import pytest
from measure_support import ICD, SNOMED, d

G = "remission-12-months"
INDEX = (
    "2024-03-01"  # an index assessment inside the identification period [2023-11-01, 2024-11-01)
)


def remitted(chart, *, score=15, follow=3, follow_on="2025-03-01", **kw):
    return chart(**kw).mdd().visit(INDEX).phq9(INDEX, score).phq9(follow_on, follow)


def pops(result):
    return {k for k, v in result.populations.items() if v}


def test_remission_counts_in_the_numerator(chart):
    r = remitted(chart).run("CMS159")[G]
    assert pops(r) == {"initial-population", "denominator", "numerator"}
    assert r.index_date.isoformat() == INDEX


@pytest.mark.parametrize(("score", "in_ip"), [(9, False), (10, True)], ids=["phq9=9", "phq9=10"])
def test_index_needs_phq9_above_9(chart, score, in_ip):
    assert remitted(chart, score=score).run("CMS159")[G].populations["initial-population"] is in_ip


@pytest.mark.parametrize(("follow", "hit"), [(4, True), (5, False)], ids=["last=4", "last=5"])
def test_numerator_needs_last_phq9_below_5(chart, follow, hit):
    assert remitted(chart, follow=follow).run("CMS159")[G].populations["numerator"] is hit


@pytest.mark.parametrize(
    ("offset", "hit"),
    [(-61, False), (-60, True), (60, True), (61, False)],
    ids=["12m-61d", "12m-60d", "12m+60d", "12m+61d"],
)
def test_assessment_window_is_12_months_plus_minus_60_days(chart, offset, hit):
    r = remitted(chart, follow_on=d("2025-03-01", offset)).run("CMS159")[G]
    assert r.populations["numerator"] is hit


def test_the_last_assessment_in_the_window_decides(chart):
    c = remitted(chart).phq9("2025-04-01", 8)
    assert c.run("CMS159")[G].populations["numerator"] is False


@pytest.mark.parametrize(
    ("birth", "in_ip"),
    [("2012-03-01", True), ("2012-03-02", False)],
    ids=["12-on-index", "11-on-index"],
)
def test_age_12_at_the_index(chart, birth, in_ip):
    assert remitted(chart, birth=birth).run("CMS159")[G].populations["initial-population"] is in_ip


@pytest.mark.parametrize(
    ("visit_end", "in_ip"),
    [("2023-10-31", False), ("2023-11-01", True), ("2024-10-31", True), ("2024-11-01", False)],
    ids=["before-14m", "at-14m", "last-day", "at-2m-excluded"],
)
def test_encounter_must_end_in_the_identification_period(chart, visit_end, in_ip):
    c = chart().mdd("2023-01-01").visit(visit_end).phq9(visit_end, 15)
    assert c.run("CMS159")[G].populations["initial-population"] is in_ip


@pytest.mark.parametrize(("before", "in_ip"), [(7, True), (8, False)], ids=["7d", "8d"])
def test_index_from_7_days_before_the_encounter(chart, before, in_ip):
    c = chart().mdd().visit(INDEX).phq9(d(INDEX, -before), 15)
    assert c.run("CMS159")[G].populations["initial-population"] is in_ip


def test_index_needs_an_active_confirmed_depression_and_a_valid_status(chart):
    c = chart().condition(SNOMED, "370143000", "2024-01-01", verification="provisional")
    assert not c.visit(INDEX).phq9(INDEX, 15).run("CMS159")[G].populations["initial-population"]
    c = chart().mdd().visit(INDEX).phq9(INDEX, 15, status="preliminary")
    assert not c.run("CMS159")[G].populations["initial-population"]
    c = chart().mdd().visit(INDEX, status="in-progress").phq9(INDEX, 15)
    assert not c.run("CMS159")[G].populations["initial-population"]


@pytest.mark.parametrize(
    "add",
    [
        lambda c: c.visit("2024-06-01", code="183919006", system=SNOMED),  # Hospice Encounter
        lambda c: c.condition(ICD, "Z51.5", "2024-06-01"),  # Palliative Care Diagnosis
        lambda c: c.condition(SNOMED, "13746004", "2025-01-01"),  # bipolar disorder
        lambda c: c.condition(ICD, "F60.3", "2025-01-01"),  # personality disorder
        lambda c: c.condition(ICD, "F20.0", "2025-01-01"),  # schizophrenia
        lambda c: c.condition(ICD, "F84.0", "2025-01-01"),  # pervasive developmental disorder
    ],
    ids=["hospice", "palliative", "bipolar", "personality", "psychotic", "pdd"],
)
def test_each_exclusion(chart, add):
    r = add(remitted(chart)).run("CMS159")[G]
    assert r.populations["denominator-exclusion"] and not r.populations["numerator"]


@pytest.mark.parametrize(
    ("deceased", "excluded"),
    [("2025-04-30", True), ("2025-05-01", False)],
    ids=["died-in-window", "died-after-window"],
)
def test_death_by_the_end_of_the_assessment_period_excludes(chart, deceased, excluded):
    r = remitted(chart, deceased=deceased).run("CMS159")[G]
    assert r.populations["denominator-exclusion"] is excluded


def test_a_provisional_bipolar_diagnosis_does_not_exclude(chart):
    c = remitted(chart).condition(SNOMED, "13746004", "2025-01-01", verification="provisional")
    assert not c.run("CMS159")[G].populations["denominator-exclusion"]


def test_a_disorder_after_the_assessment_period_does_not_exclude(chart):
    c = remitted(chart).condition(SNOMED, "13746004", "2025-05-01")
    assert not c.run("CMS159")[G].populations["denominator-exclusion"]


def test_phq9m_counts_like_phq9(chart):
    c = chart().mdd().visit(INDEX).phq9(INDEX, 15, code="89204-2").phq9("2025-03-01", 2)
    assert c.run("CMS159")[G].populations["numerator"]


@pytest.mark.parametrize(("follow", "hit"), [(10, True), (11, False)], ids=["-50%", "-45%"])
def test_nqf1884_response_is_a_50_percent_fall_at_6_months(chart, follow, hit):
    # 6 months: the identification period moves 6 months later, [2024-05-01, 2025-05-01).
    c = chart().mdd().visit("2024-09-01").phq9("2024-09-01", 20).phq9("2025-03-01", follow)
    r = c.run("NQF1884")["response-6-months"]
    assert r.populations["initial-population"] and r.populations["numerator"] is hit


def test_drr_e_rates_in_the_120_to_240_day_window(chart):
    c = chart().mdd().phq9("2024-06-01", 20).phq9(d("2024-06-01", 240), 4)
    r = c.run("DRR-E")
    assert [g.populations["numerator"] for g in r.values()] == [True, True, True]
    late = chart().mdd().phq9("2024-06-01", 20).phq9(d("2024-06-01", 241), 4).run("DRR-E")
    assert [g.populations["numerator"] for g in late.values()] == [False, False, False]
    assert list(r) == ["follow-up", "remission", "response"]


def test_months_are_calendar_months_as_in_cql():
    import datetime as dt

    from engine.measures.logic import add_months, age_at

    assert add_months(dt.date(2024, 2, 29), 12) == dt.date(2025, 2, 28)
    assert add_months(dt.date(2024, 3, 31), -1) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2025, 1, 1), -14) == dt.date(2023, 11, 1)
    assert age_at(dt.date(2012, 2, 29), dt.date(2024, 2, 28)) == 11
    assert age_at(dt.date(2012, 2, 29), dt.date(2024, 2, 29)) == 12
