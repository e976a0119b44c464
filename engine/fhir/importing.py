"""`pathway fhir import`: validate with R4B, group by patient, map, enroll all-or-nothing each."""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from engine.fhir.mapping import Mapped, Mapper, ref_of
from engine.measures.valuesets import ValueSets
from pathway.catalog import Catalog, default_catalog
from pathway.errors import RecordError
from pathway.record import PatientRecord, parse_record

if TYPE_CHECKING:
    from engine.services import Services


class Refusal(BaseModel):
    """Why a patient (or a stray resource) was not imported: resource, FHIR path, reason."""

    model_config = ConfigDict(frozen=True)
    patient_id: str | None
    source: str
    resource: str
    path: str
    reason: str


class Ignored(BaseModel):
    """A resource that holds nothing a patient record keeps (reported, not silently dropped)."""

    model_config = ConfigDict(frozen=True)
    patient_id: str | None
    resource: str
    reason: str


class FhirImportReport(BaseModel):
    """The outcome of a FHIR import (or of a dry run: what would be written)."""

    model_config = ConfigDict(frozen=True)
    dry_run: bool
    resources: int
    patients: int
    imported: list[str]
    updated: list[str] = []
    unchanged: list[str] = []
    facts_added: int = 0
    refused: list[Refusal]
    ignored: list[Ignored]
    records: list[PatientRecord] = []
    seconds: float


CLINICAL = frozenset(
    {
        "Condition",
        "MedicationStatement",
        "MedicationRequest",
        "MedicationDispense",
        "Observation",
        "Procedure",
    }
)


def _patient_key(r: dict[str, Any]) -> str | None:
    for field in ("subject", "patient", "beneficiary", "target"):
        ref = r.get(field)
        if isinstance(ref, list):
            ref = ref[0] if ref else None
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            return str(ref["reference"])
    return None


# What a refusal never quotes: a Patient's content (names, identifiers, addresses, …) and any
# identifier anywhere (an MRN in Observation.subject.identifier, say).
_UNQUOTED_TYPES = frozenset({"Patient", "Person", "RelatedPerson"})


def _shown_input(body: dict[str, Any], loc: tuple[int | str, ...], value: Any) -> str:
    """How a refusal shows an invalid input: quoted, unless it may identify a person."""
    if body.get("resourceType") in _UNQUOTED_TYPES or any(
        "identifier" in str(part).lower() for part in loc
    ):
        return "value not shown: it may identify the patient"
    return f"got {value!r}"


def validate_resources(
    items: Iterable[tuple[str, Any]],
) -> tuple[list[tuple[str, dict[str, Any]]], list[Refusal]]:
    """Validate each resource with fhir.resources.R4B; the invalid ones become refusals."""
    from fhir.resources.R4B import get_fhir_model_class

    good: list[tuple[str, dict[str, Any]]] = []
    bad: list[Refusal] = []
    for source, raw in items:
        if isinstance(raw, Exception) or not isinstance(raw, dict):
            bad.append(
                Refusal(
                    patient_id=None,
                    source=source,
                    resource="?",
                    path="",
                    reason=str(raw)
                    if isinstance(raw, Exception)
                    else "not a resource: a JSON object with a resourceType is needed, got a "
                    + type(raw).__name__,
                )
            )
            continue
        body = {k: v for k, v in raw.items() if k != "_fullUrl"}
        try:
            get_fhir_model_class(str(body.get("resourceType"))).model_validate(body)
        except (ValidationError, KeyError, ValueError) as exc:
            if isinstance(exc, ValidationError):
                e = exc.errors()[0]
                path = ".".join(str(p) for p in e["loc"])
                why = e["msg"]
                if e["type"] != "missing":
                    shown = _shown_input(body, e["loc"], e.get("input"))
                    why = f"{why} ({shown})"
            else:
                path, why = "resourceType", f"unknown resource type {body.get('resourceType')!r}"
            bad.append(
                Refusal(
                    patient_id=None, source=source, resource=ref_of(body), path=path, reason=why
                )
            )
            continue
        good.append((source, raw))
    return good, bad


