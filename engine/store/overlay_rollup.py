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
when it is exactly right: no `since` or `state` filter, and the window's end on or after every
move and enrollment counted (otherwise `cohort_summary` reads the log).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from engine.store import overlay_rollup_sql as q_
from engine.store.overlay_sql import CohortCounts, CohortQuery
from viz.overlays import OVERRIDE, EdgeKey


def install_statements(dialect: str) -> list[str]:
    """The SQL that creates the rollup (tables, triggers) and fills it, in order."""
    if dialect == "postgresql":
        return [
            # no write may slip between the backfill's snapshot and the triggers
            "LOCK TABLE event IN SHARE ROW EXCLUSIVE MODE",
            *q_.create_tables(),
            *q_.postgresql_triggers(),
            *q_.backfill("postgresql"),
        ]
    return [*q_.create_tables(), *q_.sqlite_triggers(), *q_.backfill("sqlite")]


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
    """Whether this database has the rollup."""
    if conn.dialect.name == "postgresql":
        sql = "SELECT to_regclass('cohort_edge') IS NOT NULL"
    else:
        sql = "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'cohort_edge'"
    return bool(conn.exec_driver_sql(sql).scalar())


def read_rollup(conn: sa.Connection, q: CohortQuery) -> CohortCounts | None:
    """The counts from the rollup, or None where it cannot give them exactly.

    A few thousand small rows: read through the driver (SQLAlchemy's row processing would
    cost more than the query).
    """
    if q.since is not None or q.state is not None or not installed(conn):
        return None
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
