"""The cohort rollup: counters the database keeps up to date in the transaction of every move.

An optional accelerator for `cohort_summary`. Reading the summary from the event log costs a
pass over every event (seconds at 100k patients); with the rollup installed, the unfiltered
summary as of today (optionally for one definition id / version) is a read of a few thousand
counter rows. Triggers on `event` keep it (`engine.store.overlay_rollup_sql`), so every writer — the
services, the bulk import, the simulator — maintains it without knowing; `install` creates it
and fills it from the log, writers locked out meanwhile.

Not part of the schema migrations (yet). Adopting it is a migration whose `upgrade` runs
`install_statements(bind.dialect.name)` on `op.get_bind()` (with `exec_driver_sql`, in the
migration's transaction) and whose `downgrade` runs `uninstall_statements`; a later migration
that rebuilds `event` (SQLite batch mode) must create the triggers again. The read is used only
when it is exactly right (otherwise `cohort_summary` reads the log): no `state` filter, and
either a window (`since`: its counts come from the by-day tables, the medians being those of the
stays that ended in it) or, without one, the end on or after every move and enrollment counted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa

from engine.store import overlay_rollup_sql as q_
from engine.store.overlay_sql import CohortCounts, CohortQuery
from viz.overlays import OVERRIDE, EdgeKey


def install_statements(dialect: str) -> list[str]:
    """The SQL that creates the rollup (tables, triggers) and fills it, in order (replacing an
    older one: the by-day tables came later)."""
    if dialect == "postgresql":
        return [
            # no write may slip between the backfill's snapshot and the triggers
            "LOCK TABLE event IN SHARE ROW EXCLUSIVE MODE",
            *q_.drop_postgresql(),  # an older rollup is replaced
            *q_.create_tables(dialect),
            *q_.postgresql_triggers(),
            *q_.backfill("postgresql"),
        ]
    return [*q_.drop(), *q_.create_tables(dialect), *q_.sqlite_triggers(), *q_.backfill("sqlite")]


def uninstall_statements(dialect: str) -> list[str]:
    """The SQL that drops the rollup's triggers and tables."""
    return q_.drop_postgresql() if dialect == "postgresql" else q_.drop()


def install(engine: sa.Engine) -> None:
    """Create the rollup's tables and triggers and fill them from the log (one transaction)."""
    _atomically(engine, install_statements(engine.dialect.name))


def uninstall(engine: sa.Engine) -> None:
    """Drop the rollup's triggers and tables."""
    _atomically(engine, uninstall_statements(engine.dialect.name))


def _atomically(engine: sa.Engine, statements: list[str]) -> None:
    """Run DDL and DML in one transaction (SQLite: BEGIN IMMEDIATE, taking the write lock)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for sql in statements:
                conn.exec_driver_sql(sql)
        return
    raw = engine.raw_connection()
    try:
        con: Any = raw.driver_connection
        saved, con.isolation_level = con.isolation_level, None  # we say BEGIN and COMMIT
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                for sql in statements:
                    con.execute(sql)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.isolation_level = saved
    finally:
        raw.close()


def installed(conn: sa.Connection) -> bool:
    """Whether this database has the rollup (perhaps an older one: see `current`)."""
    return _has_table(conn, "cohort_edge")


def current(conn: sa.Connection) -> bool:
    """Whether this database has the rollup with its by-day tables (for date windows)."""
    return _has_table(conn, "cohort_stay_day")


def _has_table(conn: sa.Connection, name: str) -> bool:
    if conn.dialect.name == "postgresql":
        sql = f"SELECT to_regclass('{name}') IS NOT NULL"
    else:
        sql = f"SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '{name}'"
    return bool(conn.exec_driver_sql(sql).scalar())


def read_rollup(conn: sa.Connection, q: CohortQuery) -> CohortCounts | None:
    """The counts from the rollup, or None where it cannot give them exactly.

    A few thousand small rows: read through the driver (SQLAlchemy's row processing would
    cost more than the query).
    """
    if q.state is not None or not installed(conn):
        return None
    if q.since is not None:
        return _read_window(conn, q) if current(conn) else None
    dialect = conn.dialect.name
    edges_sql, now_sql, stays_sql = q_.read(
        dialect,
        by_id=q.definition_id is not None,
        by_version=q.definition_version is not None,
    )
    params: dict[str, Any] = {"end": q.end if dialect == "postgresql" else q.end.isoformat()}
    if q.definition_id is not None:
        params["definition_id"] = q.definition_id
    if q.definition_version is not None:
        params["definition_version"] = q.definition_version
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        edges = cur.execute(edges_sql, params).fetchall()
        now = cur.execute(now_sql, params).fetchall()
        stayed = cur.execute(stays_sql, params).fetchall()
    finally:
        cur.close()
    counts = CohortCounts()
    for kind, a, b, c, k, n in edges:
        if k < 0:  # a move or enrollment after the window's end: read the log instead
            return None
        if kind == "enrolled":
            counts.starts[c] += n
            continue
        key: EdgeKey = (a, b or OVERRIDE, c)
        counts.traversals[key] += n
        if kind == "override":
            counts.overrides[key] += n
    patients, stays = counts.patients, counts.stays
    for state, k, n in now:
        patients[state] += n
        stays[state].append((k, n))
    for state, k, n in stayed:
        stays[state].append((k, n))
    return counts


def _read_window(conn: sa.Connection, q: CohortQuery) -> CohortCounts | None:
    """The counts of a window from the by-day tables (None if they disagree with the totals).

    The patients in a state at the end of a day are the patients there now minus the net flow
    into it after that day (an enrollment flows in; a move flows out of one state into another):
    so the cohort at the window's end, and where each patient enrolled before `since` started
    it, come from the rows dated from `since` on.
    """
    assert q.since is not None
    dialect = conn.dialect.name
    now_sql, edges_sql, stays_sql = q_.read_window(
        dialect,
        by_id=q.definition_id is not None,
        by_version=q.definition_version is not None,
    )
    pg = dialect == "postgresql"
    params: dict[str, Any] = {
        "since": q.since if pg else q.since.isoformat(),
        "end": q.end if pg else q.end.isoformat(),
    }
    if q.definition_id is not None:
        params["definition_id"] = q.definition_id
    if q.definition_version is not None:
        params["definition_version"] = q.definition_version
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        now = cur.execute(now_sql, params).fetchall()
        edges = cur.execute(edges_sql, params).fetchall()
        ended = cur.execute(stays_sql, params).fetchall()
    finally:
        cur.close()
    at_end: Counter[str] = Counter({state: int(n) for state, n in now})
    before: Counter[str] = Counter(at_end)  # where the patients enrolled before `since` were
    counts = CohortCounts()
    for kind, a, b, c, late, n in edges:
        n = int(n)
        flow = Counter({c: n})  # an enrollment, or a move: into `c` …
        if kind != "enrolled":
            flow[a] -= n  # … out of `a` (a move from a state to itself nets to nothing)
        before.subtract(flow)
        if late:
            at_end.subtract(flow)
        elif kind == "enrolled":
            counts.starts[c] += n
        else:
            key: EdgeKey = (a, b or OVERRIDE, c)
            counts.traversals[key] += n
            if kind == "override":
                counts.overrides[key] += n
    if any(n < 0 for n in (*at_end.values(), *before.values())):
        return None  # not what the log gives: let the log answer
    counts.starts.update(+before)
    counts.patients.update(+at_end)
    for state, days, n in ended:
        counts.stays[state].append((int(days), int(n)))
    return counts
