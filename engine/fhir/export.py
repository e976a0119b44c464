"""Patient record (and its enrollment) → a FHIR R4 Bundle, validated with `fhir.resources.R4B`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from engine.fhir import codes as c
from pathway.catalog import Catalog, default_catalog
from pathway.record import PatientRecord

_NS = uuid.UUID("5b1c8a52-3f0e-4f3c-9f53-0c6d1e9b7a10")
Resource = dict[str, Any]


def stable_id(patient_id: str, *parts: object) -> str:
    """A FHIR id that depends only on the patient and the item (stable across exports)."""
    return str(uuid.uuid5(_NS, "/".join([patient_id, *map(str, parts)])))


def _cc(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding], "text": display or code}


def _d(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _period(start: dt.date | None, end: dt.date | None) -> dict[str, str]:
    return {k: v for k, v in (("start", _d(start)), ("end", _d(end))) if v}


def _obs(pid: str, key: str, code: dict[str, Any], day: dt.date | None, cat: str) -> Resource:
    r: Resource = {
        "resourceType": "Observation",
        "id": stable_id(pid, key),
        "status": "final",
        "category": [{"coding": [{"system": c.OBS_CATEGORY, "code": cat}]}],
        "code": code,
        "subject": {"reference": f"Patient/{stable_id(pid, 'patient')}"},
    }
    if day is not None:
        r["effectiveDateTime"] = day.isoformat()
    return r


def _component(name: str, value: bool | str) -> dict[str, Any]:
    key = "valueBoolean" if isinstance(value, bool) else "valueString"
    return {"code": _cc(c.CS_COMPONENT, name), key: value}


def _instrument_code(name: str) -> dict[str, Any]:
    loinc = c.INSTRUMENT_LOINC.get(name)
    cc = _cc(c.CS_INSTRUMENT, name, name)
    if loinc:
        cc["coding"].insert(0, {"system": c.LOINC, "code": loinc, "display": name})
    return cc


def record_resources(rec: PatientRecord, *, catalog: Catalog | None = None) -> list[Resource]:
    """The record's clinical content as R4 resource dicts (Patient first)."""
    cat = catalog or default_catalog()
    pid = rec.id
    subject = {"reference": f"Patient/{stable_id(pid, 'patient')}"}
    patient: Resource = {
        "resourceType": "Patient",
        "id": stable_id(pid, "patient"),
        "identifier": [{"system": c.ID_PATIENT, "value": pid}],
        "gender": rec.sex,
    }
    if rec.birth_year is not None:
        patient["birthDate"] = f"{rec.birth_year:04d}"
    out: list[Resource] = [patient]
    if rec.episode_start is not None or rec.severity is not None:
        mdd: Resource = {
            "resourceType": "Condition",
            "id": stable_id(pid, "episode"),
            "clinicalStatus": _cc(c.CLINICAL, "active"),
            "verificationStatus": _cc(c.VERIFICATION, "confirmed"),
            "code": _cc(c.SNOMED, "370143000", "Major depressive disorder"),
            "subject": subject,
        }
        if rec.episode_start is not None:
            mdd["onsetDateTime"] = rec.episode_start.isoformat()
        if rec.severity is not None:
            mdd["severity"] = _cc(c.CS_SEVERITY, rec.severity)
        out.append(mdd)
    for i, k in enumerate(rec.contributors):
        out.append(_contributor(pid, i, k, subject))
    for i, t in enumerate(rec.trials):
        out.append(_statement(pid, i, t, subject, cat))
    for i, m in enumerate(rec.measurements):
        r = _obs(pid, f"measurement/{i}", _instrument_code(m.instrument), m.date, "survey")
        r["valueInteger"] = m.score
        out.append(r)
    for i, s in enumerate(rec.screens):
        r = _obs(pid, f"screen/{i}", _instrument_code(s.instrument), s.date, "survey")
        r["valueInteger"] = s.score
        if s.instrument == "MDQ":
            r["component"] = [
                _component("same_period", bool(getattr(s, "same_period", False))),
                _component("impairment", str(getattr(s, "impairment", "none"))),
            ]
        out.append(r)
    for i, lab in enumerate(rec.labs):
        code = _cc(c.LOINC, c.LAB_LOINC[lab.test], lab.test)
        r = _obs(pid, f"lab/{i}", code, lab.date, "laboratory")
        r["valueQuantity"] = {
            "value": lab.value,
            "unit": lab.unit,
            "system": c.UCUM,
            "code": c.UCUM_OF_UNIT.get(lab.unit, lab.unit),
        }
        out.append(r)
    h = rec.history
    flags = {k: getattr(h, k) for k in type(h).model_fields}
    if any(flags.values()):
        r = _obs(pid, "history", _cc(c.CS_INSTRUMENT, "history", "history"), None, "survey")
        r["component"] = [_component(k, v) for k, v in flags.items()]
        out.append(r)
    if rec.risk is not None:
        risk = rec.risk
        r = _obs(pid, "risk", _cc(c.CS_INSTRUMENT, "risk", "risk"), risk.date, "survey")
        r["component"] = [
            _component("suicidality", risk.suicidality),
            _component("psychotic_features", risk.psychotic_features),
            _component("catatonia", risk.catatonia),
            _component("not_eating_or_drinking", risk.not_eating_or_drinking),
        ]
        out.append(r)
    for i, p in enumerate(rec.procedures):
        cpt = {"ECT": "90870", "rTMS": "90868"}.get(p.kind)
        code = _cc(c.CS_PROCEDURE, p.kind, p.kind)
        if cpt:
            code["coding"].insert(0, {"system": c.CPT, "code": cpt})
        out.append(
            {
                "resourceType": "Procedure",
                "id": stable_id(pid, f"procedure/{i}"),
                "status": "in-progress" if p.end is None else "completed",
                "code": code,
                "subject": subject,
                "performedPeriod": _period(p.start, p.end),
                "extension": [{"url": c.EXT_SESSIONS, "valueInteger": p.sessions}],
            }
        )
    return out


