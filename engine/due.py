"""The bridge to the worklist: what is due for one patient now, and the items to store with a
write. The rules live in `engine.worklist`."""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from typing import Any

from engine.repository import DueRow
from pathway.definition import Definition
from pathway.evaluation import GuardResult
from pathway.facts import Facts, derive
from pathway.record import PatientRecord


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
    try:
        from engine.worklist import due_items
    except ImportError:  # pragma: no cover - the worklist ships with the engine
        return []
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
    items carry the caseload summary worked out from the same facts (`engine.summary`)."""
    from engine.summary import Scheduled, summarize
    from engine.worklist import PRIORITY, schedule

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
