"""The facts the measures read, one patient at a time, from FHIR resources (or an approximation)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Code = tuple[str, str]


class Item(NamedTuple):
    """One clinical item: its codes, status, interval (dates, inclusive) and value.

    A named tuple: the database path builds millions of them, and a tuple is built fastest.
    """

    kind: str  # FHIR resource type
    codes: frozenset[Code]
    status: str | None
    start: dt.date | None
    end: dt.date | None = None
    value: float | None = None
    value_codes: frozenset[Code] = frozenset()
    clinical: str | None = None  # Condition.clinicalStatus
    verification: str | None = None  # Condition.verificationStatus
    intent: str | None = None
    days_supply: float | None = None
    do_not_perform: bool = False


@dataclass
class MeasurePatient:
    """A patient as the measures see them."""

    id: str
    birth_date: dt.date | None
    deceased: dt.date | None = None
    version: str | None = None  # definition version (engine database only)
    items: dict[str, list[Item]] = field(default_factory=lambda: defaultdict(list))

    def of(self, kind: str) -> list[Item]:
        """Items of one resource type."""
        return self.items.get(kind, [])


def _day(v: Any) -> dt.date | None:
    if isinstance(v, str) and len(v) >= 10:
        try:
            return dt.date.fromisoformat(v[:10])
        except ValueError:
            return None
    if isinstance(v, str) and len(v) == 4 and v.isdigit():
        return dt.date(int(v), 12, 31)  # a birth year only: 31 December (never overstates age)
    return None


def _codes(cc: Any) -> frozenset[Code]:
    if isinstance(cc, list):
        return frozenset().union(*(_codes(x) for x in cc)) if cc else frozenset()
    if not isinstance(cc, dict):
        return frozenset()
    return frozenset((str(x.get("system")), str(x.get("code"))) for x in cc.get("coding") or [])


def _first(cc: Any) -> str | None:
    coding = (cc or {}).get("coding") or [] if isinstance(cc, dict) else []
    return str(coding[0].get("code")) if coding else None


def _interval(r: dict[str, Any], name: str) -> tuple[dt.date | None, dt.date | None]:
    if isinstance(r.get(f"{name}Period"), dict):
        p = r[f"{name}Period"]
        return _day(p.get("start")), _day(p.get("end"))
    d = _day(r.get(f"{name}DateTime"))
    return d, d


def _medication(r: dict[str, Any], medications: dict[str, dict[str, Any]]) -> Any:
    """The medication's CodeableConcept, also through a (contained) Medication reference."""
    if "medicationCodeableConcept" in r:
        return r["medicationCodeableConcept"]
    ref = (r.get("medicationReference") or {}).get("reference")
    contained = {f"#{x.get('id')}": x for x in r.get("contained") or []}
    med = contained.get(str(ref)) or medications.get(str(ref))
    return (med or {}).get("code")


_UNITS = {
    "day": "d",
    "days": "d",
    "week": "wk",
    "weeks": "wk",
    "month": "mo",
    "months": "mo",
    "hour": "h",
    "hours": "h",
    "year": "a",
    "years": "a",
}
_PER_DAY = {
    "s": 86400.0,
    "min": 1440.0,
    "h": 24.0,
    "d": 1.0,
    "wk": 1 / 7,
    "mo": 1 / 30,
    "a": 1 / 365,
}


def _days(q: dict[str, Any]) -> float | None:
    """A duration Quantity in days (CMD: `convert … to days`)."""
    value = q.get("value")
    if value is None:
        return None
    unit = str(q.get("code") or q.get("unit") or "d")
    per_day = _PER_DAY.get(_UNITS.get(unit, unit))
    return float(value) / per_day if per_day else None


def _supplied(quantity: Any, dosage: dict[str, Any]) -> float | None:
    """CMD's fallback: quantity ÷ (dose × doses per day), doses per day from the timing
    (frequencyMax or frequency per period, else the count of times of day, else 1)."""
    if not isinstance(quantity, dict) or quantity.get("value") is None:
        return None
    dr = (dosage.get("doseAndRate") or [{}])[0]
    dose = (dr.get("doseRange") or {}).get("high") or dr.get("doseQuantity") or {}
    if not dose.get("value"):
        return None
    rep = (dosage.get("timing") or {}).get("repeat") or {}
    freq = rep.get("frequencyMax") or rep.get("frequency")
    per_day = _PER_DAY.get(rep.get("periodUnit", ""))
    if freq and rep.get("period") and per_day:
        daily = float(freq) * per_day / float(rep["period"])
    else:
        daily = float(len(rep.get("timeOfDay") or [])) or 1.0
    return float(quantity["value"]) / (float(dose["value"]) * daily)


