"""Audits over every patient: `verify` (replay each log) and `migrate_check` (a new version).

Both stream patients a chunk at a time; neither writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.factlog import apply, new_document
from engine.machine import enabled_triggers, guard_for
from engine.replay import replay
from engine.store.definition_store import fingerprint
from engine.store.repository import DueRow, EnrollmentRow, EventRow
from engine.views import (
    MigrationFinding,
    MigrationProblem,
    MigrationReport,
    Mismatch,
    VerifyReport,
)
from pathway.assess import DefinitionRef
from pathway.definition import Definition
from pathway.errors import PathwayError, RecordError
from pathway.facts import derive
from pathway.loader import load_definition
from pathway.record import PatientRecord, parse_record

if TYPE_CHECKING:
    import sqlalchemy as sa

    from engine.queries.source import ReadSource


def verify(
    svc: ReadSource, *, deep: bool = False, on_progress: Callable[[int], None] | None = None
) -> VerifyReport:
    """Replay every patient: state, version, entry date, definition and record must agree; and
    the board's counts must equal a recount of the enrollments (SQL units of work).

    `deep` also re-evaluates every transition's guard from the facts known when it was taken,
    and works out every patient's worklist items again to compare them with the stored ones.
    """
    from engine.store.board_sql import count_drift
    from engine.store.due_store import stored_due

    patients = events = 0
    mismatches: list[Mismatch] = []
    drift: list[str] = []
    stored = check_stored_definitions(svc)
    with svc.uow as uow:
        conn = getattr(uow, "connection", None)
        if conn is not None:
            try:
                drift = count_drift(conn)
            except Exception as exc:  # a corrupt row: reported, never a crash
                drift = [f"the board's counts could not be recounted ({type(exc).__name__})"]
        for pid, head, log, problems, enrolled in _patients(uow, conn):
            patients += enrolled
            events += len(log)
            if head is not None:
                try:
                    problems += check_patient(svc, head, log, deep=deep)
                    if deep:
                        problems += check_due(svc, head, log, stored_due(uow, pid))
                        problems += check_summary(svc, uow, head, log)
                except Exception as exc:  # a corrupt payload: this patient is reported, go on
                    problems.append(f"the log cannot be replayed ({type(exc).__name__})")
            mismatches += [Mismatch(patient_id=pid, problem=p) for p in problems]
            if on_progress is not None:
                on_progress(patients)
    return VerifyReport(
        patients=patients,
        events=events,
        mismatches=mismatches,
        board_counts=drift,
        definitions=stored,
    )


def check_due(
    svc: ReadSource, head: EnrollmentRow, log: list[EventRow], stored: list[DueRow]
) -> list[str]:
    """The stored worklist items must be what the patient's record and state give, worked out
    again as of the day they were stored."""
    from engine.due import next_due

    definition = svc.definitions.get(head.definition_id, head.definition_version)
    record = parse_record(replay(head.patient_id, log).document(), catalog=definition.catalog)
    computed = stored[0].computed_on if stored else svc.clock.today()
    _, fresh = next_due(
        definition,
        record=record,
        state=head.state,
        entered_state_on=head.entered_state_on,
        as_of=computed,
        patient=head.patient_id,
    )
    if list(fresh) == stored:
        return []
    if not stored:
        return ["no worklist items are stored (run `pathway init-db` to fill them)"]
    have = ", ".join(f"{d.item} {d.due_on}" for d in stored) or "none"
    want = ", ".join(f"{d.item} {d.due_on}" for d in fresh) or "none"
    return [f"stored worklist items ({have}) differ from the record's ({want}) as of {computed}"]


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
    uow: object, conn: sa.Connection | None
) -> Iterator[tuple[str, EnrollmentRow | None, list[EventRow], list[str], bool]]:
    """(patient id, enrollment or None, log, problems found reading it, enrolled) for every
    patient and every orphaned log: read
    raw and checked against the hash chains on a database, from the repository otherwise."""
    if conn is None:
        for head, log in uow.patients.iter_patients():  # type: ignore[attr-defined]
            yield head.patient_id, head, log, [], True
        return
    from engine.store.integrity import read_patients

    with uow.patients.snapshot():  # type: ignore[attr-defined]
        for p in read_patients(conn):
            yield p.patient_id, p.head, p.log, p.problems, not p.orphan


def check_patient(
    svc: ReadSource, head: EnrollmentRow, log: list[EventRow], *, deep: bool = False
) -> list[str]:
    """What is wrong with one patient's enrollment row and log (empty when consistent)."""
    rp = replay(head.patient_id, log)
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
    try:
        parse_record(rp.document(), catalog=definition.catalog)
    except RecordError as exc:
        problems.append(f"the rebuilt record is invalid: {exc.issues[0]}")
        return problems
    for e in log:
        if e.kind == "transition" and e.data().get("guard", {}).get("result") != "true":
            problems.append(
                f"version {e.version}: transition '{e.trigger}' stored a guard that was not true"
            )
    if deep:
        problems += _recheck_guards(svc, head.patient_id, rp.header, log)
    return problems