def map_resources(
    items: Iterable[tuple[str, Any]],
    *,
    catalog: Catalog | None = None,
    valuesets: ValueSets | None = None,
) -> tuple[list[tuple[str, PatientRecord]], list[Refusal], list[Ignored], int, int]:
    """Records per patient, refusals (all-or-nothing per patient), ignored, resource and
    patient counts."""
    cat = catalog or default_catalog()
    items = list(items)
    good, refused = validate_resources(items)
    patients: dict[str, tuple[str, dict[str, Any]]] = {}
    owners: dict[str, str] = {}
    for source, r in good:
        if r.get("resourceType") == "Patient":
            key = f"Patient/{r.get('id')}"
            patients[key] = (source, r)
            owners[key] = key
            if "_fullUrl" in r:
                owners[str(r["_fullUrl"])] = key
    # Patients whose own resources failed R4B validation are refused as a whole.
    invalid_owner: dict[str, list[Refusal]] = defaultdict(list)
    raw_by_source = {s: r for s, r in items if isinstance(r, dict)} if refused else {}
    stray = []
    for ref in refused:
        raw = raw_by_source.get(ref.source)
        owner = owners.get(_patient_key(raw) or "") if raw is not None else None
        if owner is None:
            stray.append(ref)
        else:
            invalid_owner[owner].append(ref)
    refused = stray
    by_patient: dict[str, list[dict[str, Any]]] = {k: [] for k in patients}
    # where each of a patient's resources was read ("file:line", "file#entry[i]"), so that a
    # refusal points at the resource, not at its Patient
    sources: dict[str, dict[str, str]] = {k: {} for k in patients}
    ignored: list[Ignored] = []
    for source, r in good:
        if r.get("resourceType") == "Patient":
            continue
        subject = _patient_key(r)
        owner = owners.get(subject or "")
        if owner is None:
            if r.get("resourceType") == "Medication":
                continue  # read through medicationReference
            if r.get("resourceType") not in CLINICAL:
                ignored.append(
                    Ignored(
                        patient_id=None,
                        resource=ref_of(r),
                        reason=f"{r.get('resourceType')} names no Patient here",
                    )
                )
            else:
                refused.append(
                    Refusal(
                        patient_id=None,
                        source=source,
                        resource=ref_of(r),
                        path="subject",
                        reason=f"no Patient {subject!r} in the input",
                    )
                )
            continue
        by_patient[owner].append(r)
        sources[owner].setdefault(ref_of(r), source)
    medications = {}
    for _, r in good:
        if r.get("resourceType") == "Medication":
            medications[f"Medication/{r.get('id')}"] = r
            if "_fullUrl" in r:
                medications[str(r["_fullUrl"])] = r
    mapper = Mapper(cat, valuesets or ValueSets(), medications=medications)
    records: list[tuple[str, PatientRecord]] = []
    for key in sorted(patients):
        source, p = patients[key]
        m = mapper.patient(p, by_patient[key])
        # None when the Patient lacks the pathway's pseudonymous id (then it is refused): no
        # other identifier stands in for it, not even in a report.
        pid = m.doc["id"] if isinstance(m.doc["id"], str) else None
        ignored += [Ignored(patient_id=pid, resource=res, reason=why) for res, why in m.ignored]
        problems = [
            Refusal(
                patient_id=pid,
                source=sources[key].get(res, source),
                resource=res,
                path=path,
                reason=why,
            )
            for res, path, why in m.refusals
        ]
        problems[:0] = [r.model_copy(update={"patient_id": pid}) for r in invalid_owner[key]]
        if not problems and pid is not None:
            try:
                records.append((source, parse_record(m.doc, catalog=cat)))
            except RecordError as exc:
                problems = _record_problems(pid, source, m, exc, sources[key])
        refused += problems
    return records, refused, ignored, len(items), len(patients)


