"""What `verify` reads: every enrollment and its log, raw and leniently, plus the hash chains.

Nothing a corrupt row holds may crash `verify`: rows are read through the driver as stored (SQLite
text that is not UTF-8 is kept with escapes), converted one value at a time, and a row that does
not convert becomes a problem of its patient. The chain is recomputed from the raw values
(`engine.store.chain`), events whose patient has no enrollment are reported as orphans.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from engine.store.chain import check_chain
from engine.store.fastsql import ENROLLMENT_COLUMNS, EVENT_COLUMNS, codec_for
from engine.store.repository import DueRow, EnrollmentRow, EventRow
from engine.store.summary import SUMMARY_COLUMNS, Summary, date_values


@dataclass
class RawPatient:
    """One patient as stored: the typed rows where they convert, and what did not.

    `due` and `summary` (the stored worklist items and caseload summary) are read only by
    `read_patients(…, stored=True)`; `summary` is None when none is stored."""

    patient_id: str
    head: EnrollmentRow | None
    log: list[EventRow]
    problems: list[str] = field(default_factory=list)
    orphan: bool = False  # events without an enrollment row
    due: list[DueRow] = field(default_factory=list)
    summary: Summary | None = None


def _q(name: str) -> str:
    return f'"{name}"' if name == "trigger" else name


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


@contextlib.contextmanager
def _lenient(conn: sa.Connection) -> Iterator[Callable[..., Iterator[Any]]]:
    """Yields `stream(name, sql, params=())`: the rows of a query, fetched a batch at a time
    (PostgreSQL: through a server-side cursor, so memory stays bounded). On SQLite text not UTF-8
    decodes with escapes instead of raising (the connection's setting is restored afterwards)."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    sqlite = conn.dialect.name == "sqlite"
    old = raw.text_factory if sqlite else None
    if sqlite:
        raw.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    cursors: list[Any] = []

    def stream(name: str, sql: str, params: Sequence[Any] = ()) -> Iterator[Any]:
        cur = raw.cursor() if sqlite else raw.cursor(name=f"verify_{name}")
        cursors.append(cur)
        cur.execute(sql, params)
        while rows := cur.fetchmany(_BATCH):
            yield from rows

    try:
        yield stream
    finally:
        for cur in cursors:
            cur.close()
        if sqlite:
            raw.text_factory = old


_BATCH = 2000
_DUE = ("item", "priority", "due_on", "state", "label", "why", "sources", "computed_on")


def read_patients(
    conn: sa.Connection,
    *,
    stored: bool = False,
    chains: bool = True,
    ids: tuple[str | None, str | None] = (None, None),
) -> Iterator[RawPatient]:
    """Every enrollment with its log (and, with `stored`, its stored worklist items and caseload
    summary), in patient-id order, and every orphaned log (events whose patient has no
    enrollment) where it falls in that order. Runs inside the caller's snapshot.

    One pass over each table in key order, (patient_id, version) for the log, merged here: the
    queries' order is the database's (its collation), so the merge compares ids for equality
    only, and the orphans' ids are asked for first (none, on a healthy database). `chains`:
    recompute every event's hash (False: the rows only, for `migrate-check`). `ids`: only the
    patient ids from the first (included) to the second (excluded), None for no bound."""
    codec = codec_for(conn)
    instants: dict[Any, Any] = {}  # recorded-at values converted (shared within a bulk batch)
    enr_cols = ", ".join((*ENROLLMENT_COLUMNS, *(SUMMARY_COLUMNS if stored else ())))
    ev_cols = ", ".join(_q(c) for c in EVENT_COLUMNS)
    ph = "?" if conn.dialect.name == "sqlite" else "%s"
    bounds = [b for b in ids if b is not None]
    within = " AND ".join(
        f"patient_id {op} {ph}" for op, b in zip((">=", "<"), ids, strict=True) if b is not None
    )
    where, also = (f" WHERE {within}", f" AND {within}") if within else ("", "")
    lonely = "SELECT DISTINCT patient_id FROM {} WHERE patient_id NOT IN " + (
        f"(SELECT patient_id FROM enrollment){also}"
    )
    with _lenient(conn) as stream:
        orphans = {_text(r[0]) for r in stream("orphans", lonely.format("event"), bounds)}
        stray_due = {_text(r[0]) for r in stream("stray", lonely.format("due_item"), bounds)}
        heads = stream(
            "heads", f"SELECT {enr_cols} FROM enrollment{where} ORDER BY patient_id", bounds
        )
        events = stream(
            "events", f"SELECT {ev_cols} FROM event{where} ORDER BY patient_id, version", bounds
        )
        dues = (
            stream(
                "due",
                f"SELECT patient_id, {', '.join(_DUE)} FROM due_item{where} "
                "ORDER BY patient_id, seq",
                bounds,
            )
            if stored
            else iter(())
        )
        ev = next(events, None)
        due = next(dues, None)
        for h in heads:
            pid = _text(h[0])
            while ev is not None and _text(ev[0]) in orphans:  # orphans before this patient
                ev, p = _orphan(ev, events, codec, chains)
                yield p
            rows: list[tuple[Any, ...]] = []
            while ev is not None and _text(ev[0]) == pid:
                rows.append(tuple(ev))
                ev = next(events, None)
            due_rows: list[tuple[Any, ...]] = []
            while due is not None and _text(due[0]) in stray_due:
                due = next(dues, None)
            while due is not None and _text(due[0]) == pid:
                due_rows.append(tuple(due[1:]))
                due = next(dues, None)
            n = len(ENROLLMENT_COLUMNS)
            p = _convert(pid, tuple(h[:n]), rows, codec, chains, instants)
            if stored:
                _stored(p, tuple(h[n:]), due_rows, codec)
            yield p
        while ev is not None:  # orphans after the last patient
            ev, p = _orphan(ev, events, codec, chains)
            yield p


def _orphan(first: Any, events: Iterator[Any], codec: Any, chains: bool) -> tuple[Any, RawPatient]:
    """The orphaned log that starts with `first`, and the row after it."""
    pid = _text(first[0])
    rows = [tuple(first)]
    ev = next(events, None)
    while ev is not None and _text(ev[0]) == pid:
        rows.append(tuple(ev))
        ev = next(events, None)
    p = _convert(pid, None, rows, codec, chains)
    p.orphan = True
    p.problems.insert(
        0,
        f"{len(rows)} event(s) for a patient with no enrollment (a deleted patient, "
        "or orphaned events)",
    )
    return ev, p


def _stored(
    p: RawPatient, summary: tuple[Any, ...], due: list[tuple[Any, ...]], codec: Any
) -> None:
    """The stored worklist items and caseload summary, typed (a row that does not convert is
    a problem of the patient)."""
    try:
        if summary[-1] is not None:
            p.summary = Summary(
                *(
                    codec.date_in(v) if is_date else v
                    for v, is_date in zip(summary, date_values(SUMMARY_COLUMNS), strict=True)
                )
            )
    except Exception as exc:
        p.problems.append(f"the caseload summary is unreadable ({type(exc).__name__})")
    for n, r in enumerate(due, start=1):
        try:
            item, priority, due_on, state, label, why, sources, computed = r
            p.due.append(
                DueRow(
                    item,
                    int(priority),
                    _day(codec, due_on),
                    state,
                    label,
                    why,
                    sources,
                    _day(codec, computed),
                )
            )
        except Exception as exc:
            p.problems.append(f"worklist item {n} is unreadable ({type(exc).__name__})")


def _day(codec: Any, value: Any) -> dt.date:
    day = codec.date_in(value)
    if day is None:
        raise ValueError("no date")
    return day  # type: ignore[no-any-return]


def _convert(
    pid: str,
    head: tuple[Any, ...] | None,
    rows: list[tuple[Any, ...]],
    codec: Any,
    chains: bool = True,
    instants: dict[Any, Any] | None = None,
) -> RawPatient:
    out = RawPatient(patient_id=pid, head=None, log=[])
    if head is not None:
        try:
            v = list(codec.enrollment_in(head))
            if not all(isinstance(x, str) for x in v[:4]) or type(v[4]) is not int:
                raise ValueError("bad column type")
            out.head = EnrollmentRow(*v)
        except Exception as exc:
            out.problems.append(f"the enrollment row is unreadable ({type(exc).__name__})")
    if chains:
        out.problems += check_chain(rows)  # rows are (HASHED columns..., hash) already
    for n, r in enumerate(rows, start=1):
        try:
            out.log.append(_event(r, codec, instants))
        except Exception as exc:
            out.problems.append(f"event {n} is unreadable ({type(exc).__name__})")
    return out


_STR, _NONE = str, type(None)


def _event(r: tuple[Any, ...], codec: Any, instants: dict[Any, Any] | None = None) -> EventRow:
    """One event row, typed; ValueError for a value of the wrong type. `instants` caches the
    recorded-at values already converted (a bulk write shares one per batch)."""
    pid, version, kind, actor, eff, rec, payload = r[:7]
    if (
        type(version) is not int
        or type(pid) is not _STR
        or type(kind) is not _STR
        or type(actor) is not _STR
        or type(payload) is not _STR
    ):
        raise ValueError("bad column type")
    for x in r[7:]:
        if type(x) is not _STR and type(x) is not _NONE:
            raise ValueError("bad column type")
    effective = codec.date_in(eff)
    if effective is None:
        raise ValueError("no effective date")
    recorded = instants.get(rec) if instants is not None else None
    if recorded is None:
        recorded = codec.instant_in(rec)
        if instants is not None:
            if len(instants) > 256:
                instants.clear()
            instants[rec] = recorded
    return EventRow(pid, version, kind, actor, effective, recorded, payload, *r[7:])
