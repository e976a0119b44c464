"""Audits over every patient: `verify` (replay each log) and `migrate_check` (a new version).

`compare` and `migrate_check` live in `engine.queries.migration_check` (re-exported here).
Both read every patient in one pass over the log in key order, one patient in memory at a
time (`engine.store.integrity.read_patients`); neither writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from engine.factlog import apply, new_document
from engine.machine import guard_for
from engine.queries.migration_check import compare, migrate_check
from engine.replay import replay
from engine.store.definition_store import fingerprint
from engine.store.repository import DueRow, EnrollmentRow, EventRow
from engine.store.summary import SUMMARY_COLUMNS, Summary, summary_of
from engine.views import Mismatch, VerifyReport
from pathway.definition import Definition
from pathway.errors import PathwayError, RecordError
from pathway.facts import derive
from pathway.record import PatientRecord, parse_record

__all__ = [
    "check_due",
    "check_patient",
    "check_range",
    "check_summary",
    "compare",
    "migrate_check",
    "verify",
]

if TYPE_CHECKING:
    import sqlalchemy as sa

    from engine.queries.source import ReadSource
    from engine.store.integrity import RawPatient


def verify(
    svc: ReadSource,
    *,
    deep: bool = False,
    on_progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> VerifyReport:
    """Replay every patient: state, version, entry date, definition and record must agree; and
    the board's counts must equal a recount of the enrollments (SQL units of work).

    `deep` also re-evaluates every transition's guard from the facts known when it was taken,
    and works out every patient's worklist items and caseload summary again to compare them with
    the stored ones.

    One pass over the log in key order, (patient_id, version), merged with the enrollments and
    the stored items as it goes (`engine.store.integrity.read_patients`): memory holds one
    patient at a time, plus the mismatches found. Each patient's payloads are parsed once and
    their record validated once; the worklist items and the summary share one derivation when
    they were stored on the same day (they are written together). `workers` > 1 splits the
    patients into that many ranges of ids, each checked by a process of its own
    (`engine.queries.verify_workers`; a database file or server only), with the same report.
    """
    from engine.queries import verify_workers
    from engine.store.board_sql import count_drift

    drift: list[str] = []
    rollup: list[str] = []
    stored = check_stored_definitions(svc)
    ranges, url = None, ""
    with svc.uow as uow:
        conn = getattr(uow, "connection", None)
        if conn is not None:
            try:
                drift = count_drift(conn)
            except Exception as exc:  # a corrupt row: reported, never a crash
                drift = [f"the board's counts could not be recounted ({type(exc).__name__})"]
            rollup = rollup_drift(conn, svc.clock.today())
            if workers > 1:
                ranges = verify_workers.ranges(conn, workers)
                url = verify_workers.worker_url(conn)
    if ranges is not None:
        patients, events, mismatches = verify_workers.run(
            url, svc.clock.today(), deep, ranges, on_progress
        )
    else:
        patients, events, mismatches = check_range(svc, deep=deep, on_progress=on_progress)
    return VerifyReport(
        patients=patients,
        events=events,
        mismatches=mismatches,
        board_counts=drift,
        definitions=stored,
        cohort_rollup=rollup,
    )


def rollup_drift(conn: Any, today: dt.date) -> list[str]:
    """Where the cohort rollup (if installed) does not give what the log gives, per definition
    version: the overlay as of today, and a window over the whole history (its by-day counters).
    Two passes over the log's moves per version."""
    import sqlalchemy as sa

    from engine.queries.overlay_cohort import summary_of as summarised
    from engine.store.overlay_rollup import installed, read_rollup
    from engine.store.overlay_sql import CohortQuery, count_cohort

    try:
        if not installed(conn):
            return []
        pinned = conn.execute(
            sa.text(
                "SELECT DISTINCT definition_id, definition_version FROM enrollment ORDER BY 1, 2"
            )
        ).all()
        out = []
        for did, version in pinned:
            for since in (None, dt.date.min + dt.timedelta(days=1)):
                q = CohortQuery(
                    end=today, since=since, definition_id=did, definition_version=version
                )
                fast = read_rollup(conn, q)
                if fast is None:  # declined: the overlay reads the log itself
                    continue
                a, b = summarised(fast, q), summarised(count_cohort(conn, q), q)
                parts = [f for f in _COMPARED if getattr(a, f) != getattr(b, f)]
                if parts:
                    what = "over the whole history" if since else f"as of {today.isoformat()}"
                    out.append(
                        f"cohort rollup, {did} {version}, {what}: counts that differ from the "
                        f"log: {', '.join(parts)} (`pathway init-db --no-cohort-rollup` then "
                        "`--cohort-rollup` builds it again)"
                    )
        return out
    except Exception as exc:  # a corrupt row: reported, never a crash
        return [f"the cohort rollup could not be checked ({type(exc).__name__})"]


