"""What `verify` reads: every enrollment and its log, raw and leniently, plus the hash chains.

Nothing a corrupt row holds may crash `verify`: rows are read through the driver as stored (SQLite
text that is not UTF-8 is kept with escapes), converted one value at a time, and a row that does
not convert becomes a problem of its patient. The chain is recomputed from the raw values
(`engine.store.chain`), events whose patient has no enrollment are reported as orphans.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from engine.store.chain import HASHED, check_chain
from engine.store.fastsql import ENROLLMENT_COLUMNS, EVENT_COLUMNS, codec_for
from engine.store.repository import EnrollmentRow, EventRow


@dataclass
class RawPatient:
    """One patient as stored: the typed rows where they convert, and what did not."""

    patient_id: str
    head: EnrollmentRow | None
    log: list[EventRow]
    problems: list[str] = field(default_factory=list)
    orphan: bool = False  # events without an enrollment row


def _q(name: str) -> str:
    return f'"{name}"' if name == "trigger" else name


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


@contextlib.contextmanager
def _lenient(conn: sa.Connection) -> Iterator[Any]:
    """A driver cursor; on SQLite text that is not UTF-8 decodes with escapes instead of
    raising (the connection's own setting is restored afterwards)."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    sqlite = conn.dialect.name == "sqlite"
    old = raw.text_factory if sqlite else None
    if sqlite:
        raw.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    cur = raw.cursor()
    try:
        yield cur
    finally:
        cur.close()
        if sqlite:
            raw.text_factory = old


def read_patients(conn: sa.Connection, *, chunk: int = 500) -> Iterator[RawPatient]:
    """Every enrollment with its log, in patient-id order, then every orphaned log (events whose
    patient has no enrollment). Runs inside the caller's snapshot."""
    codec = codec_for(conn)
    ph = "?" if codec.sqlite else "%s"
    enr_cols = ", ".join(ENROLLMENT_COLUMNS)
    ev_cols = ", ".join(_q(c) for c in EVENT_COLUMNS)
    after: str | None = None
    with _lenient(conn) as cur:
        while True:
            where = f"WHERE patient_id > {ph} " if after is not None else ""
            cur.execute(
                f"SELECT {enr_cols} FROM enrollment {where}ORDER BY patient_id LIMIT {chunk}",
                (after,) if after is not None else (),
            )
            heads = cur.fetchall()
            if not heads:
                break
            ids = [_text(h[0]) for h in heads]
            marks = ", ".join([ph] * len(ids))
            cur.execute(
                f"SELECT {ev_cols} FROM event WHERE patient_id IN ({marks}) "
                "ORDER BY patient_id, version",
                ids,
            )
            logs: dict[str, list[tuple[Any, ...]]] = {i: [] for i in ids}
            for r in cur.fetchall():
                logs.setdefault(_text(r[0]), []).append(tuple(r))
            for pid, h in zip(ids, heads, strict=True):
                yield _convert(pid, tuple(h), logs[pid], codec)
            after = ids[-1]
        cur.execute(
            f"SELECT {ev_cols} FROM event WHERE patient_id NOT IN "
            "(SELECT patient_id FROM enrollment) ORDER BY patient_id, version"
        )
        orphans: dict[str, list[tuple[Any, ...]]] = {}
        for r in cur.fetchall():
            orphans.setdefault(_text(r[0]), []).append(tuple(r))
    for pid, rows in orphans.items():
        p = _convert(pid, None, rows, codec)
        p.orphan = True
        p.problems.insert(
            0,
            f"{len(rows)} event(s) for a patient with no enrollment (a deleted patient, "
            "or orphaned events)",
        )
        yield p


def _convert(
    pid: str, head: tuple[Any, ...] | None, rows: list[tuple[Any, ...]], codec: Any
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
    hashed = [(*(r[EVENT_COLUMNS.index(c)] for c in HASHED), r[-1]) for r in rows]
    out.problems += check_chain(hashed)
    for n, r in enumerate(rows, start=1):
        try:
            out.log.append(_event(r, codec))
        except Exception as exc:
            out.problems.append(f"event {n} is unreadable ({type(exc).__name__})")
    return out


def _event(r: tuple[Any, ...], codec: Any) -> EventRow:
    text = (0, 2, 3, 6)  # patient_id, kind, actor, payload
    if type(r[1]) is not int or not all(isinstance(r[i], str) for i in text):
        raise ValueError("bad column type")
    if not all(x is None or isinstance(x, str) for x in r[7:]):
        raise ValueError("bad column type")
    effective = codec.date_in(r[4])
    if effective is None:
        raise ValueError("no effective date")
    return EventRow(
        r[0],
        r[1],
        r[2],
        r[3],
        effective,
        codec.instant_in(r[5]),
        r[6],
        *r[7:],
    )
