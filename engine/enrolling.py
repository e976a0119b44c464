"""Building log rows: an enrollment (header + one event per fact) and single events.

Shared by the interactive services and the bulk import, so both write exactly the same log.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.due import next_due
from engine.errors import FutureDate, InvalidOverride
from engine.factlog import fact_date, facts_of, header_of
from engine.store.definition_store import pinned
from engine.store.repository import EnrollmentRow, EventRow
from pathway.definition import Definition
from pathway.errors import Issue, RecordError
from pathway.record import EARLIEST, PatientRecord

# fullmatch: no trailing newline slips in; "." and ".." are refused, as no URL can name them
# (a client resolves /patients/.. to the parent path before it asks)
PATIENT_ID = re.compile(r"(?!\.\.?\Z)[A-Za-z0-9._-]{1,64}")
# Who wrote an event, and an override's note: the same rules on every database (checked here,
# before any SQL), so a value SQLite would store is never one PostgreSQL refuses.
ACTOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,63}")
MAX_NOTE = 2000
_NOTE_BAD = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]"
)
_DATE_FIELDS = ("start", "end", "from", "date", "episode_start")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


def dumps(value: Any) -> str:
    """Compact JSON for payloads, serialized once on the write path (one shared encoder:
    `json.dumps` with options builds a new encoder per call)."""
    return _ENCODER.encode(value)


def check_patient_id(patient_id: str) -> None:
    """A pseudonymous reference: 1–64 of A-Z a-z 0-9 . _ - (never a name or MRN)."""
    if not isinstance(patient_id, str) or not PATIENT_ID.fullmatch(patient_id):
        raise RecordError(
            [Issue(loc="id", message="a patient id is 1–64 of A-Z a-z 0-9 . _ -, not . or ..")]
        )


def check_actor(actor: str) -> None:
    """An actor is 1–64 characters: a letter or digit, then letters, digits, space . _ @ + -."""
    if not isinstance(actor, str) or not ACTOR.fullmatch(actor):
        raise RecordError(
            [
                Issue(
                    loc="actor",
                    message="an actor is 1–64 of A-Z a-z 0-9 and space . _ @ + - "
                    "(starting with a letter or digit)",
                )
            ]
        )


def check_note(note: str) -> str:
    """An override's note, stripped: 1–2,000 characters, no control or bidi characters (line
    breaks and tabs allowed). Returns the stripped note."""
    text = note.strip() if isinstance(note, str) else ""
    if not text:
        raise InvalidOverride("an override needs a note saying why (--note)")
    if len(text) > MAX_NOTE:
        raise RecordError(
            [
                Issue(
                    loc="note",
                    message=f"a note is at most {MAX_NOTE:,} characters ({len(text):,} given)",
                )
            ]
        )
    bad = _NOTE_BAD.search(text)
    if bad is not None:
        raise RecordError(
            [
                Issue(
                    loc="note",
                    message="a note may not hold control characters "
                    f"(found U+{ord(bad.group()):04X})",
                )
            ]
        )
    return text


def refuse_future(
    payloads: Iterable[Mapping[str, Any]], today: dt.date, *, what: str = "fact", loc: str = ""
) -> None:
    """FutureDate for the first date after today in any payload, located as `[i].name` in the
    list of facts given, or at `loc` (a record: the facts are its own, not a list given)."""
    for i, p in enumerate(payloads):
        for name in _DATE_FIELDS:
            value = p.get(name)
            if isinstance(value, str):
                day = dt.date.fromisoformat(value)
                if day > today:
                    label = p.get("fact", what)
                    where = loc or f"[{i}].{name}"
                    raise FutureDate(f"{label} {name}", day, today, loc=where)


def check_effective(day: dt.date, *, loc: str = "effective", given: str | None = None) -> None:
    """RecordError naming `loc` for an effective date before 1900-01-01: the rule (and the
    wording) of every date in a patient record (`pathway.record.EARLIEST`)."""
    if day < EARLIEST:
        raise RecordError(
            [
                Issue(
                    loc=loc,
                    value=given if given is not None else day.isoformat(),
                    message=f"a date before {EARLIEST.isoformat()} is not plausible",
                )
            ]
        )


def check_effective_agrees(
    payloads: Sequence[Mapping[str, Any]], effective: dt.date, *, option: str = "effective"
) -> None:
    """RecordError when a fact carries its own date and `effective` names another.

    `effective` dates only the facts that carry none (profile, history, trial_updated): a fact
    with a date is stored under that date, so an effective date that disagrees would be silently
    ignored. Each such fact is named, with both dates.
    """
    issues: list[Issue] = []
    for i, p in enumerate(payloads):
        own = fact_date(p)
        if own is None or own == effective:
            continue
        field = next((k for k in _DATE_FIELDS if str(p.get(k)) == own.isoformat()), "date")
        at = f"[{i}]." if len(payloads) > 1 else ""
        issues.append(
            Issue(
                loc=at + field,
                value=own.isoformat(),
                message=f"the {p.get('fact', 'fact')} is dated '{own.isoformat()}' but "
                f"{option} is {effective.isoformat()}: {option} dates only facts without a date "
                "of their own (profile, history, trial_updated); leave it out or make them agree",
            )
        )
    if issues:
        raise RecordError(issues)


def event_row(
    patient_id: str,
    version: int,
    kind: str,
    *,
    actor: str,
    effective_on: dt.date,
    recorded_at: dt.datetime,
    payload: Mapping[str, Any] | str,
    **columns: Any,
) -> EventRow:
    """One log row; the payload is serialized here."""
    text = payload if isinstance(payload, str) else dumps(payload)
    return EventRow(
        patient_id=patient_id,
        version=version,
        kind=kind,
        actor=actor,
        effective_on=effective_on,
        recorded_at=recorded_at,
        payload=text,
        **columns,
    )


def build_enrollment(
    patient_id: str,
    *,
    record: PatientRecord | None,
    definition: Definition,
    actor: str,
    today: dt.date,
    now: dt.datetime,
    effective: dt.date | None = None,
    compute_due: bool = True,
) -> tuple[EnrollmentRow, list[EventRow]]:
    """The enrollment row and its log: `enrolled` (header) then one event per fact, in order."""
    day = effective or today
    if day > today:
        raise FutureDate("enrollment date", day, today)
    check_effective(day)
    record = record if record is not None else PatientRecord(id=patient_id)
    header = header_of(record)
    facts = facts_of(record)
    refuse_future([header["profile"], *facts], today, what="record", loc="record")
    state = definition.initial_state
    enrolled = {
        "definition": pinned(definition),  # id, version and content hash
        **header,
    }
    events = [
        event_row(
            patient_id,
            1,
            "enrolled",
            actor=actor,
            effective_on=day,
            recorded_at=now,
            payload=enrolled,
            to_state=state,
        )
    ]
    for i, f in enumerate(facts, start=2):
        events.append(
            event_row(
                patient_id,
                i,
                "fact",
                actor=actor,
                effective_on=fact_date(f) or day,
                recorded_at=now,
                payload=f,
                fact_kind=f["fact"],
            )
        )
    due, items = None, None
    if compute_due:
        due, items = next_due(
            definition,
            record=record,
            state=state,
            entered_state_on=day,
            as_of=today,
            patient=patient_id,
        )
    head = EnrollmentRow(
        patient_id=patient_id,
        definition_id=definition.metadata.id,
        definition_version=definition.metadata.version,
        state=state,
        version=len(events),
        entered_state_on=day,
        next_due_on=due,
        created_at=now,
        updated_at=now,
        due=items,
    )
    return head, events