_COMPARED = ("patients", "starts", "traversals", "overrides", "median_days", "visited")


def check_range(
    svc: ReadSource,
    *,
    deep: bool = False,
    ids: tuple[str | None, str | None] = (None, None),
    on_progress: Callable[[int], None] | None = None,
) -> tuple[int, int, list[Mismatch]]:
    """`verify`'s per-patient checks over the patients whose ids are in `ids` (from, included;
    to, excluded; None: no bound): how many patients and events, and the mismatches found."""
    patients = events = 0
    mismatches: list[Mismatch] = []
    with svc.uow as uow:
        conn = getattr(uow, "connection", None)
        for p in _patients(uow, conn, stored=deep, ids=ids):
            patients += not p.orphan
            events += len(p.log)
            problems = p.problems
            if p.head is not None:
                try:
                    problems += _check(svc, p, deep=deep, sql=conn is not None)
                except Exception as exc:  # a corrupt payload: this patient is reported, go on
                    problems.append(f"the log cannot be replayed ({type(exc).__name__})")
            mismatches += [Mismatch(patient_id=p.patient_id, problem=x) for x in problems]
            if on_progress is not None:
                on_progress(patients)
    return patients, events, mismatches


def enrolled_count(svc: ReadSource) -> int | None:
    """How many patients are enrolled (for a progress bar; None without SQL)."""
    with svc.uow as uow:
        conn = getattr(uow, "connection", None)
        if conn is None:
            return None
        return int(conn.exec_driver_sql("SELECT count(*) FROM enrollment").scalar() or 0)


def check_due(
    svc: ReadSource,
    head: EnrollmentRow,
    log: list[EventRow],
    stored: list[DueRow],
    *,
    fresh: tuple[DueRow, ...] | None = None,
) -> list[str]:
    """The stored worklist items must be what the patient's record and state give, worked out
    again as of the day they were stored (`fresh`: those items, when the caller has them): the
    same kinds, priorities, states and dates. Their words (label, why, sources) are not
    compared: a release that words an item better would otherwise flag every patient stored
    before it; they are written again at the patient's next write."""
    computed = stored[0].computed_on if stored else svc.clock.today()
    if fresh is None:
        definition = svc.definitions.get(head.definition_id, head.definition_version)
        record = parse_record(replay(head.patient_id, log).document(), catalog=definition.catalog)
        fresh = _due_as_of(definition, head, record, computed)
    if list(map(_decides, fresh)) == list(map(_decides, stored)):
        return []
    if not stored:
        return ["no worklist items are stored (run `pathway init-db` to fill them)"]
    have = ", ".join(f"{d.item} {d.due_on}" for d in stored) or "none"
    want = ", ".join(f"{d.item} {d.due_on}" for d in fresh) or "none"
    return [f"stored worklist items ({have}) differ from the record's ({want}) as of {computed}"]


def _decides(d: DueRow) -> tuple[object, ...]:
    """What of a stored item decides the worklist: its kind, priority, state and dates."""
    return (d.item, d.priority, d.due_on, d.state, d.computed_on)


def _due_as_of(
    definition: Definition, head: EnrollmentRow, record: PatientRecord, day: dt.date
) -> tuple[DueRow, ...]:
    """The patient's worklist items (carrying their caseload summary) worked out as of `day`."""
    from engine.due import next_due

    return next_due(
        definition,
        record=record,
        state=head.state,
        entered_state_on=head.entered_state_on,
        as_of=day,
        patient=head.patient_id,
    )[1]


def check_stored_definitions(svc: ReadSource) -> list[str]:
    """Each stored definition version's content must still hash to its recorded SHA-256 and
    still be a valid definition (an edited row would change the rules of pinned patients)."""
    import hashlib

    from engine.store.definition_store import restore

    out = []
    for d, _ in svc.uow.definitions.listing():
        where = f"definition {d.definition_id} {d.version}"
        if hashlib.sha256(d.content.encode("utf-8")).hexdigest() != d.sha256:
            out.append(f"{where}: its stored content no longer matches its sha256 {d.sha256}")
            continue
        try:
            restore(d.content)
        except Exception as exc:  # a corrupt row: reported, never a crash
            out.append(f"{where}: its stored content is not a valid definition ({exc})")
    return out


