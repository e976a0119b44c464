"""`pathway migrate`: move pinned patients to another version of their definition.

The same analysis as `migrate-check` (`engine.queries.audit.compare`) decides, per patient: a
patient whose state the target lacks, or whose record the target's catalog refuses, is not moved.
Each move is one audited `migrated` event (who, when, from → to version, the enabled moves before
and after) written with the patient's compare-and-swap, so it is all-or-nothing per patient and a
patient changed meanwhile is reported, not overwritten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.enrolling import event_row
from engine.queries.audit import compare
from engine.store.definition_store import pinned
from engine.store.repository import EnrollmentRow
from engine.views import MigratedPatient, MigrationFinding, MigrationResult
from pathway.assess import DefinitionRef
from pathway.definition import Definition
from pathway.errors import StaleVersion

if TYPE_CHECKING:
    from engine.services import Services
    from engine.store.uow import UnitOfWork


def migrate(
    svc: Services,
    target: Definition,
    *,
    actor: str,
    state: str | None = None,
    dry_run: bool = False,
) -> MigrationResult:
    """Move the patients pinned to other versions of `target`'s id (in `state`, if given)."""
    today = svc.clock.today()
    key = target.key
    if not dry_run:
        svc.pin(target)
    with svc.uow as uow:  # the analysis: one pass over the logs
        plan = []
        refused = []
        for head, log in uow.patients.iter_patients():
            if head.definition_id != key[0] or head.definition_version == key[1]:
                continue
            if state is not None and head.state != state:
                continue
            problem, old_on, new_on = compare(svc, head, log, target, today)
            if problem in ("removed_state", "record_invalid"):
                refused.append(
                    MigrationFinding(
                        patient_id=head.patient_id,
                        state=head.state,
                        problem=problem,
                        old_enabled=old_on,
                        new_enabled=new_on,
                    )
                )
            else:
                plan.append((head, old_on, new_on))
    moved, changed = [], []
    for head, old_on, new_on in plan:
        version = head.version
        if not dry_run:
            try:
                version = _move(svc, head, target, old_on, new_on, actor=actor)
            except StaleVersion:
                changed.append(head.patient_id)
                continue
        moved.append(
            MigratedPatient(
                patient_id=head.patient_id,
                state=head.state,
                from_version=head.definition_version,
                version=version,
                old_enabled=old_on,
                new_enabled=new_on,
            )
        )
    return MigrationResult(
        definition=DefinitionRef(id=key[0], version=key[1]),
        as_of=today,
        dry_run=dry_run,
        moved=moved,
        refused=refused,
        changed_meanwhile=changed,
    )


def _move(
    svc: Services,
    head: EnrollmentRow,
    target: Definition,
    old_on: list[str],
    new_on: list[str],
    *,
    actor: str,
) -> int:
    """One patient's move, in one transaction (StaleVersion if they changed meanwhile)."""
    from engine.due import next_due

    today = svc.clock.today()
    record = svc.record_of(head.patient_id)  # the compare-and-swap below pins its version
    due, items = next_due(
        target,
        record=record,
        state=head.state,
        entered_state_on=head.entered_state_on,
        as_of=today,
        patient=head.patient_id,
    )
    with svc.uow as uow:
        v = head.version + 1
        event = event_row(
            head.patient_id,
            v,
            "migrated",
            actor=actor,
            effective_on=today,
            recorded_at=svc.clock.now(),
            payload={
                "from": {"id": head.definition_id, "version": head.definition_version},
                "to": pinned(target),
                "old_enabled": old_on,
                "new_enabled": new_on,
            },
            from_state=head.state,
            to_state=head.state,
        )
        moved = EnrollmentRow(
            head.patient_id,
            head.definition_id,
            target.metadata.version,
            head.state,
            v,
            head.entered_state_on,
            due,
            head.created_at,
            svc.clock.now(),
            items,
        )
        uow.patients.append(moved, [event], expected_version=head.version)
        _repin_counters(uow, head, target.metadata.version)
        uow.commit()
    return v


def _repin_counters(uow: UnitOfWork, head: EnrollmentRow, version: str) -> None:
    """The cohort rollup's counts are kept by version: move the patient's with them."""
    conn = getattr(uow, "connection", None)
    if conn is None:
        return
    from engine.store import overlay_rollup

    if overlay_rollup.installed(conn):
        loaded = uow.patients.load(head.patient_id)
        assert loaded is not None  # appended to just now
        overlay_rollup.repin(
            conn,
            loaded[1],
            definition_id=head.definition_id,
            old_version=head.definition_version,
            new_version=version,
        )
