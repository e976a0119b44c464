"""The facts the measures read, one patient at a time, from FHIR resources (or an approximation).

Patient ids in measure output (JSON, CSV, MeasureReport) are the pathway's pseudonymous ids
only (shared/spec/patient-record.md: never a name or MRN). A FHIR Patient is keyed by the value
of its identifier of system `PATHWAY_ID_SYSTEM`; a Patient without one (a hospital export that
carries only MRNs, say) is still counted, under the label `unidentified:N`, N its place among
such Patients in input order (1, 2, ...). The label says nothing about the patient; the `:` is
never in a pathway id, so a label is never taken for one. `patients_from_fhir` tells more.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Code = tuple[str, str]

# The pathway's pseudonymous patient-id system: engine.fhir.codes.ID_PATIENT, spelled out here
# so that the measures do not import the FHIR package (which imports the measures).
PATHWAY_ID_SYSTEM = "http://pathway.local/fhir/patient-id"
# A pathway patient id (shared/spec/patient-record.md `id`; pathway.record.PatientRecord.id).
_PATHWAY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
UNIDENTIFIED = "unidentified:"  # label prefix for Patients without a pathway id


def is_pathway_id(value: str) -> bool:
    """Whether a value has the form of a pathway patient id (an `unidentified:N` label has not)."""
    return _PATHWAY_ID.fullmatch(value) is not None


def pathway_id_of(patient: dict[str, Any]) -> str | None:
    """The Patient's pseudonymous pathway id, or None: the one value of its identifiers of
    system `PATHWAY_ID_SYSTEM` (the rule of engine.fhir.mapping.pathway_id), when it has the
    form of a pathway id. Never another identifier (an MRN) and never `Patient.id`."""
    ids = [i for i in patient.get("identifier") or [] if isinstance(i, dict)]
    values = {
        v
        for i in ids
        if i.get("system") == PATHWAY_ID_SYSTEM and isinstance(v := i.get("value"), str)
    }
    if len(values) != 1:
        return None  # none, or several different ones: not to be guessed
    (value,) = values
    return value if is_pathway_id(value) else None


def patient_order(label: str) -> tuple[int, str, int]:
    """Sort key of patient labels: pathway ids in string order, then `unidentified:N` by N."""
    n = label.removeprefix(UNIDENTIFIED)
    if n != label and n.isdigit():
        return (1, "", int(n))
    return (0, label, 0)


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
    # Observation: the effective start in UTC seconds when it has a time of day (CQL sorts by
    # the DateTime, so two scores on one day are ordered by their times); None for a date
    at: float | None = None
    category: frozenset[Code] = frozenset()  # Observation.category


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


def _seconds(v: Any) -> float | None:
    """UTC seconds of a FHIR dateTime or instant that has a time of day (None for a date)."""
    if not isinstance(v, str) or len(v) <= 10:
        return None
    try:
        t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)).timestamp()


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
        when = r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start")
        if start is None and "effectiveInstant" in r:  # an instant is a DateTime to CQL
            when = r.get("effectiveInstant")
            start = end = _day(when)
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
            at=_seconds(when),
            category=_codes(r.get("category")),
        )
    if rt == "Condition":
        # QICoreCommon prevalenceInterval: [start of the onset, end of the abatement]. Without
        # an onset the low boundary is a closed null, which CQL reads as the beginning of time
        # (recordedDate is not part of it); an abatementPeriod ends at its end, not its start.
        start = _interval(r, "onset")[0] or dt.date.min
        end = _interval(r, "abatement")[1]
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
        # CMD medicationRequestPeriod: from the start of the bounds, authoredOn or the start of
        # the validity period, for the supply × (1 + refills); else to the end of the bounds;
        # else no period at all (null: the order then overlaps nothing, it is not open-ended).
        di = (r.get("dosageInstruction") or [{}])[0]
        bounds = ((di.get("timing") or {}).get("repeat") or {}).get("boundsPeriod") or {}
        dr = r.get("dispenseRequest") or {}
        start = (
            _day(bounds.get("start"))
            or _day(r.get("authoredOn"))
            or _day((dr.get("validityPeriod") or {}).get("start"))
        )
        supply = _days(dr.get("expectedSupplyDuration") or {}) or _supplied(dr.get("quantity"), di)
        refills = dr.get("numberOfRepeatsAllowed") or 0
        end = None
        if start and supply:
            end = start + dt.timedelta(days=round(supply * (1 + refills)) - 1)
        elif start:
            end = _day(bounds.get("end"))
        if end is None:
            start = None
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
    """Group resources by their Patient (subject / patient reference), in `patient_order`.

    A Patient is keyed by its pathway id (`pathway_id_of`); Patient resources with the same
    pathway id are one patient. A Patient without one is counted all the same (the measures
    stay correct) under `unidentified:N`: N numbers such Patients 1, 2, ... in input order, so
    the same input gives the same labels. Its MRN and `Patient.id` only group its resources
    (as before: Patient resources with the same first identifier value, or else the same
    `Patient.id`, are one patient) and appear in no output.
    """
    people: dict[tuple[str, str], MeasurePatient] = {}
    alias: dict[str, tuple[str, str]] = {}
    rest: list[dict[str, Any]] = []
    medications: dict[str, dict[str, Any]] = {}
    unidentified = 0
    for n, r in enumerate(resources):
        if r.get("resourceType") == "Medication":
            medications[f"Medication/{r.get('id')}"] = r
            if r.get("_fullUrl"):
                medications[str(r["_fullUrl"])] = r
        elif r.get("resourceType") == "Patient":
            pid = pathway_id_of(r)
            if pid is not None:
                key = ("pathway", pid)
            else:
                ids = [i for i in r.get("identifier") or [] if isinstance(i, dict)]
                local = next((i.get("value") for i in ids), None) or r.get("id")
                key = ("local", str(local)) if local else ("resource", str(n))
                if key not in people:
                    unidentified += 1
                    pid = f"{UNIDENTIFIED}{unidentified}"
                else:
                    pid = people[key].id
            deceased = _day(r.get("deceasedDateTime"))
            if r.get("deceasedBoolean") is True:
                deceased = dt.date.min
            people[key] = MeasurePatient(pid, _day(r.get("birthDate")), deceased)
            alias[f"Patient/{r.get('id')}"] = key
            if r.get("_fullUrl"):
                alias[str(r["_fullUrl"])] = key
        else:
            rest.append(r)
    for r in rest:
        ref = (r.get("subject") or r.get("patient") or {}).get("reference")
        owner = alias.get(ref or "")
        it = item_of(r, medications)
        if owner is not None and it is not None:
            people[owner].items[it.kind].append(it)
    return sorted(people.values(), key=lambda p: patient_order(p.id))
