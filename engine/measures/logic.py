"""The PHQ-9 measures (CMS159, NQF 1884, DRR-E) after the published CQL, and shared helpers."""

# Each measure function returns, per group, the populations one patient belongs to. Dates are
# calendar days; CQL's `+ 12 months` is calendar arithmetic (29 February + 12 months = 28 Feb).

from __future__ import annotations

import calendar
import datetime as dt
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.measures.model import Item, MeasurePatient
from engine.measures.valuesets import Code, ValueSets

VALID = ("final", "amended", "corrected")
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
HOSPICE_DISCHARGE = frozenset({(SNOMED, "428371000124100"), (SNOMED, "428361000124107")})
HOSPICE_MDS: Code = (LOINC, "45755-6")
YES: Code = (SNOMED, "373066001")
FACIT_PAL: Code = (LOINC, "71007-9")
WEEK = dt.timedelta(days=7)
_CODES = operator.attrgetter("codes")
_START = operator.attrgetter("start")
_STATUS_CODES = operator.attrgetter("status", "codes")
IP, DEN, EXCL, NUM = "initial-population", "denominator", "denominator-exclusion", "numerator"


@dataclass(frozen=True)
class Period:
    """The measurement period, inclusive days."""

    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class GroupResult:
    """One patient in one group: population membership and what decided it."""

    group: str
    populations: dict[str, bool]
    index_date: dt.date | None = None
    detail: dict[str, object] = field(default_factory=dict)


