"""Measure inputs: FHIR files, or the engine's database read in one scan (an approximation)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
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
    fhir.resources.R4B; unreadable or invalid input is a RecordError naming resource and path.

    Each keyed by its pathway id; a Patient without one is counted as `unidentified:N`, its MRN
    appearing nowhere (`patients_from_fhir`)."""
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
    """Every enrolled patient of the database at `url` (`from_connection` on a connection of
    its own, closed at the end)."""
    from engine.store.db import database_url, make_engine

    engine = make_engine(database_url(url), create=False)
    try:
        with engine.connect() as conn:
            yield from from_connection(conn, catalog=catalog, today=today, medications=medications)
    finally:
        engine.dispose()


def from_connection(
    conn: Any,
    *,
    catalog: Catalog | None = None,
    today: dt.date | None = None,
    medications: bool = True,
) -> Iterator[MeasurePatient]:
    """Every enrolled patient, in patient id order, from one grouped scan of the event log on an
    open connection (no record validation; `version` is the patient's definition version).

    The database does the per-row work in one statement (`_scan_sql`): one row per patient with
    the enrollment's date and profile, the patient's measurements as one string of
    (day, instrument, score) tokens read with the database's JSON functions, and the few facts
    that need Python (bipolar contributors, profile changes; trial facts only when
    `medications`: CMS128 needs them, the PHQ-9 measures not) with their log versions, applied
    in log order. A patient with none of those is built without a record document.
    """
    import sqlalchemy as sa

    from engine.store.tables import enrollment_table

    rx = _rx_by_drug(catalog or default_catalog())
    today = today or dt.date.today()
    en = enrollment_table()
    versions = dict(conn.execute(sa.select(en.c.patient_id, en.c.definition_version)).all())
    reader = _Reader()
    sql = _scan_sql(conn.dialect.name, medications)
    for pid, enrolled_on, year, onset, measured, facts in _stream(conn, sql):
        if enrolled_on is None:  # no enrollment event: not a patient of the log
            continue
        enrolled = reader.day(str(enrolled_on)[:10])
        birth = dt.date(int(year), 12, 31) if year is not None else None
        obs, visits = reader.phq9(measured)
        if facts is None:  # the common case: the record document would add nothing
            p = MeasurePatient(pid, birth, None, versions.get(pid))
            start = reader.day(onset) if onset else enrolled
            p.items["Condition"] = [reader.mdd(start)]
            p.items["Observation"] = obs
            p.items["Encounter"] = visits
            yield p
            continue
        profile = {"birth_year": None if year is None else int(year), "episode_start": onset}
        doc = new_document(pid, {"profile": profile})
        logged = [f.partition(" ") for f in facts.split(FACT_SEP)]
        logged.sort(key=lambda f: int(f[0]))  # log order (the aggregate does not promise it)
        for _, _, payload in logged:
            apply(doc, json.loads(payload))
        p = from_record_doc(
            doc, enrolled_on=enrolled, rx=rx, today=today, phq9=obs, visits=reader.visits
        )
        p.version = versions.get(pid)
        yield p


TOKEN_SEP, FACT_SEP = "\x1f", "\x1e"  # never inside JSON text (control characters are escaped)


def _scan_sql(dialect: str, medications: bool) -> str:
    """The grouped scan of the log, one row per patient: patient id, enrollment date, birth
    year, episode start, measurement tokens ("YYYY-MM-DD" + the JSON array [instrument, score],
    TOKEN_SEP between them) and the other facts ("version payload", FACT_SEP between them)."""
    trials = [k for k in FACT_KINDS if k.startswith("trial") or k == "dose_changed"]
    other = ", ".join(f"'{k}'" for k in ["profile", *(trials if medications else [])])
    if dialect == "postgresql":
        body, agg = "payload::jsonb", "string_agg"
        day = "effective_on::text"
        year = f"({body} #>> '{{profile,birth_year}}')::int"
        onset = f"{body} #>> '{{profile,episode_start}}'"
        pair = f"jsonb_build_array({body} -> 'instrument', {body} -> 'score')::text"
        kind = f"{body} ->> 'kind'"
        version = "version::text"
        tsep, fsep = "chr(31)", "chr(30)"
    else:
        agg, day = "group_concat", "substr(effective_on, 1, 10)"
        year = "json_extract(payload, '$.profile.birth_year')"
        onset = "json_extract(payload, '$.profile.episode_start')"
        pair = "json_extract(payload, '$.instrument', '$.score')"
        kind = "json_extract(payload, '$.kind')"
        version = "version"
        tsep, fsep = "char(31)", "char(30)"
    enrolled = "kind = 'enrolled'"
    measured = "fact_kind = 'measurement'"
    python = (
        f"fact_kind IN ({other}) OR (fact_kind = 'contributor' AND {kind} = 'bipolar_disorder')"
    )
    return (
        f"SELECT patient_id, max(CASE WHEN {enrolled} THEN {day} END), "
        f"max(CASE WHEN {enrolled} THEN {year} END), "
        f"max(CASE WHEN {enrolled} THEN {onset} END), "
        f"{agg}(CASE WHEN {measured} THEN {day} || {pair} END, {tsep}), "
        f"{agg}(CASE WHEN NOT ({enrolled} OR {measured}) THEN {version} || ' ' || payload END, "
        f"{fsep}) "
        f"FROM event WHERE {enrolled} OR {measured} OR {python} "
        "GROUP BY patient_id ORDER BY patient_id"
    )