def _patients(
    uow: object,
    conn: sa.Connection | None,
    *,
    stored: bool,
    ids: tuple[str | None, str | None] = (None, None),
) -> Iterator[RawPatient]:
    """Every patient and every orphaned log, with the stored worklist items and summary if
    `stored`: read raw and checked against the hash chains on a database, from the repository
    otherwise (the in-memory fake: no chains, no stored summary)."""
    from engine.store.integrity import RawPatient, read_patients

    if conn is None:
        from engine.store.due_store import stored_due

        lo, hi = ids
        for head, log in uow.patients.iter_patients():  # type: ignore[attr-defined]
            if (lo is None or head.patient_id >= lo) and (hi is None or head.patient_id < hi):
                due = stored_due(uow, head.patient_id) if stored else []
                yield RawPatient(head.patient_id, head, log, due=due)
        return
    with uow.patients.snapshot():  # type: ignore[attr-defined]
        yield from read_patients(conn, stored=stored, ids=ids)


def check_patient(
    svc: ReadSource, head: EnrollmentRow, log: list[EventRow], *, deep: bool = False
) -> list[str]:
    """What is wrong with one patient's enrollment row and log (empty when consistent)."""
    from engine.store.integrity import RawPatient

    return _check(svc, RawPatient(head.patient_id, head, log), deep=deep, sql=False, items=False)


def _check(
    svc: ReadSource, p: RawPatient, *, deep: bool, sql: bool, items: bool = True
) -> list[str]:
    """One patient's problems; with `deep` (and `items`), the stored worklist items and caseload
    summary too (`sql`: the summary is stored, so a missing one is a problem)."""
    head, log = p.head, p.log
    assert head is not None
    datas = [e.data() for e in log]  # each payload parsed once
    rp = replay(head.patient_id, log, datas)
    problems = list(rp.problems)
    if rp.state != head.state:
        problems.append(f"state is '{head.state}' but the log replays to '{rp.state}'")
    if rp.version != head.version:
        problems.append(f"version is {head.version} but the log has {rp.version} events")
    if rp.entered_state_on != head.entered_state_on:
        problems.append(
            f"entered_state_on is {head.entered_state_on} but the log says {rp.entered_state_on}"
        )
    if rp.definition != (head.definition_id, head.definition_version):
        problems.append(
            f"definition is {head.definition_id} {head.definition_version} but the "
            f"log says {rp.definition}"
        )
    try:
        definition = svc.definitions.get(head.definition_id, head.definition_version)
    except PathwayError as exc:
        return [*problems, str(exc)]
    sha = fingerprint(definition)[0]
    if rp.definition_sha256 is not None and rp.definition_sha256 != sha:
        problems.append(
            f"the log pinned definition {head.definition_id} {head.definition_version} with "
            f"sha256 {rp.definition_sha256}, but its content now hashes to {sha}"
        )
    if head.state not in definition.state_by_id:
        problems.append(f"state '{head.state}' is not declared in the definition")
    doc = rp.document()
    try:
        record = parse_record(doc, catalog=definition.catalog)
    except RecordError as exc:
        problems.append(f"the rebuilt record is invalid: {exc.issues[0]}")
        return problems
    for e, data in zip(log, datas, strict=True):
        if e.kind == "transition" and data.get("guard", {}).get("result") != "true":
            problems.append(
                f"version {e.version}: transition '{e.trigger}' stored a guard that was not true"
            )
    if not deep:
        return problems
    final = (definition, record, doc)
    problems += _recheck_guards(svc, head.patient_id, rp.header, log, datas, final)
    if items:
        problems += _check_items(svc, p, head, definition, record, sql=sql)
    return problems


def _check_items(
    svc: ReadSource,
    p: RawPatient,
    head: EnrollmentRow,
    definition: Definition,
    record: PatientRecord,
    *,
    sql: bool,
) -> list[str]:
    """The stored worklist items and caseload summary against one derivation (two when they
    were stored on different days)."""
    computed = p.due[0].computed_on if p.due else svc.clock.today()
    fresh = _due_as_of(definition, head, record, computed)
    out = check_due(svc, head, p.log, p.due, fresh=fresh)
    if p.summary is None:
        if sql:
            out.append("no caseload summary is stored (run `pathway init-db`)")
        return out
    if p.summary.summary_on != computed:
        fresh = _due_as_of(definition, head, record, p.summary.summary_on)
    return out + _summary_problems(p.summary, summary_of(fresh))