def add_months(d: dt.date, months: int) -> dt.date:
    """Calendar month arithmetic as CQL does it (the day is clamped to the month's last)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return dt.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def age_at(birth: dt.date | None, on: dt.date) -> int | None:
    """Whole years of age on a date (None if the birth date is unknown)."""
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def overlaps(a0: dt.date | None, a1: dt.date | None, b0: dt.date, b1: dt.date) -> bool:
    """[a0, a1] overlaps [b0, b1]; an open end (None) reaches forever."""
    return a0 is not None and a0 <= b1 and (a1 is None or a1 >= b0)


def has_code(codes: frozenset[Code], vs: frozenset[Code]) -> bool:
    return not codes.isdisjoint(vs)


def confirmed_active(c: Item) -> bool:
    """QICoreCommon isActive and verificationStatus ~ confirmed."""
    return c.clinical in ("active", "recurrence", "relapse") and c.verification == "confirmed"


def _prevalence_end(c: Item) -> dt.date | None:
    return c.end  # None: open-ended (no abatement)


def membership(ip: bool, excl: bool, num: bool) -> dict[str, bool]:
    return {IP: ip, DEN: ip, EXCL: ip and excl, NUM: ip and not excl and num}


def _phq(p: MeasurePatient, vs: ValueSets) -> list[Item]:
    tools = vs["PHQ9andPHQ9MTools"]
    observations = p.of("Observation")
    # Observations share their status and codes: test each distinct pair (map and set run in
    # C); when all pass and every one has a date, all are kept.
    if None not in map(_START, observations) and all(
        status in VALID and not tools.isdisjoint(codes)
        for status, codes in set(map(_STATUS_CODES, observations))
    ):
        found = list(observations)
    else:
        found = [
            o
            for o in observations
            if o.start is not None and o.status in VALID and not tools.isdisjoint(o.codes)
        ]
    if found and set(map(_AT, found)) != {None}:
        found.sort(key=_timed)  # some have a time of day: CQL orders by the DateTime
        return found
    try:
        # (start, value) read in C. A sort compares every pair it leaves adjacent, so when no
        # None value met another value this is exactly the order of `_start`; else use it.
        found.sort(key=_START_VALUE)
    except TypeError:
        found.sort(key=_start)
    return found


_START_VALUE = operator.attrgetter("start", "value")
_AT = operator.attrgetter("at")


def _timed(o: Item) -> tuple[dt.date, float, float]:
    # by day, then by time of day (a date without a time first), then by value
    at = -math.inf if o.at is None else o.at
    return (o.start or dt.date.min, at, -1.0 if o.value is None else o.value)


def _start(o: Item) -> tuple[dt.date, float]:
    # CQL sorts by start only; same-day ties are broken by value so the result never depends
    # on the order the resources came in.
    return (o.start or dt.date.min, -1.0 if o.value is None else o.value)


class Depression:
    """CMS159's index logic (and NQF 1884 / DRR-E, which share it), parameterised by months."""

    def __init__(self, vs: ValueSets) -> None:
        self.vs = vs
        self.dx = vs.union(["MajorDepressionIncludingRemission", "Dysthymia"])
        self.mh = vs.union(
            [
                "BipolarDisorder",
                "PersonalityDisorderEmotionallyLabile",
                "SchizophreniaorPsychoticDisorder",
                "PervasiveDevelopmentalDisorder",
            ]
        )
        self._dips: dict[tuple[dt.date, int], tuple[dt.date, dt.date]] = {}
        # Every code any exclusion looks at: a patient with none of them (and no death) is
        # excluded for nothing, which one set operation tells.
        self.excluding = (
            self.mh
            | vs.union(
                [
                    "EncounterInpatient",
                    "HospiceEncounter",
                    "HospiceCareAmbulatory",
                    "HospiceDiagnosis",
                    "PalliativeCareDiagnosis",
                    "PalliativeCareEncounter",
                    "PalliativeCareIntervention",
                ]
            )
            | {HOSPICE_MDS, FACIT_PAL}
        )

    def identification(self, period: Period, months: int) -> tuple[dt.date, dt.date]:
        """Denominator identification period [start, end) ending 2 months before the period's
        start for 12 months (CQL); for `months` < 12 it moves later by 12 − months."""
        key = (period.start, months)
        found = self._dips.get(key)
        if found is None:
            shift = 12 - months
            found = (add_months(period.start, -14 + shift), add_months(period.start, -2 + shift))
            self._dips[key] = found
        return found

    def index(
        self, p: MeasurePatient, dip: tuple[dt.date, dt.date], phq: list[Item]
    ) -> Item | None:
        """The first PHQ-9 > 9 from 7 days before to the end of a finished depression encounter
        ending in the identification period."""
        lo, hi = dip
        # The cheap test first: most encounters do not end in the identification period.
        ending = [e for e in p.of("Encounter") if e.end is not None and lo <= e.end < hi]
        if not ending:
            return None
        diags = [
            (c.start, _prevalence_end(c) or dt.date.max)
            for c in p.of("Condition")
            if c.start is not None and not self.dx.isdisjoint(c.codes) and confirmed_active(c)
        ]
        visits = self.vs["ContactorOfficeVisit"]
        # (from 7 days before, to the end of) each finished visit during a depression diagnosis
        windows: list[tuple[dt.date, dt.date]] = []
        for e in ending:
            if e.status != "finished" or visits.isdisjoint(e.codes) or e.start is None:
                continue
            for start, end in diags:
                if e.end is not None and overlaps(e.start, e.end, start, end):
                    windows.append((e.start - WEEK, e.end))
                    break
        if not windows:
            return None
        for o in phq:
            if o.value is None or o.value <= 9 or o.start is None:
                continue
            for early, end in windows:
                # the whole effective interval during the window (a period, not just its start)
                if early <= o.start and (o.end or o.start) <= end:
                    return o
        return None

    def exclusions(self, p: MeasurePatient, lo: dt.date, hi: dt.date) -> list[str]:
        """Why a patient is excluded over [lo, hi]: hospice, palliative, expired, disorders."""
        if p.deceased is None:
            # items share their code sets: test each distinct one (set and map run in C)
            codes: set[frozenset[Code]] = set()
            for items in p.items.values():
                codes.update(map(_CODES, items))
            if all(self.excluding.isdisjoint(c) for c in codes):
                return []
        vs, why = self.vs, []
        hospice = (
            any(
                e.status == "finished"
                and has_code(e.codes, vs["EncounterInpatient"])
                and not e.value_codes.isdisjoint(HOSPICE_DISCHARGE)
                and e.end is not None
                and lo <= e.end <= hi
                for e in p.of("Encounter")
            )
            or any(
                has_code(e.codes, vs["HospiceEncounter"])
                and e.status not in ("cancelled", "entered-in-error", "unknown")
                and overlaps(e.start, e.end, lo, hi)
                for e in p.of("Encounter")
            )
            or any(
                HOSPICE_MDS in o.codes
                and YES in o.value_codes
                and o.status in VALID
                and overlaps(o.start, o.end, lo, hi)
                for o in p.of("Observation")
            )
            or any(
                has_code(s.codes, vs["HospiceCareAmbulatory"])
                and s.status in ("active", "completed")
                and s.intent
                in ("order", "original-order", "reflex-order", "filler-order", "instance-order")
                and not s.do_not_perform
                and s.start is not None
                and lo <= s.start <= hi
                for s in p.of("ServiceRequest")
            )
            or any(
                has_code(x.codes, vs["HospiceCareAmbulatory"])
                and x.status not in ("not-done", "entered-in-error", "unknown")
                and overlaps(x.start, x.end, lo, hi)
                for x in p.of("Procedure")
            )
            or any(
                has_code(c.codes, vs["HospiceDiagnosis"])
                and confirmed_active(c)
                and overlaps(c.start, c.end, lo, hi)
                for c in p.of("Condition")
            )
        )
        if hospice:
            why.append("hospice")
        palliative = (
            any(
                FACIT_PAL in o.codes and o.status in VALID and overlaps(o.start, o.end, lo, hi)
                for o in p.of("Observation")
            )
            or any(
                has_code(c.codes, vs["PalliativeCareDiagnosis"])
                and confirmed_active(c)
                and overlaps(c.start, c.end, lo, hi)
                for c in p.of("Condition")
            )
            or any(
                has_code(e.codes, vs["PalliativeCareEncounter"])
                and e.status == "finished"
                and overlaps(e.start, e.end, lo, hi)
                for e in p.of("Encounter")
            )
            or any(
                has_code(x.codes, vs["PalliativeCareIntervention"])
                and x.status not in ("not-done", "entered-in-error", "unknown")
                and overlaps(x.start, x.end, lo, hi)
                for x in p.of("Procedure")
            )
        )
        if palliative:
            why.append("palliative care")
        if p.deceased is not None and p.deceased <= hi:
            why.append("expired")
        if any(
            has_code(c.codes, self.mh)
            and confirmed_active(c)
            and c.start is not None
            and c.start <= hi
            for c in p.of("Condition")
        ):
            why.append("mental health disorder")
        return why