def _recheck_guards(
    svc: ReadSource, patient_id: str, header: dict[str, object], log: list[EventRow]
) -> list[str]:
    """Each transition's guard, evaluated again under the definition version in force then."""
    out: list[str] = []
    doc = new_document(patient_id, header)
    entered = log[0].effective_on if log else None  # enrollment: the initial state's entry
    ref = log[0].data().get("definition", {}) if log else {}
    definition = svc.definitions.get(ref.get("id", ""), ref.get("version", ""))
    for e in log:
        if e.kind == "migrated":
            ref = e.data().get("to", {})
            definition = svc.definitions.get(ref.get("id", ""), ref.get("version", ""))
        elif e.kind == "fact":
            apply(doc, e.data())
        elif e.kind == "transition" and e.from_state and e.trigger:
            record = parse_record(doc, catalog=definition.catalog)
            facts = derive(
                record,
                as_of=e.effective_on,
                params=definition.parameters,
                catalog=definition.catalog,
                entered_state_on=definition.judged_since(e.from_state, entered or e.effective_on),
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


def compare(
    svc: ReadSource, head: EnrollmentRow, log: list[EventRow], target: Definition, day: dt.date
) -> tuple[MigrationProblem | None, list[str], list[str]]:
    """What a patient's move to `target` would change: (problem or None, enabled triggers
    under their definition, under the target). The problems: their state is removed, their
    record is invalid under the target's catalog, or their enabled moves differ."""
    old = svc.definitions.get(head.definition_id, head.definition_version)
    rp = replay(head.patient_id, log)
    old_on = _enabled(old, head, parse_record(rp.document(), catalog=old.catalog), day)
    if head.state not in target.state_by_id:
        return "removed_state", old_on, []
    try:
        new_record = parse_record(rp.document(), catalog=target.catalog)
    except RecordError:
        return "record_invalid", old_on, []
    new_on = _enabled(target, head, new_record, day)
    return ("enabled_changed" if new_on != old_on else None), old_on, new_on


def _enabled(d: Definition, head: EnrollmentRow, record: PatientRecord, day: dt.date) -> list[str]:
    facts = derive(
        record,
        as_of=day,
        params=d.parameters,
        catalog=d.catalog,
        entered_state_on=d.judged_since(head.state, head.entered_state_on),
    )
    return enabled_triggers(d, head.state, facts)


def migrate_check(
    svc: ReadSource,
    new: Definition | str | Path,
    *,
    as_of: dt.date | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> MigrationReport:
    """Patients on the same definition id who would sit in a removed state, or whose enabled
    transitions differ, under the new definition (as of a date, default today)."""
    target = new if isinstance(new, Definition) else load_definition(new)
    day = as_of or svc.clock.today()
    findings: list[MigrationFinding] = []
    removed: set[str] = set()
    patients = 0
    with svc.uow as uow:
        for head, log in uow.patients.iter_patients():
            if head.definition_id != target.metadata.id:
                continue
            patients += 1
            if on_progress is not None:
                on_progress(patients)
            old = svc.definitions.get(head.definition_id, head.definition_version)
            removed |= set(old.state_by_id) - set(target.state_by_id)
            problem, old_on, new_on = compare(svc, head, log, target, day)
            if problem is not None:
                findings.append(
                    MigrationFinding(
                        patient_id=head.patient_id,
                        state=head.state,
                        problem=problem,
                        old_enabled=old_on,
                        new_enabled=new_on,
                    )
                )
    return MigrationReport(
        definition=DefinitionRef(id=target.metadata.id, version=target.metadata.version),
        as_of=day,
        patients=patients,
        removed_states=sorted(removed),
        findings=findings,
    )


def check_summary(svc: ReadSource, uow: Any, head: EnrollmentRow, log: list[EventRow]) -> list[str]:
    """`verify --deep`: the stored caseload summary must be what the record and state give,
    worked out again as of the day it was stored."""
    from engine.due import next_due
    from engine.replay import replay
    from engine.store.summary import SUMMARY_COLUMNS, stored_summary, summary_of
    from pathway.record import parse_record

    stored = stored_summary(uow, head.patient_id)
    if stored is None:
        conn = getattr(uow, "connection", None)
        return [] if conn is None else ["no caseload summary is stored (run `pathway init-db`)"]
    definition = svc.definitions.get(head.definition_id, head.definition_version)
    record = parse_record(replay(head.patient_id, list(log)).document(), catalog=definition.catalog)
    _, items = next_due(
        definition,
        record=record,
        state=head.state,
        entered_state_on=head.entered_state_on,
        as_of=stored.summary_on,
        patient=head.patient_id,
    )
    fresh = summary_of(items)
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