def _recheck_guards(
    svc: ReadSource,
    patient_id: str,
    header: dict[str, object],
    log: list[EventRow],
    datas: list[dict[str, Any]] | None = None,
    final: tuple[Definition, PatientRecord, dict[str, Any]] | None = None,
) -> list[str]:
    """Each transition's guard, evaluated again under the definition version in force then, from
    the record the log held at that version. That record is built again only when a fact came
    in since the last transition (or the definition changed); `final` (the definition, record
    and document of the whole log, already validated) spares validating it again when the
    facts since were only appended (`_prefix_record`)."""
    out: list[str] = []
    if datas is None:
        datas = [e.data() for e in log]
    doc = new_document(patient_id, header)
    entered = log[0].effective_on if log else None  # enrollment: the initial state's entry
    ref = datas[0].get("definition", {}) if log else {}
    definition = svc.definitions.get(ref.get("id", ""), ref.get("version", ""))
    record: PatientRecord | None = None
    for e, data in zip(log, datas, strict=True):
        if e.kind == "migrated":
            ref = data.get("to", {})
            definition = svc.definitions.get(ref.get("id", ""), ref.get("version", ""))
            record = None
        elif e.kind == "fact":
            apply(doc, data)
            record = None
        elif e.kind == "transition" and e.from_state and e.trigger:
            if record is None:
                if final is not None and final[0] is definition:
                    record = _prefix_record(doc, final[2], final[1])
                if record is None:
                    record = parse_record(doc, catalog=definition.catalog)
            facts = derive(
                record,
                as_of=e.effective_on,
                params=definition.parameters,
                catalog=definition.catalog,
                entered_state_on=definition.judged_since(e.from_state, entered or e.effective_on),
                rules=definition.compiled.rules,
            )
            try:
                g = guard_for(definition, facts, e.from_state, e.trigger)
            except PathwayError as exc:
                out.append(f"version {e.version}: {exc}")
                continue
            if g.result != "true" or g.to != e.to_state:
                out.append(
                    f"version {e.version}: '{e.trigger}' from '{e.from_state}' replays "
                    f"as {g.result} → '{g.to}', but the log moved to '{e.to_state}'"
                )
        if e.to_state is not None:
            entered = e.effective_on
    return out


_LISTS = frozenset(("trials", "measurements", "screens", "labs", "contributors", "procedures"))


def _prefix_record(
    doc: dict[str, Any], whole: dict[str, Any], record: PatientRecord
) -> PatientRecord | None:
    """The record of `doc`, an earlier state of the document `whole` validated as `record`,
    when every list of `doc` is a prefix of the same list in `whole` and every other field is
    equal (facts since were only appended): `record` with its lists cut to those lengths.
    Validation is per element (each against the catalog, none looks at its neighbours) and the
    record's own check (no date before birth) holds for a part of its dates, so this is what
    validating `doc` gives. None when anything else changed (a trial ended or its dose moved, a
    risk or procedure replaced, a profile or history correction): validate `doc` then."""
    if doc.keys() != whole.keys():
        return None
    update: dict[str, Any] = {}
    for key, value in doc.items():
        full = whole[key]
        if key in _LISTS:
            n = len(value)
            if full[:n] != value:
                return None
            if n != len(full):
                update[key] = getattr(record, key)[:n]
        elif value != full:
            return None
    return record.model_copy(update=update) if update else record


def check_summary(svc: ReadSource, uow: Any, head: EnrollmentRow, log: list[EventRow]) -> list[str]:
    """`verify --deep`: the stored caseload summary must be what the record and state give,
    worked out again as of the day it was stored."""
    from engine.store.summary import stored_summary

    stored = stored_summary(uow, head.patient_id)
    if stored is None:
        conn = getattr(uow, "connection", None)
        return [] if conn is None else ["no caseload summary is stored (run `pathway init-db`)"]
    definition = svc.definitions.get(head.definition_id, head.definition_version)
    record = parse_record(replay(head.patient_id, list(log)).document(), catalog=definition.catalog)
    fresh = _due_as_of(definition, head, record, stored.summary_on)
    return _summary_problems(stored, summary_of(fresh))


def _summary_problems(stored: Summary, fresh: Summary | None) -> list[str]:
    if fresh == stored:
        return []
    diff = ", ".join(
        f"{name} {a!r} ≠ {b!r}"
        for name, a, b in zip(
            SUMMARY_COLUMNS, stored.values(), (fresh or stored).values(), strict=True
        )
        if a != b
    )
    return [f"the stored caseload summary differs from the record's: {diff}"]
