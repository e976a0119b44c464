"""`migrate_check`: which patients a new definition version would strand or treat differently,
and `compare`, the per-patient analysis `pathway migrate` shares. Read-only, one pass over the
log in key order (`engine.store.integrity.read_patients`, without the hash chains)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from engine.machine import enabled_triggers
from engine.replay import replay
from engine.store.repository import EnrollmentRow, EventRow
from engine.views import MigrationFinding, MigrationProblem, MigrationReport
from pathway.assess import DefinitionRef
from pathway.definition import Definition
from pathway.errors import RecordError
from pathway.facts import derive
from pathway.loader import load_definition
from pathway.record import PatientRecord, parse_record

if TYPE_CHECKING:
    import sqlalchemy as sa

    from engine.queries.source import ReadSource


def compare(
    svc: ReadSource,
    head: EnrollmentRow,
    log: list[EventRow],
    target: Definition,
    day: dt.date,
    *,
    same_catalog: bool = False,
) -> tuple[MigrationProblem | None, list[str], list[str]]:
    """What a patient's move to `target` would change: (problem or None, enabled triggers
    under their definition, under the target). The problems: their state is removed, their
    record is invalid under the target's catalog, or their enabled moves differ.
    `same_catalog`: the target's catalog equals the patient's definition's (the record is then
    validated once)."""
    old = svc.definitions.get(head.definition_id, head.definition_version)
    rp = replay(head.patient_id, log)
    doc = rp.document()
    old_record = parse_record(doc, catalog=old.catalog)
    old_on = _enabled(old, head, old_record, day)
    if head.state not in target.state_by_id:
        return "removed_state", old_on, []
    try:
        new_record = old_record if same_catalog else parse_record(doc, catalog=target.catalog)
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
        rules=d.compiled.rules,
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
    transitions differ, under the new definition (as of a date, default today).

    One pass over the log in key order (as `verify`, without the hash chains): memory holds
    one patient at a time, plus the findings."""
    target = new if isinstance(new, Definition) else load_definition(new)
    day = as_of or svc.clock.today()
    findings: list[MigrationFinding] = []
    removed: set[str] = set()
    same: dict[tuple[str, str], bool] = {}  # per definition version: its catalog is the target's
    patients = 0
    with svc.uow as uow:
        conn = getattr(uow, "connection", None)
        for head, log in _heads_and_logs(uow, conn):
            if head.definition_id != target.metadata.id:
                continue
            patients += 1
            if on_progress is not None:
                on_progress(patients)
            key = (head.definition_id, head.definition_version)
            old = svc.definitions.get(*key)
            if key not in same:
                removed |= set(old.state_by_id) - set(target.state_by_id)
                same[key] = old.catalog is target.catalog or old.catalog == target.catalog
            problem, old_on, new_on = compare(svc, head, log, target, day, same_catalog=same[key])
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


def _heads_and_logs(
    uow: object, conn: sa.Connection | None
) -> Iterator[tuple[EnrollmentRow, list[EventRow]]]:
    """Every enrolled patient with their log: one streamed pass on a database."""
    if conn is None:
        yield from uow.patients.iter_patients()  # type: ignore[attr-defined]
        return
    from engine.store.integrity import read_patients

    with uow.patients.snapshot():  # type: ignore[attr-defined]
        for p in read_patients(conn, chains=False):
            if p.head is not None:
                yield p.head, p.log