def _contributor(pid: str, i: int, k: Any, subject: dict[str, str]) -> Resource:
    # shared/fhir/mapping.md: refuted → ruled_out, provisional → suspected, confirmed + active →
    # confirmed, resolved → addressed; `active` (no verification) keeps the bare status.
    clinical, verification = {
        "suspected": ("active", "provisional"),
        "active": ("active", None),
        "confirmed": ("active", "confirmed"),
        "addressed": ("resolved", None),
        "ruled_out": (None, "refuted"),
    }[k.status]
    code = _cc(c.CS_CONTRIBUTOR, k.kind, k.kind)
    if k.kind == "bipolar_disorder":
        code["coding"].insert(0, {"system": c.SNOMED, "code": "13746004"})
    r: Resource = {
        "resourceType": "Condition",
        "id": stable_id(pid, f"contributor/{i}"),
        "code": code,
        "subject": subject,
        "recordedDate": k.date.isoformat(),
    }
    if clinical:
        r["clinicalStatus"] = _cc(c.CLINICAL, clinical)
    if verification:
        r["verificationStatus"] = _cc(c.VERIFICATION, verification)
    if k.note is not None:
        r["note"] = [{"text": k.note}]
    return r


def _statement(pid: str, i: int, t: Any, subject: dict[str, str], cat: Catalog) -> Resource:
    drug = cat.drug(t.drug)
    display = drug.name if drug else t.drug
    ends = [d.start for d in t.doses[1:]] + [t.end]
    dosage = []
    for n, (dose, end) in enumerate(zip(t.doses, ends, strict=True)):
        dosage.append(
            {
                "sequence": n + 1,
                "text": f"{dose.mg_per_day:g} mg per day",
                "timing": {
                    "repeat": {
                        "boundsPeriod": _period(dose.start, end),
                        "frequency": 1,
                        "period": 1,
                        "periodUnit": "d",
                    }
                },
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": dose.mg_per_day,
                            "unit": "mg",
                            "system": c.UCUM,
                            "code": "mg",
                        }
                    }
                ],
            }
        )
    ext: list[dict[str, Any]] = [{"url": c.EXT_ROLE, "valueCode": t.role}]
    if t.adherence is not None:
        ext.append({"url": c.EXT_ADHERENCE, "valueDecimal": t.adherence})
    if t.serum_level is not None:
        ext.append({"url": c.EXT_SERUM, "valueDecimal": t.serum_level})
    r: Resource = {
        "resourceType": "MedicationStatement",
        "id": stable_id(pid, f"trial/{i}"),
        "extension": ext,
        "status": "active" if t.end is None else "completed",
        "medicationCodeableConcept": _cc(c.CS_DRUG, display, display),
        "subject": subject,
        "effectivePeriod": _period(t.start, t.end),
        "dosage": dosage,
    }
    if t.stop_reason is not None:
        r["statusReason"] = [_cc(c.CS_STOP_REASON, t.stop_reason)]
    return r


def bundle(resources: Iterable[Resource], *, bundle_id: str) -> Resource:
    """A `collection` Bundle of the resources, each validated with fhir.resources.R4B."""
    from fhir.resources.R4B import get_fhir_model_class

    entries = []
    for r in resources:
        model = get_fhir_model_class(r["resourceType"]).model_validate(r)
        entries.append(
            {
                "fullUrl": f"urn:uuid:{r['id']}",
                "resource": model.model_dump(mode="json", exclude_none=True),
            }
        )
    b = {"resourceType": "Bundle", "id": bundle_id, "type": "collection", "entry": entries}
    get_fhir_model_class("Bundle").model_validate(b)
    return b


def export_record(rec: PatientRecord, *, catalog: Catalog | None = None) -> Resource:
    """A Bundle holding one patient record's clinical content."""
    return bundle(record_resources(rec, catalog=catalog), bundle_id=stable_id(rec.id, "bundle"))
