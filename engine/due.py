"""The bridge to the worklist: what is due for one patient, and when something next falls due.

The rules live in `engine.worklist`; until that module is installed these return nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pathway.definition import Definition
from pathway.evaluation import GuardResult
from pathway.facts import Facts
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
) -> dt.date | None:
    """The first date with a due item if nothing new is recorded (kept on the enrollment row)."""
    try:
        from engine.worklist import next_due_on
    except ImportError:  # pragma: no cover - the worklist ships with the engine
        return None
    return next_due_on(
        record,
        state=state,
        entered_state_on=entered_state_on,
        definition=definition,
        as_of=as_of,
        facts=facts,
    )
