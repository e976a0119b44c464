"""The access audit: who read or changed what, one row per request (a mixin of `Accounts`), and
`relaxed_commits` for the audit's own engine.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from engine.web.identity import Principal
from pathway.errors import printable


def relaxed_commits(engine: sa.Engine) -> sa.Engine:
    """Make an engine's commits skip the fsync (for the access audit's own engine).

    An audit row is written on every read, and a durable commit costs an fsync (SQLite with
    `synchronous=FULL`: ~0.2–0.8 ms, more than the read it records). On this engine SQLite runs
    with `synchronous=NORMAL` and PostgreSQL with `synchronous_commit=off`: a row survives the
    app crashing, and is made durable by the next fsync (every clinical write's FULL commit
    fsyncs the shared WAL, and PostgreSQL's WAL writer within ~0.2 s); only an OS crash or power
    cut in that window can lose the newest audit rows, never a clinical event.
    """
    from sqlalchemy import event

    def relax(dbapi_connection: Any, _record: Any) -> None:
        cur = dbapi_connection.cursor()
        try:
            if engine.dialect.name == "sqlite":
                cur.execute("PRAGMA synchronous=NORMAL")
            else:
                cur.execute("SET synchronous_commit = off")
        finally:
            cur.close()
        if engine.dialect.name != "sqlite":
            dbapi_connection.commit()

    event.listen(engine, "connect", relax)
    return engine


class AccessAudit:
    """The audit methods of `Accounts`: rows written through `audit_engine` (`_insert_audit`
    into `audit_rows`), read through `engine`, stamped by the clock `now`."""

    engine: sa.Engine
    audit_engine: sa.Engine
    audit_rows: sa.Table
    _insert_audit: sa.Insert
    now: Callable[[], dt.datetime]

    def audit(
        self,
        principal: Principal | None,
        action: str,
        *,
        patient_id: str | None = None,
        cohort: dict[str, Any] | None = None,
        outcome: str = "ok",
        actor: str | None = None,
    ) -> None:
        """Append one access audit row (its own transaction); `actor` names someone who is not
        logged in (a failed login)."""
        # What a request can put here (a name typed at login, a patient id in a page's path)
        # is stored with control and bidi characters escaped, so that a row printed by
        # `pathway audit` can neither forge another line nor move the terminal's cursor, and
        # cut to its column's width, so that PostgreSQL (which enforces it) does not refuse
        # the row and leave the request unaudited.
        row = {
            "at": self.now(),
            "actor": _fit(principal.name if principal else (actor or "(anonymous)"), 128),
            "role": principal.role.value if principal else "",
            "action": _fit(action, 64),
            "patient_id": None if patient_id is None else _fit(patient_id, 64),
            "cohort": None if cohort is None else json.dumps(cohort, sort_keys=True, default=str),
            "outcome": outcome,
        }
        with self.audit_engine.begin() as conn:
            conn.execute(self._insert_audit, row)

    def audit_log(
        self,
        *,
        user: str | None = None,
        patient: str | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        upto: int | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Audit rows, newest first, filtered; `upto`: only rows up to that id, so that pages
        read while the log grows (each read adds a row) neither shift nor repeat."""
        a = self.audit_rows
        stmt = sa.select(
            a.c.id, a.c.at, a.c.actor, a.c.role, a.c.action, a.c.patient_id, a.c.cohort, a.c.outcome
        )
        if user is not None:
            stmt = stmt.where(a.c.actor == user)
        if patient is not None:
            stmt = stmt.where(a.c.patient_id == patient)
        if action is not None:
            stmt = stmt.where(a.c.action == action)
        if since is not None:
            stmt = stmt.where(a.c.at >= since)
        if until is not None:
            stmt = stmt.where(a.c.at < until)
        if upto is not None:
            stmt = stmt.where(a.c.id <= upto)
        stmt = stmt.order_by(a.c.id.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        out = []
        for r in rows:
            d = dict(r._mapping)
            d["cohort"] = None if d["cohort"] is None else json.loads(d["cohort"])
            out.append(d)
        return out


def _fit(text: str, width: int) -> str:
    """Text for an audit column: control and bidi characters escaped, at most `width`
    characters (a longer one ends in "…")."""
    safe = printable(text)
    return safe if len(safe) <= width else safe[: width - 1] + "…"
