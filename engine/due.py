"""The worklist items of a write: what is due for one patient now, the items (and the caseload
summary) to store with the write, and their backfill for databases written before they were
stored. The rules live in `pathway.due`."""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from engine.store.repository import DueRow
from engine.store.summary import SUMMARY_COLUMNS, Scheduled, summarize, summary_of
from pathway.definition import Definition
from pathway.due import PRIORITY, due_items, schedule
from pathway.evaluation import GuardResult
from pathway.facts import Facts, derive
from pathway.record import PatientRecord

if TYPE_CHECKING:
    from engine.services import Services


def due_list(
    definition: Definition,
    *,
    patient_id: str,
    state: str,
    entered_state_on: dt.date,
    facts: Facts,
    as_of: dt.date,
    guards: list[GuardResult] | None = None,
) -> list[dict[str, Any]]:
    """The worklist items due for this patient now, most urgent first, as JSON-ready dicts."""
    items = due_items(
        state,
        entered_state_on=entered_state_on,
        facts=facts,
        definition=definition,
        as_of=as_of,
        patient=patient_id,
        guards=guards,
    )
    return [i.model_dump(mode="json") for i in items]


def next_due(
    definition: Definition,
    *,
    record: PatientRecord,
    state: str,
    entered_state_on: dt.date,
    as_of: dt.date,
    facts: Facts | None = None,
    patient: str = "",
) -> tuple[dt.date | None, tuple[DueRow, ...]]:
    """The patient's worklist items to store with a write (each due now or on a later date, if
    nothing new is recorded), and the first of their dates (kept on the enrollment row). The
    items carry the caseload summary worked out from the same facts (`engine.store.summary`)."""
    if facts is None or facts.as_of != as_of:  # derived once, for the items and the summary
        facts = derive(
            record,
            as_of=as_of,
            params=definition.parameters,
            catalog=definition.catalog,
            entered_state_on=definition.judged_since(state, entered_state_on),
        )
    items = schedule(
        record,
        state=state,
        entered_state_on=entered_state_on,
        definition=definition,
        as_of=as_of,
        facts=facts,
        patient=patient,
    )
    rows = Scheduled(
        DueRow(
            i.item,
            PRIORITY[i.item],
            i.due_on,
            i.state,
            i.label,
            i.why,
            _json_list(i.sources),
            as_of,
        )
        for i in items
    )
    rows.summary = summarize(record, facts, items, as_of=as_of)
    return min((i.due_on for i in items), default=None), rows


@lru_cache(maxsize=256)
def _json_list(sources: tuple[str, ...]) -> str:
    """A JSON list of sources (a handful of distinct tuples: each encoded once)."""
    return json.dumps(list(sources), ensure_ascii=False)


def backfill(svc: Services, *, as_of: dt.date | None = None) -> int:
    """Work out and store the items of every patient who has none stored (a database written
    before migration 0007); return how many patients were filled. Patients in a final state
    have none, and get none."""
    import sqlalchemy as sa

    from engine.store.tables import due_item_table, enrollment_table
    from engine.store.uow import sql_connection

    day = as_of or svc.clock.today()
    enr, due = enrollment_table(), due_item_table()
    with svc.uow as uow:
        conn = sql_connection(uow, "backfill")
        missing = [
            r[0]
            for r in conn.execute(
                sa.select(enr.c.patient_id).where(
                    ~sa.exists().where(due.c.patient_id == enr.c.patient_id)
                )
            )
        ]
    filled = 0
    for pid in missing:
        p = svc.load(pid)
        if p.definition.state_by_id[p.head.state].kind == "final":
            continue
        _, items = next_due(
            p.definition,
            record=p.record,
            state=p.head.state,
            entered_state_on=p.head.entered_state_on,
            as_of=day,
            patient=pid,
        )
        if not items:
            continue
        with svc.uow as uow:
            conn = sql_connection(uow, "backfill")
            conn.execute(
                sa.insert(due),
                [
                    {
                        "patient_id": pid,
                        "seq": seq,
                        "item": d.item,
                        "priority": d.priority,
                        "due_on": d.due_on,
                        "state": d.state,
                        "label": d.label,
                        "why": d.why,
                        "sources": d.sources,
                        "computed_on": d.computed_on,
                    }
                    for seq, d in enumerate(items)
                ],
            )
            conn.commit()
        filled += 1
    return filled


def backfill_summary(svc: Services, *, as_of: dt.date | None = None) -> int:
    """Work out and store the summary of every patient who has none (a database written before
    migration 0009); return how many were filled. Each is its own short transaction."""
    import sqlalchemy as sa

    from engine.store.tables import enrollment_table
    from engine.store.uow import sql_connection

    day = as_of or svc.clock.today()
    enr = enrollment_table()
    with svc.uow as uow:
        conn = sql_connection(uow, "backfill")
        missing = list(
            conn.execute(sa.select(enr.c.patient_id).where(enr.c.summary_on.is_(None))).scalars()
        )
    for pid in missing:
        p = svc.load(pid)
        _, items = next_due(
            p.definition,
            record=p.record,
            state=p.head.state,
            entered_state_on=p.head.entered_state_on,
            as_of=day,
            patient=pid,
        )
        summary = summary_of(items)
        if summary is None:
            continue
        values = dict(zip(SUMMARY_COLUMNS, summary.values(), strict=True))
        with svc.uow as uow:
            conn = sql_connection(uow, "backfill")
            # the version stays: a summary is derived data, not an event of the patient
            conn.execute(sa.update(enr).where(enr.c.patient_id == pid).values(**values))
            conn.commit()
    return len(missing)