def _stream(conn: Any, sql: str) -> Iterator[tuple[Any, ...]]:
    """The scan's rows through the driver, streamed: on SQLite its own cursor (plain tuples;
    SQLAlchemy's row objects cost more than the scan), on PostgreSQL a server-side cursor."""
    if conn.dialect.name != "sqlite":
        raw = conn.connection.dbapi_connection
        if not getattr(raw, "autocommit", False):
            yield from conn.execution_options(yield_per=2_000).exec_driver_sql(sql)
            return
        # A server-side cursor lives in a transaction; the web app's units of work read in
        # autocommit mode: open one on the driver's connection (psycopg) for the scan alone.
        with raw.transaction(), raw.cursor(name="measure_scan") as named:
            named.itersize = 2_000
            named.execute(sql)
            yield from named
        return
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(sql)
        while batch := cur.fetchmany(2_000):
            yield from batch
    finally:
        cur.close()


class _Reader:
    """What the scan's rows share between patients: days, PHQ-9 observations and their visits,
    and the MDD condition, each built once (items are immutable)."""

    def __init__(self) -> None:
        self.days: dict[str, dt.date] = {}
        self.visits: dict[tuple[dt.date | None, dt.date | None], Item] = {}
        self.conditions: dict[dt.date, Item] = {}
        # measurement token → its PHQ-9 observation / that day's visit (None: another instrument)
        self.observation = _Cache(self._observation)
        self.visit = _Cache(self._visit)

    def day(self, text: str) -> dt.date:
        found = self.days.get(text)
        if found is None:
            found = self.days[text] = dt.date.fromisoformat(text[:10])
        return found

    def mdd(self, start: dt.date) -> Item:
        found = self.conditions.get(start)
        if found is None:
            found = self.conditions[start] = Item(
                "Condition", MDD, None, start, None, clinical="active", verification="confirmed"
            )
        return found

    def phq9(self, measured: str | None) -> tuple[list[Item], list[Item]]:
        """The PHQ-9 observations among the measurement tokens (in their order) and one
        finished office visit on each one's day (`from_record_doc`'s approximation)."""
        if not measured:
            return [], []
        tokens = measured.split(TOKEN_SEP)
        # map and filter run in C: a patient's ten tokens cost two dictionary look-ups each
        return (
            list(filter(None, map(self.observation.__getitem__, tokens))),
            list(filter(None, map(self.visit.__getitem__, tokens))),
        )

    def _observation(self, token: str) -> Item | None:
        instrument, score = json.loads(token[10:])
        if instrument != "PHQ-9":
            return None
        d = self.day(token[:10])
        return Item("Observation", PHQ9, "final", d, d, float(score))

    def _visit(self, token: str) -> Item | None:
        if self.observation[token] is None:
            return None
        d = self.day(token[:10])
        found = self.visits.get((d, d))
        if found is None:
            found = self.visits[d, d] = Item("Encounter", OFFICE_VISIT, "finished", d, d)
        return found


class _Cache(dict[str, Item | None]):
    """A dictionary that computes a missing value once (`__missing__`), so that look-ups can
    run in C through `map`."""

    def __init__(self, compute: Callable[[str], Item | None]) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, key: str) -> Item | None:
        value = self[key] = self.compute(key)
        return value
