"""CMS128 / AMM at every boundary the CQL names: IPSD, age, diagnosis, 84/180 days, 105 days."""

from __future__ import annotations

import datetime as dt

import pytest
from measure_support import RXNORM, d

from engine.measures.amm import cumulative_days

ACUTE, CONT = "acute-phase-84-days", "continuation-phase-180-days"
IPSD = "2024-06-01"


def treated(chart, *supplies, birth="1970-01-01", dx=IPSD, visit=IPSD):
    c = chart(birth=birth).condition("http://snomed.info/sct", "370143000", dx).visit(visit)
    for start, days in supplies or ((IPSD, 84),):
        c = c.dispense(start, days)
    return c


@pytest.mark.parametrize(("days", "hit"), [(83, False), (84, True)], ids=["83d", "84d"])
def test_acute_phase_needs_84_days(chart, days, hit):
    r = treated(chart, (IPSD, days)).run("CMS128")
    assert r[ACUTE].populations["initial-population"] and r[ACUTE].populations["numerator"] is hit


def test_gaps_count_nothing_and_overlaps_count_once(chart):
    # 42 days, a 10-day gap, 42 days: 84 days inside IPSD + 114 days.
    r = treated(chart, (IPSD, 42), (d(IPSD, 52), 42)).run("CMS128")
    assert r[ACUTE].detail["days"] == 84 and r[ACUTE].populations["numerator"]
    overlapping = treated(chart, (IPSD, 50), (d(IPSD, 20), 50)).run("CMS128")
    assert overlapping[ACUTE].detail["days"] == 70


def test_days_after_ipsd_plus_114_do_not_count(chart):
    # 60 days, then a supply from day 100: only days 100–114 (15) count.
    r = treated(chart, (IPSD, 60), (d(IPSD, 100), 60)).run("CMS128")
    assert r[ACUTE].detail["days"] == 75 and not r[ACUTE].populations["numerator"]


@pytest.mark.parametrize(("days", "hit"), [(179, False), (180, True)], ids=["179d", "180d"])
def test_continuation_phase_needs_180_days_within_231(chart, days, hit):
    r = treated(chart, (IPSD, days)).run("CMS128")
    assert r[CONT].populations["numerator"] is hit


def test_continuation_counts_only_to_ipsd_plus_231(chart):
    r = treated(chart, (IPSD, 100), (d(IPSD, 150), 100)).run("CMS128")
    assert r[CONT].detail["days"] == 100 + 82 and r[CONT].populations["numerator"]


@pytest.mark.parametrize(
    ("start", "in_ip"),
    [("2024-04-30", False), ("2024-05-01", True), ("2025-04-30", True), ("2025-05-01", False)],
    ids=["before-intake", "intake-first", "intake-last", "after-intake"],
)
def test_ipsd_in_the_intake_period(chart, start, in_ip):
    r = treated(chart, (start, 90), dx=start, visit=start).run("CMS128")
    assert r[ACUTE].populations["initial-population"] is in_ip


@pytest.mark.parametrize(
    ("birth", "in_ip"),
    [("2006-06-01", True), ("2006-06-02", False)],
    ids=["18-on-ipsd", "17-on-ipsd"],
)
def test_age_18_at_ipsd(chart, birth, in_ip):
    assert treated(chart, birth=birth).run("CMS128")[ACUTE].populations["initial-population"] is (
        in_ip
    )


@pytest.mark.parametrize(
    ("offset", "in_ip"),
    [(-60, True), (60, True), (61, False)],
    ids=["dx-60d-before", "dx-60d-after", "dx-61d-after"],
)
def test_major_depression_within_60_days_of_ipsd(chart, offset, in_ip):
    r = treated(chart, dx=d(IPSD, offset)).run("CMS128")
    assert r[ACUTE].populations["initial-population"] is in_ip


