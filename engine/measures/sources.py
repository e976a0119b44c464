"""Measure inputs: FHIR files, or the engine's database read in one scan (an approximation)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

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
    """Patients from FHIR files (Bundles, NDJSON, folders), each resource validated with
    fhir.resources.R4B; unreadable or invalid input is a RecordError naming resource and path."""
    from engine.fhir.importing import validate_resources
    from engine.fhir.reading import read_paths
    from pathway.errors import Issue, RecordError

    good, bad = validate_resources(read_paths(paths))
    if bad:
        raise RecordError(
            [Issue(loc=f"{b.source} {b.resource} {b.path}".strip(), message=b.reason) for b in bad]
        )
    return patients_from_fhir(r for _, r in good)


def _rx_by_drug(catalog: Catalog) -> dict[str, frozenset[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for code, entry in catalog.rxnorm.items():
        out.setdefault(entry.drug, set()).add((RXNORM, code))
    return {k: frozenset(v) for k, v in out.items()}


def from_record_doc(
    doc: dict[str, Any],
    *,
    enrolled_on: dt.date,
    catalog: Catalog | None = None,
    rx: dict[str, frozenset[tuple[str, str]]] | None = None,
    today: dt.date | None = None,
    phq9: list[Item] | None = None,
    visits: dict[tuple[dt.date | None, dt.date | None], Item] | None = None,
) -> MeasurePatient:
    """The measure view of a record document (README: which approximations and why).

    - birth date: 31 December of the birth year (never overstates the age);
    - MDD: a confirmed active diagnosis from `episode_start` (else the enrollment date);
    - encounters: every PHQ-9 date and every trial start is a finished office visit;
    - dispensings and orders: each antidepressant trial is one supply from start to end (or
      today), coded with the drug's RxNorm codes; ongoing trials are active orders;
    - bipolar disorder: contributor entries (confirmed / active → confirmed active);
    - hospice, palliative care and death are not in the record: never excluded for them.

    `visits` may share the (immutable) encounter items between patients, one per day.
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
    if phq9 is None:
        phq9 = []
        for m in doc.get("measurements", []):
            if m["instrument"] == "PHQ-9":
                d = dt.date.fromisoformat(m["date"])
                phq9.append(Item("Observation", PHQ9, "final", d, d, float(m["score"])))
    add("Observation").extend(phq9)
    visits = {} if visits is None else visits
    encounters = add("Encounter")
    for o in phq9:
        visit = visits.get((o.start, o.end))
        if visit is None:
            visit = visits[o.start, o.end] = Item(
                "Encounter", OFFICE_VISIT, "finished", o.start, o.end
            )
        encounters.append(visit)
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


