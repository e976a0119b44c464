"""Measure inputs: FHIR files, or the engine's database read in one scan (an approximation)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from engine.factlog import apply, new_document
from engine.measures.model import Item, MeasurePatient, patients_from_fhir
from pathway.catalog import Catalog, default_catalog

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MDD = frozenset({(SNOMED, "370143000")})  # in "Major Depression (Including Remission)"
BIPOLAR = frozenset({(SNOMED, "13746004")})  # in "Bipolar Disorder"
PHQ9 = frozenset({(LOINC, "44261-6")})
OFFICE_VISIT = frozenset({(CPT, "99213")})  # in "Contact or Office Visit" and "Office Visit"
# Fact kinds the measures read (labs, screens, risk and procedures are skipped).
FACT_KINDS = (
    "measurement",
    "contributor",
    "trial_started",
    "dose_changed",
    "trial_ended",
    "trial_updated",
    "profile",
)


def from_fhir(paths: list[str]) -> list[MeasurePatient]:
    """Patients from FHIR files (Bundles, NDJSON, folders); unreadable input is an error."""
    from engine.fhir.reading import read_paths
    from pathway.errors import Issue, RecordError

    resources = []
    problems = []
    for source, r in read_paths(paths):
        if isinstance(r, Exception) or not isinstance(r, dict):
            problems.append(Issue(loc=source, message=str(r)))
        else:
            resources.append(r)
    if problems:
        raise RecordError(problems)
    return patients_from_fhir(resources)


def _rx_by_drug(catalog: Catalog) -> dict[str, frozenset[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for code, entry in catalog.rxnorm.items():
        out.setdefault(entry.drug, set()).add((RXNORM, code))
    return {k: frozenset(v) for k, v in out.items()}


def from_record_doc(
    doc: dict[str, Any],
    enrolled_on: dt.date,
    *,
    catalog: Catalog | None = None,
    rx: dict[str, frozenset[tuple[str, str]]] | None = None,
    today: dt.date | None = None,
) -> MeasurePatient:
    """The measure view of a record document (README: which approximations and why).

    - birth date: 31 December of the birth year (never overstates the age);
    - MDD: a confirmed active diagnosis from `episode_start` (else the enrollment date);
    - encounters: every PHQ-9 date and every trial start is a finished office visit;
    - dispensings and orders: each antidepressant trial is one supply from start to end (or
      today), coded with the drug's RxNorm codes; ongoing trials are active orders;
    - bipolar disorder: contributor entries (confirmed / active → confirmed active);
    - hospice, palliative care and death are not in the record: never excluded for them.
    """
    rx = rx if rx is not None else _rx_by_drug(catalog or default_catalog())
    today = today or dt.date.today()
    year = doc.get("birth_year")
    p = MeasurePatient(str(doc["id"]), dt.date(year, 12, 31) if year else None)
    add = p.items.__getitem__
    onset = doc.get("episode_start")
    start = dt.date.fromisoformat(onset) if onset else enrolled_on
    add("Condition").append(
        Item("Condition", MDD, None, start, None, clinical="active", verification="confirmed")
    )
    for m in doc.get("measurements", []):
        if m["instrument"] != "PHQ-9":
            continue
        d = dt.date.fromisoformat(m["date"])
        add("Observation").append(Item("Observation", PHQ9, "final", d, d, float(m["score"])))
        add("Encounter").append(Item("Encounter", OFFICE_VISIT, "finished", d, d))
    for k in doc.get("contributors", []):
        if k["kind"] != "bipolar_disorder":
            continue
        clinical, verification = {
            "confirmed": ("active", "confirmed"),
            "active": ("active", "confirmed"),
            "suspected": ("active", "provisional"),
            "addressed": ("resolved", "confirmed"),
            "ruled_out": (None, "refuted"),
        }[k["status"]]
        d = dt.date.fromisoformat(k["date"])
        add("Condition").append(
            Item("Condition", BIPOLAR, None, d, None, clinical=clinical, verification=verification)
        )
    for t in doc.get("trials", []):
        codes = rx.get(t["drug"])
        s = dt.date.fromisoformat(t["start"])
        add("Encounter").append(Item("Encounter", OFFICE_VISIT, "finished", s, s))
        if not codes:
            continue
        e = dt.date.fromisoformat(t["end"]) if t.get("end") else max(today, s)
        add("MedicationDispense").append(
            Item("MedicationDispense", codes, "completed", s, e, days_supply=(e - s).days + 1)
        )
        add("MedicationRequest").append(
            Item(
                "MedicationRequest",
                codes,
                "active" if not t.get("end") else "completed",
                s,
                e,
                intent="order",
            )
        )
    return p


def _done(
    doc: dict[str, Any],
    enrolled_on: dt.date,
    rx: dict[str, frozenset[tuple[str, str]]],
    today: dt.date | None,
    version: str | None,
) -> MeasurePatient:
    p = from_record_doc(doc, enrolled_on, rx=rx, today=today)
    p.version = version
    return p


def from_db(
    url: str | None, *, catalog: Catalog | None = None, today: dt.date | None = None
) -> Iterator[MeasurePatient]:
    """Every enrolled patient, from one ordered scan of the event log (no record validation)."""
    from engine.db import database_url, make_engine
    from engine.tables import enrollment_table, event_table

    rx = _rx_by_drug(catalog or default_catalog())
    ev, en = event_table(), enrollment_table()
    query = (
        sa.select(
            ev.c.patient_id, ev.c.kind, ev.c.effective_on, ev.c.payload, en.c.definition_version
        )
        .join(en, en.c.patient_id == ev.c.patient_id)
        .where(sa.or_(ev.c.kind == "enrolled", ev.c.fact_kind.in_(FACT_KINDS)))
        .order_by(ev.c.patient_id, ev.c.version)
    )
    engine = make_engine(database_url(url), create=False)
    try:
        with engine.connect() as conn:
            doc: dict[str, Any] | None = None
            enrolled_on = dt.date.min
            version = None
            for pid, kind, effective_on, payload, defn_version in conn.execute(query):
                body = json.loads(payload)
                if kind == "enrolled":
                    if doc is not None:
                        yield _done(doc, enrolled_on, rx, today, version)
                    header = {"profile": body.get("profile", {}), "history": {}}
                    doc, enrolled_on = new_document(pid, header), effective_on
                    version = defn_version
                elif doc is not None:
                    apply(doc, body)
            if doc is not None:
                yield _done(doc, enrolled_on, rx, today, version)
    finally:
        engine.dispose()
