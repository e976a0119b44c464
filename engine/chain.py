"""The event log's hash chain: each event's `hash` covers every column of the event and the hash
of the patient's previous event, so editing, deleting, renumbering or re-ordering any stored event
shows up in `verify` (tamper-evidence; the triggers of migration 0005 make the log append-only).

One sha256 per event over a canonical serialization: a JSON array of the columns as text, in a
fixed order. Values are taken as the database stores them (SQLite: ISO text; PostgreSQL: dates
and instants, formatted the same way), so the hash computed at write time and the one recomputed
from raw rows agree on both databases. The first event of a patient chains to `GENESIS`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

GENESIS = ""
HASHED = (
    "patient_id",
    "version",
    "kind",
    "actor",
    "effective_on",
    "recorded_at",
    "payload",
    "fact_kind",
    "trigger",
    "from_state",
    "to_state",
    "reason_code",
    "note",
)


def _text(value: Any) -> str | None:
    """A column value as canonical text (None stays None)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        utc = value.astimezone(dt.UTC) if value.tzinfo else value
        return utc.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def link(prev: str | None, values: Sequence[Any]) -> str:
    """The hash of one event: `values` in `HASHED` order, chained to the previous hash."""
    body = json.dumps(
        [prev or GENESIS, *(_text(v) for v in values)],
        ensure_ascii=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode("ascii", "backslashreplace")).hexdigest()


def event_values(e: Any) -> tuple[Any, ...]:
    """An EventRow's hashed columns, in `HASHED` order."""
    return (
        e.patient_id,
        e.version,
        e.kind,
        e.actor,
        e.effective_on,
        e.recorded_at,
        e.payload,
        e.fact_kind,
        e.trigger,
        e.from_state,
        e.to_state,
        e.reason_code,
        e.note,
    )


def check_chain(rows: Sequence[Sequence[Any]]) -> list[str]:
    """Problems in one patient's chain; `rows` are raw (HASHED columns..., hash) in log order."""
    problems: list[str] = []
    prev: str | None = GENESIS
    for n, row in enumerate(rows, start=1):
        *values, stored = row
        expected = link(prev, values)
        if stored is None:
            problems.append(f"event {n} has no hash (written before the chain, or erased)")
        elif stored != expected:
            problems.append(
                f"event {n} (version {_text(values[1])}) does not match its hash: "
                "it, or an event before it, was changed, removed or re-ordered"
            )
            break  # everything after it chains to a changed hash: one report is enough
        prev = stored
    return problems