def from_db(
    url: str | None,
    *,
    catalog: Catalog | None = None,
    today: dt.date | None = None,
    medications: bool = True,
) -> Iterator[MeasurePatient]:
    """Every enrolled patient, from one ordered scan of the event log (no record validation).

    Measurement rows are read with the database's JSON functions (no Python JSON parsing);
    trial facts are read only when `medications` (CMS128 needs them, the PHQ-9 measures not).
    """
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    from engine.store.db import database_url, make_engine
    from engine.store.tables import enrollment_table, event_table

    rx = _rx_by_drug(catalog or default_catalog())
    today = today or dt.date.today()
    ev, en = event_table(), enrollment_table()
    kinds = FACT_KINDS if medications else ("measurement", "contributor", "profile")
    engine = make_engine(database_url(url), create=False)
    # JSON from the TEXT payload: SQLite's JSON functions read text as it is; PostgreSQL needs
    # the cast to jsonb.
    body = (
        sa.cast(ev.c.payload, postgresql.JSONB)
        if engine.dialect.name == "postgresql"
        else sa.type_coerce(ev.c.payload, sa.JSON)
    )
    is_measurement = ev.c.fact_kind == "measurement"
    query = (
        sa.select(
            ev.c.patient_id,
            ev.c.fact_kind,
            # read as text: converting every row's date costs more than the rest of the row
            sa.type_coerce(ev.c.effective_on, sa.String),
            sa.case((is_measurement, None), else_=ev.c.payload),
            sa.case((is_measurement, body["instrument"].as_string()), else_=None),
            sa.case((is_measurement, body["score"].as_integer()), else_=None),
        )
        .where(sa.or_(ev.c.kind == "enrolled", ev.c.fact_kind.in_(kinds)))
        .order_by(ev.c.patient_id, ev.c.version)
    )
    try:
        with engine.connect() as conn:
            versions = dict(conn.execute(sa.select(en.c.patient_id, en.c.definition_version)).all())
            building: _Building | None = None
            # Items are immutable: one per (day, score) and one visit per day, shared.
            observations: dict[tuple[Any, Any], Item] = {}
            visits: dict[tuple[dt.date | None, dt.date | None], Item] = {}
            rows = _stream(conn, query, kinds)
            # A measurement's effective date is its `date` (engine.factlog.fact_date).
            for pid, fact_kind, effective_on, payload, instrument, score in rows:
                if fact_kind is None:  # the enrollment event: a new patient
                    if building is not None:
                        yield building.done(rx, today, visits)
                    building = _Building(pid, versions.get(pid), effective_on, payload)
                elif building is None:
                    continue
                elif fact_kind == "measurement":
                    if instrument == "PHQ-9":
                        o = observations.get((effective_on, score))
                        if o is None:  # a few thousand distinct (day, score) pairs
                            d = dt.date.fromisoformat(str(effective_on)[:10])
                            o = observations[effective_on, score] = Item(
                                "Observation", PHQ9, "final", d, d, float(score)
                            )
                        building.obs.append(o)
                else:
                    building.fact(json.loads(payload))
            if building is not None:
                yield building.done(rx, today, visits)
    finally:
        engine.dispose()


def _stream(conn: Any, query: Any, kinds: tuple[str, ...]) -> Iterator[tuple[Any, ...]]:
    """The rows of the log scan, streamed: on SQLite the same query written for the driver's
    own cursor (its rows are plain tuples; SQLAlchemy's row objects cost more than the scan),
    on PostgreSQL through a server-side cursor."""
    if conn.dialect.name != "sqlite":
        yield from conn.execution_options(yield_per=10_000).execute(query)
        return
    m = "fact_kind = 'measurement'"
    sql = (
        f"SELECT patient_id, fact_kind, effective_on, CASE WHEN {m} THEN NULL ELSE payload END, "
        f"CASE WHEN {m} THEN json_extract(payload, '$.instrument') END, "
        f"CASE WHEN {m} THEN json_extract(payload, '$.score') END "
        f"FROM event WHERE kind = 'enrolled' OR fact_kind IN ({', '.join('?' * len(kinds))}) "
        "ORDER BY patient_id, version"
    )
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(sql, kinds)
        while batch := cur.fetchmany(10_000):
            yield from batch
    finally:
        cur.close()


class _Building:
    """One patient being read from the log: profile, PHQ-9s, contributors, trial facts."""

    def __init__(
        self, pid: str, version: str | None, enrolled_on: dt.date | str, header: str
    ) -> None:
        profile = json.loads(header).get("profile", {})
        self.doc = new_document(pid, {"profile": profile})
        if isinstance(enrolled_on, str):
            enrolled_on = dt.date.fromisoformat(enrolled_on[:10])
        self.version, self.enrolled_on = version, enrolled_on
        self.obs: list[Item] = []

    def fact(self, body: dict[str, Any]) -> None:
        apply(self.doc, body)

    def done(
        self,
        rx: dict[str, frozenset[tuple[str, str]]],
        today: dt.date,
        visits: dict[tuple[dt.date | None, dt.date | None], Item],
    ) -> MeasurePatient:
        p = from_record_doc(
            self.doc, enrolled_on=self.enrolled_on, rx=rx, today=today, phq9=self.obs, visits=visits
        )
        p.version = self.version
        return p