def item_of(r: dict[str, Any], medications: dict[str, dict[str, Any]] | None = None) -> Item | None:
    """The measure view of one FHIR resource (None for resource types no measure reads)."""
    rt = r.get("resourceType")
    meds = medications or {}
    if rt == "Observation":
        start, end = _interval(r, "effective")
        value = r.get("valueInteger")
        if value is None and isinstance(r.get("valueQuantity"), dict):
            value = r["valueQuantity"].get("value")
        return Item(
            rt,
            _codes(r.get("code")),
            r.get("status"),
            start,
            end,
            float(value) if isinstance(value, int | float) else None,
            _codes(r.get("valueCodeableConcept")),
        )
    if rt == "Condition":
        start, _ = _interval(r, "onset")
        start = start or _day(r.get("recordedDate"))
        end, _ = _interval(r, "abatement")
        return Item(
            rt,
            _codes(r.get("code")),
            None,
            start,
            end,
            clinical=_first(r.get("clinicalStatus")),
            verification=_first(r.get("verificationStatus")),
        )
    if rt == "Encounter":
        p = r.get("period") or {}
        disposition = (r.get("hospitalization") or {}).get("dischargeDisposition")
        return Item(
            rt,
            _codes(r.get("type")),
            r.get("status"),
            _day(p.get("start")),
            _day(p.get("end")),
            value_codes=_codes(disposition),
        )
    if rt == "MedicationDispense":
        start = _day(r.get("whenHandedOver")) or _day(r.get("whenPrepared"))
        di = (r.get("dosageInstruction") or [{}])[0]
        supply = _days(r.get("daysSupply") or {}) or _supplied(r.get("quantity"), di)
        end = start + dt.timedelta(days=round(supply) - 1) if start and supply else None
        return Item(
            rt, _codes(_medication(r, meds)), r.get("status"), start, end, days_supply=supply
        )
    if rt == "MedicationRequest":
        di = (r.get("dosageInstruction") or [{}])[0]
        bounds = ((di.get("timing") or {}).get("repeat") or {}).get("boundsPeriod") or {}
        start = _day(bounds.get("start")) or _day(r.get("authoredOn"))
        dr = r.get("dispenseRequest") or {}
        supply = _days(dr.get("expectedSupplyDuration") or {}) or _supplied(dr.get("quantity"), di)
        refills = dr.get("numberOfRepeatsAllowed") or 0
        if start and supply:
            end = start + dt.timedelta(days=round(supply * (1 + refills)) - 1)
        else:
            end = _day(bounds.get("end"))
        return Item(
            rt, _codes(_medication(r, meds)), r.get("status"), start, end, intent=r.get("intent")
        )
    if rt == "Procedure":
        start, end = _interval(r, "performed")
        return Item(rt, _codes(r.get("code")), r.get("status"), start, end)
    if rt == "ServiceRequest":
        d = _day(r.get("authoredOn"))
        return Item(
            rt,
            _codes(r.get("code")),
            r.get("status"),
            d,
            d,
            intent=r.get("intent"),
            do_not_perform=bool(r.get("doNotPerform")),
        )
    return None


def patients_from_fhir(resources: Iterable[dict[str, Any]]) -> list[MeasurePatient]:
    """Group resources by their Patient (subject / patient reference), sorted by id."""
    people: dict[str, MeasurePatient] = {}
    alias: dict[str, str] = {}
    rest: list[dict[str, Any]] = []
    medications: dict[str, dict[str, Any]] = {}
    for r in resources:
        if r.get("resourceType") == "Medication":
            medications[f"Medication/{r.get('id')}"] = r
            if r.get("_fullUrl"):
                medications[str(r["_fullUrl"])] = r
        elif r.get("resourceType") == "Patient":
            pid = next((i.get("value") for i in r.get("identifier") or []), None) or r["id"]
            deceased = _day(r.get("deceasedDateTime"))
            if r.get("deceasedBoolean") is True:
                deceased = dt.date.min
            people[pid] = MeasurePatient(pid, _day(r.get("birthDate")), deceased)
            alias[f"Patient/{r.get('id')}"] = pid
            if r.get("_fullUrl"):
                alias[str(r["_fullUrl"])] = pid
        else:
            rest.append(r)
    for r in rest:
        ref = (r.get("subject") or r.get("patient") or {}).get("reference")
        pid = alias.get(ref or "")
        it = item_of(r, medications)
        if pid is not None and it is not None:
            people[pid].items[it.kind].append(it)
    return [people[k] for k in sorted(people)]
