"""The event log's hash chain: each event's `hash` covers every column of the event and the hash
of the patient's previous event, so editing, deleting, renumbering or re-ordering any stored event
shows up in `verify` (tamper-evidence; the triggers of migration 0005 make the log append-only).

One sha256 per event over a canonical serialization: the columns as length-prefixed text, in a
fixed order. Values are taken as the database stores them (SQLite: ISO text; PostgreSQL: dates
and instants, formatted the same way), so the hash computed at write time and the one recomputed
from raw rows agree on both databases. The first event of a patient chains to `GENESIS`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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
    if value is None or type(value) is str:
        return value
    if isinstance(value, dt.datetime):
        u = value if value.tzinfo in (None, dt.UTC) else value.astimezone(dt.UTC)
        return (
            f"{u.year:04d}-{u.month:02d}-{u.day:02d} "
            f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}"
        )
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def link(prev: str | None, values: Sequence[Any]) -> str:
    """The hash of one event: `values` in `HASHED` order, chained to the previous hash.

    Each value is written as `<length>:<text>` (`-` for null) on its own line, after the previous
    hash: unambiguous whatever the text holds, and cheaper than JSON (5–10 µs an event on this
    machine, ~1% of an advance).
    """
    parts = [prev or GENESIS]
    for v in values:
        t = v if type(v) is str else _text(v)  # most columns are text already
        parts.append("-" if t is None else f"{len(t)}:{t}")
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


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