def test_a_qualifying_visit_within_60_days(chart):
    assert treated(chart, visit=d(IPSD, 60)).run("CMS128")[ACUTE].populations["initial-population"]
    r = treated(chart, visit=d(IPSD, 61)).run("CMS128")
    assert not r[ACUTE].populations["initial-population"]


@pytest.mark.parametrize(
    ("end", "excluded"),
    [(d(IPSD, -1), True), (d(IPSD, -105), True), (d(IPSD, -106), False)],
    ids=["until-ipsd", "ends-105d-before", "ends-106d-before"],
)
def test_an_active_antidepressant_in_the_105_days_before_excludes(chart, end, excluded):
    r = treated(chart).order("2023-01-01", end).run("CMS128")
    assert r[ACUTE].populations["denominator-exclusion"] is excluded
    assert r[CONT].populations["denominator-exclusion"] is excluded


def test_hospice_in_the_measurement_period_excludes(chart):
    c = treated(chart).visit("2025-02-01", code="183919006", system="http://snomed.info/sct")
    assert c.run("CMS128")[ACUTE].populations["denominator-exclusion"]


def test_cumulative_days_collapse_per_day():
    day = dt.date(2025, 1, 1)
    spans = [
        (day, day + dt.timedelta(days=9)),
        (day + dt.timedelta(days=10), day + dt.timedelta(days=19)),
    ]
    assert cumulative_days(spans) == 20  # adjacent intervals merge
    assert cumulative_days([]) == 0


def test_a_dispensing_through_medication_reference_counts(chart):
    c = chart(birth="1970-01-01").condition("http://snomed.info/sct", "370143000", IPSD)
    c = c.visit(IPSD)
    c.resources.append(
        {
            "resourceType": "Medication",
            "id": "sert",
            "code": {"coding": [{"system": RXNORM, "code": "312941"}]},
        }
    )
    c._add(
        {
            "resourceType": "MedicationDispense",
            "status": "completed",
            "medicationReference": {"reference": "Medication/sert"},
            "whenHandedOver": IPSD,
            "daysSupply": {"value": 90},
            "quantity": {"value": 90},
        }
    )
    assert c.run("CMS128")[ACUTE].populations["numerator"]


def test_days_supplied_from_quantity_and_dose_when_days_supply_is_missing(chart):
    # CMD: quantity ÷ (dose × doses per day) = 168 ÷ (1 × 2) = 84 days.
    c = treated(chart, (IPSD, 1))
    c._add(
        {
            "resourceType": "MedicationDispense",
            "status": "completed",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "312941"}]},
            "whenHandedOver": IPSD,
            "quantity": {"value": 168},
            "dosageInstruction": [
                {
                    "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                    "doseAndRate": [{"doseQuantity": {"value": 1}}],
                }
            ],
        }
    )
    r = c.run("CMS128")
    assert r[ACUTE].detail["days"] == 84 and r[ACUTE].populations["numerator"]


def test_request_period_from_expected_supply_and_refills(chart):
    # 30 days × (1 + 3 refills) = 120 days from 2024-01-01: overlaps the 105 days before IPSD.
    c = treated(chart)
    c._add(
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "312941"}]},
            "authoredOn": "2024-01-01",
            "dispenseRequest": {
                "expectedSupplyDuration": {"value": 30, "unit": "days"},
                "numberOfRepeatsAllowed": 3,
            },
        }
    )
    assert c.run("CMS128")[ACUTE].populations["denominator-exclusion"]


@pytest.mark.parametrize(("intent", "excluded"), [("order", True), ("plan", False)])
def test_a_hospice_order_excludes_only_as_an_order(chart, intent, excluded):
    # Hospice.cql: [ServiceRequest: "Hospice Care Ambulatory"].isInterventionOrder(), which
    # Status.cql defines as status active/completed and intent = 'order'.
    c = treated(chart)._add(
        {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": intent,
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99377"}]},
            "authoredOn": "2025-02-01",
        }
    )
    assert c.run("CMS128")[ACUTE].populations["denominator-exclusion"] is excluded