def _last_in(obs: list[Item], lo: dt.date, hi: dt.date) -> Item | None:
    inside = [o for o in obs if o.start is not None and lo <= o.start <= hi]
    return inside[-1] if inside else None


def cms159(p: MeasurePatient, period: Period, vs: ValueSets) -> list[GroupResult]:
    """CMS159 / NQF 0710: depression remission at twelve months (one group)."""
    return [
        _followup(
            p,
            period,
            vs,
            months=12,
            group="remission-12-months",
            hit=lambda idx, last: last.value is not None and last.value < 5,
        )
    ]


def nqf1884(p: MeasurePatient, period: Period, vs: ValueSets) -> list[GroupResult]:
    """NQF 1884 (MNCM): response (≥ 50% fall of the PHQ-9) at six months ± 60 days."""
    return [
        _followup(
            p,
            period,
            vs,
            months=6,
            group="response-6-months",
            hit=lambda idx, last: (
                None not in (idx.value, last.value) and (last.value or 0) <= 0.5 * (idx.value or 0)
            ),
        )
    ]


def depression(vs: ValueSets) -> Depression:
    """The Depression logic for a value-set load (built once, kept on it)."""
    found = vs.memo.get(Depression)
    if found is None:
        found = vs.memo[Depression] = Depression(vs)
    return found


def _followup(
    p: MeasurePatient,
    period: Period,
    vs: ValueSets,
    *,
    months: int,
    group: str,
    hit: Callable[[Item, Item], bool],
) -> GroupResult:
    dep = depression(vs)
    dip = dep.identification(period, months)
    phq = _phq(p, vs)
    idx = dep.index(p, dip, phq)
    if idx is None or idx.start is None:
        return GroupResult(group, membership(False, False, False), detail={"index": None})
    age = age_at(p.birth_date, idx.start)
    ip = age is not None and age >= 12
    anchor = add_months(idx.start, months)
    lo, hi = anchor - dt.timedelta(days=60), anchor + dt.timedelta(days=60)
    why = dep.exclusions(p, dip[0], hi)
    last = _last_in(phq, lo, hi)
    num = last is not None and hit(idx, last)
    return GroupResult(
        group,
        membership(ip, bool(why), num),
        idx.start,
        {
            "index_score": idx.value,
            "age": age,
            "window": [lo, hi],
            "last_score": last.value if last else None,
            "exclusions": why,
        },
    )


def drr_e(p: MeasurePatient, period: Period, vs: ValueSets) -> list[GroupResult]:
    """DRR-E: follow-up, remission and response rates 120–240 days after the index PHQ-9 > 9.

    Index: the first PHQ-9 > 9 in the intake period (May 1 of the prior year to April 30,
    as in AMM: an assumption; NCQA's text is licensed) with a confirmed active depression
    diagnosis on that day; age ≥ 12; CMS159's exclusions through the end of the window.
    """
    dep = depression(vs)
    lo_in, hi_in = dt.date(period.start.year - 1, 5, 1), dt.date(period.start.year, 4, 30)
    diags = [c for c in p.of("Condition") if has_code(c.codes, dep.dx) and confirmed_active(c)]
    phq = _phq(p, vs)
    idx = next(
        (
            o
            for o in phq
            if o.start is not None
            and lo_in <= o.start <= hi_in
            and (o.value or 0) > 9
            and any(overlaps(c.start, c.end, o.start, o.start) for c in diags)
        ),
        None,
    )
    groups = ("follow-up", "remission", "response")
    if idx is None or idx.start is None:
        return [GroupResult(g, membership(False, False, False)) for g in groups]
    age = age_at(p.birth_date, idx.start)
    ip = age is not None and age >= 12
    lo, hi = idx.start + dt.timedelta(days=120), idx.start + dt.timedelta(days=240)
    why = dep.exclusions(p, lo_in, hi)
    last = _last_in(phq, lo, hi)
    hits = (
        last is not None,
        last is not None and last.value is not None and last.value < 5,
        last is not None
        and None not in (last.value, idx.value)
        and (last.value or 0) <= 0.5 * (idx.value or 0),
    )
    detail: dict[str, object] = {
        "index_score": idx.value,
        "age": age,
        "window": [lo, hi],
        "last_score": last.value if last else None,
        "exclusions": why,
    }
    return [
        GroupResult(g, membership(ip, bool(why), h), idx.start, detail)
        for g, h in zip(groups, hits, strict=True)
    ]