def _record_problems(
    pid: str, source: str, m: Mapped, exc: RecordError, sources: dict[str, str]
) -> list[Refusal]:
    out = []
    for issue in exc.issues:
        head = issue.loc.split(".")[0]
        key, _, idx = head.partition("[")
        origin = m.origins.get((key, int(idx.rstrip("]")))) if idx.rstrip("]").isdigit() else None
        out.append(
            Refusal(
                patient_id=pid,
                source=sources.get(origin or "", source),
                resource=origin or f"Patient ({pid})",
                path=issue.loc,
                reason=str(issue),
            )
        )
    return out


def import_fhir(
    items: Iterable[tuple[str, Any]],
    *,
    svc: Services | None,
    actor: str,
    dry_run: bool = False,
    batch_size: int = 100,
) -> FhirImportReport:
    """Map and (unless dry_run) enroll each patient through the engine's bulk enrollment
    (`batch_size` patients per transaction; each patient stays atomic)."""
    started = time.perf_counter()
    cat = svc.definitions.default.catalog if svc is not None else None
    # perf-notes: the cyclic garbage collector dominates bulk object building; pause it.
    paused = gc.isenabled()
    gc.disable()
    try:
        records, refused, ignored, count, npatients = map_resources(items, catalog=cat)
    finally:
        if paused:
            gc.enable()
    updated: list[str] = []
    unchanged: list[str] = []
    added = 0
    fresh = records
    if svc is not None and records:
        with svc.uow as uow:
            existing = uow.patients.existing([r.id for _, r in records])
        fresh = [(src, r) for src, r in records if r.id not in existing]
        for src, rec in records:
            if rec.id not in existing:
                continue
            problem, n = _add_facts(svc, src, rec, actor=actor, dry_run=dry_run)
            if problem is not None:
                refused.append(problem)
            elif n == 0:
                unchanged.append(rec.id)
            else:
                updated.append(rec.id)
                added += n
    imported = [r.id for _, r in fresh]
    if not dry_run and svc is not None and fresh:
        report = svc.bulk_enroll(fresh, actor=actor, batch_size=batch_size)
        failed = {p.patient_id for p in report.problems}
        for p in report.problems:
            refused.append(
                Refusal(
                    patient_id=p.patient_id,
                    source=p.source,
                    resource=f"Patient ({p.patient_id})",
                    path="",
                    reason=p.message,
                )
            )
        imported = [i for i in imported if i not in failed]
    refused.sort(key=lambda r: (r.patient_id or "", r.resource, r.path))
    return FhirImportReport(
        dry_run=dry_run,
        resources=count,
        patients=npatients,
        imported=sorted(imported),
        updated=sorted(updated),
        unchanged=sorted(unchanged),
        facts_added=added,
        refused=refused,
        ignored=sorted(ignored, key=lambda i: (i.patient_id or "", i.resource)),
        records=[r for _, r in records] if dry_run else [],
        seconds=round(time.perf_counter() - started, 3),
    )


def _add_facts(
    svc: Services, source: str, rec: PatientRecord, *, actor: str, dry_run: bool
) -> tuple[Refusal | None, int]:
    """Append what the imported record adds to an enrolled patient (through `Services.record`,
    so the same validation and event log apply); a refusal, or the number of facts."""
    from engine.fhir.merge import Conflict, new_facts
    from pathway.errors import PathwayError

    def refusal(reason: str) -> Refusal:
        return Refusal(
            patient_id=rec.id, source=source, resource=f"Patient ({rec.id})", path="", reason=reason
        )

    try:
        facts = new_facts(svc.record_of(rec.id), incoming=rec)
        if facts and not dry_run:
            svc.record(rec.id, facts=facts, actor=actor)
    except Conflict as exc:
        return refusal(str(exc)), 0
    except RecordError as exc:
        return refusal("; ".join(str(i) for i in exc.issues)), 0
    except PathwayError as exc:
        return refusal(str(exc)), 0
    return None, len(facts)
