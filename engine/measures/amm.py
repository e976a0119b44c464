"""CMS128 / HEDIS AMM after the published CQL: IPSD, 84- and 180-day cumulative durations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from engine.measures.logic import (
    HOSPICE_DISCHARGE,
    HOSPICE_MDS,
    VALID,
    YES,
    GroupResult,
    Period,
    age_at,
    has_code,
    membership,
    overlaps,
)
from engine.measures.model import MeasurePatient
from engine.measures.valuesets import Code, ValueSets

# Status.cql "survey": the observation category an assessment needs to count as performed
SURVEY: Code = ("http://terminology.hl7.org/CodeSystem/observation-category", "survey")


def cumulative_days(intervals: Iterable[tuple[dt.date, dt.date]]) -> int:
    """CMD `cumulativeDuration`: collapse per day (overlapping or adjacent intervals merge, gaps
    count nothing), then the sum of the inclusive lengths."""
    total, cur = 0, None
    for s, e in sorted(intervals):
        if cur is not None and s <= cur[1] + dt.timedelta(days=1):
            cur = (cur[0], max(cur[1], e))
            continue
        if cur is not None:
            total += (cur[1] - cur[0]).days + 1
        cur = (s, e)
    if cur is not None:
        total += (cur[1] - cur[0]).days + 1
    return total


def cms128(p: MeasurePatient, period: Period, vs: ValueSets) -> list[GroupResult]:
    """CMS128 / HEDIS AMM: effective acute phase (84 days) and continuation phase (180 days)."""
    ad = vs["AntidepressantMedication"]
    dispensed = [
        d
        for d in p.of("MedicationDispense")
        if has_code(d.codes, ad)
        and d.status in ("completed", "in-progress", "on-hold")
        and d.start is not None
        and d.end is not None
    ]
    intake = (dt.date(period.start.year - 1, 5, 1), dt.date(period.start.year, 4, 30))
    starts = sorted(d.start for d in dispensed if d.start and intake[0] <= d.start <= intake[1])
    groups = ("acute-phase-84-days", "continuation-phase-180-days")
    if not starts:
        return [GroupResult(g, membership(False, False, False)) for g in groups]
    ipsd = starts[0]
    age = age_at(p.birth_date, ipsd)
    mdd = vs["MajorDepression"]
    has_dx = any(
        has_code(c.codes, mdd) and c.start is not None and abs((c.start - ipsd).days) <= 60
        for c in p.of("Condition")
    )
    visits = vs.union(
        [
            "OfficeVisit",
            "PreventiveCareServicesEstablishedOfficeVisit,18andUp",
            "PreventiveCareServicesInitialOfficeVisit,18andUp",
            "HomeHealthcareServices",
            "AnnualWellnessVisit",
            "NursingFacilityVisit",
            "PsychVisitDiagnosticEvaluation",
            "PsychVisitPsychotherapy",
            "TelephoneVisits",
            "VirtualEncounter",
        ]
    )
    has_visit = any(
        has_code(e.codes, visits)
        and e.status in ("finished", "arrived", "triaged", "in-progress", "onleave")
        and e.start is not None
        and abs((e.start - ipsd).days) <= 60
        for e in p.of("Encounter")
    )
    ip = age is not None and age >= 18 and has_dx and has_visit
    why = []
    if _amm_hospice(p, period, vs):
        why.append("hospice")
    before = (ipsd - dt.timedelta(days=105), ipsd - dt.timedelta(days=1))
    if any(
        has_code(r.codes, ad)
        and r.status == "active"
        and r.intent == "order"
        and overlaps(r.start, r.end, *before)
        for r in p.of("MedicationRequest")
    ):
        why.append("antidepressant in the 105 days before the IPSD")
    out = []
    for g, span, need in zip(groups, (114, 231), (84, 180), strict=True):
        hi = ipsd + dt.timedelta(days=span)
        clipped = [
            (max(d.start, ipsd), min(d.end, hi))
            for d in dispensed
            if d.start and d.end and d.start <= hi and d.end >= ipsd
        ]
        days = cumulative_days(clipped)
        out.append(
            GroupResult(
                g,
                membership(ip, bool(why), days >= need),
                ipsd,
                {"age": age, "days": days, "exclusions": why},
            )
        )
    return out


def _amm_hospice(p: MeasurePatient, period: Period, vs: ValueSets) -> bool:
    """Hospice."Has Hospice Services" over the measurement period (Hospice.cql 6.12.000 with
    Status.cql's status rules; CMS159 writes its own, wider variant: `logic.Depression`)."""
    lo, hi = period.start, period.end
    performed = ("finished", "arrived", "triaged", "in-progress", "onleave")
    return (
        any(
            has_code(e.codes, vs["EncounterInpatient"])
            and e.status in performed
            and not e.value_codes.isdisjoint(HOSPICE_DISCHARGE)
            and e.end is not None
            and lo <= e.end <= hi
            for e in p.of("Encounter")
        )
        or any(
            has_code(e.codes, vs["HospiceEncounter"])
            and e.status in performed
            and overlaps(e.start, e.end, lo, hi)
            for e in p.of("Encounter")
        )
        or any(
            HOSPICE_MDS in o.codes
            and YES in o.value_codes
            and o.status in VALID
            and SURVEY in o.category  # Status.isAssessmentPerformed
            and overlaps(o.start, o.end, lo, hi)
            for o in p.of("Observation")
        )
        or any(
            has_code(s.codes, vs["HospiceCareAmbulatory"])
            and s.status in ("active", "completed")  # Status.isInterventionOrder
            and s.intent == "order"
            and s.start is not None
            and lo <= s.start <= hi
            for s in p.of("ServiceRequest")
        )
        or any(
            has_code(x.codes, vs["HospiceCareAmbulatory"])
            and x.status == "completed"
            and overlaps(x.start, x.end, lo, hi)
            for x in p.of("Procedure")
        )
        or any(
            has_code(c.codes, vs["HospiceDiagnosis"]) and overlaps(c.start, c.end, lo, hi)
            for c in p.of("Condition")
        )
    )
