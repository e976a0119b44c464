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

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.store import overlay_rollup_sql as q_
from engine.store.overlay_sql import CohortCounts, CohortQuery
from viz.overlays import OVERRIDE, EdgeKey

if TYPE_CHECKING:
    from engine.store.repository import EventRow


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
    """The counts from the rollup, or None where it cannot give them exactly."""
    if q.state is not None or not installed(conn):
        return None
    if q.since is not None:
        return _read_window(conn, q) if current(conn) else None
    edges, now, stayed = _fetch(conn, q, q_.read)
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


def _fetch(
    conn: sa.Connection, q: CohortQuery, statements: Callable[..., tuple[str, ...]]
) -> list[list[Any]]:
    """The rows of each of `statements(dialect, by_id=…, by_version=…)`, run through the driver
    with the query's dates and definition filters bound (a few thousand small rows: SQLAlchemy's
    row processing would cost more than the queries)."""
    pg = conn.dialect.name == "postgresql"
    texts = statements(
        conn.dialect.name,
        by_id=q.definition_id is not None,
        by_version=q.definition_version is not None,
    )
    params: dict[str, Any] = {"end": q.end if pg else q.end.isoformat()}
    if q.since is not None:
        params["since"] = q.since if pg else q.since.isoformat()
    if q.definition_id is not None:
        params["definition_id"] = q.definition_id
    if q.definition_version is not None:
        params["definition_version"] = q.definition_version
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        return [cur.execute(sql, params).fetchall() for sql in texts]
    finally:
        cur.close()


def _read_window(conn: sa.Connection, q: CohortQuery) -> CohortCounts | None:
    """The counts of a window from the by-day tables (None if they disagree with the totals).

    The patients in a state at the end of a day are the patients there now minus the net flow
    into it after that day (an enrollment flows in; a move flows out of one state into another):
    so the cohort at the window's end, and where each patient enrolled before `since` started
    it, come from the rows dated from `since` on.
    """
    now, edges, ended = _fetch(conn, q, q_.read_window)
    at_end: Counter[str] = Counter({state: int(n) for state, n in now})
    before: Counter[str] = Counter(at_end)  # where the patients enrolled before `since` were
    counts = CohortCounts()
    for kind, a, b, c, late, total in edges:
        n = int(total)
        if not n:  # counted down to zero by a migration's repinning
            continue
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
        if n:
            counts.stays[state].append((int(days), int(n)))
    return counts


def repin(
    conn: sa.Connection,
    moves: Sequence[EventRow],
    *,
    definition_id: str,
    old_version: str,
    new_version: str,
) -> None:
    """Move one patient's counts from `old_version` to `new_version`, in the caller's
    transaction (`pathway migrate` repins a patient; the counters are keyed by version).

    The patient's share of each table is worked out from their log as the backfill would
    count it, then taken from the old version's rows and added to the new one's. An edge's
    `last_on` on the old version stays as it was (a later date only makes the rollup decline
    a past end date, never miscount).
    """
    share = _share(moves)
    pg = conn.dialect.name == "postgresql"
    for table, key, rows in share:
        cols = ["definition_id", "definition_version", *key, "n"]
        extra = ", last_on" if table == "cohort_edge" else ""
        names = ", ".join(f'"{c}"' if c == "trigger" else c for c in cols) + extra
        marks = ", ".join(f":p{i}" for i in range(len(cols) + bool(extra)))
        conflict = ", ".join(f'"{c}"' if c == "trigger" else c for c in cols[:-1])
        later = (
            f", last_on = {'GREATEST' if pg else 'max'}({table}.last_on, excluded.last_on)"
            if extra
            else ""
        )
        sql = (
            f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ({conflict}) "
            f"DO UPDATE SET n = {table}.n + excluded.n{later}"
        )
        params = []
        for values, n, last_on in rows:
            for version, sign, day in ((old_version, -1, None), (new_version, 1, last_on)):
                row = [definition_id, version, *values, sign * n]
                if extra:
                    row.append(day if day is not None else dt.date.min)
                params.append({f"p{i}": _bound(v, pg) for i, v in enumerate(row)})
        if params:
            conn.execute(sa.text(sql), params)


def _bound(value: Any, pg: bool) -> Any:
    """Dates as ISO text on SQLite (how its tables hold them), as dates on PostgreSQL."""
    return value.isoformat() if isinstance(value, dt.date) and not pg else value


_Share = list[tuple[str, tuple[str, ...], list[tuple[tuple[Any, ...], int, dt.date | None]]]]


def _share(moves: Sequence[EventRow]) -> _Share:
    """One patient's rows in the five counted tables: (table, key columns, [(key, n, last_on)])."""
    log = [m for m in moves if m.kind in ("enrolled", "transition", "override")]
    edges: Counter[tuple[Any, ...]] = Counter()
    last: dict[tuple[Any, ...], dt.date] = {}
    by_day: Counter[tuple[Any, ...]] = Counter()
    left: Counter[str] = Counter()  # days in each state over visits that ended
    ended: Counter[tuple[Any, ...]] = Counter()
    stay: tuple[str, dt.date] | None = None
    for i, m in enumerate(log):
        edge = (m.from_state or "", m.trigger or "", str(m.to_state), m.kind)
        edges[edge] += 1
        last[edge] = max(last.get(edge, m.effective_on), m.effective_on)
        by_day[(m.effective_on, *edge)] += 1
        if i:
            before = log[i - 1]
            left[str(before.to_state)] += max(0, (m.effective_on - before.effective_on).days)
        if m.kind == "enrolled" or m.from_state != m.to_state:
            if stay is not None:
                ended[(m.effective_on, stay[0], max(0, (m.effective_on - stay[1]).days))] += 1
            stay = (str(m.to_state), m.effective_on)
    if not log:
        return []
    current = log[-1]
    state = str(current.to_state)
    now = Counter({(state, current.effective_on - dt.timedelta(days=left[state])): 1})
    stays = Counter((s, days) for s, days in left.items() if s != state)
    return [
        (
            "cohort_edge",
            ("from_state", "trigger", "to_state", "kind"),
            [(k, n, last[k]) for k, n in sorted(edges.items())],
        ),
        (
            "cohort_edge_day",
            ("day", "from_state", "trigger", "to_state", "kind"),
            [(k, n, None) for k, n in sorted(by_day.items())],
        ),
        ("cohort_now", ("state", "since"), [(k, n, None) for k, n in sorted(now.items())]),
        ("cohort_stay", ("state", "days"), [(k, n, None) for k, n in sorted(stays.items())]),
        (
            "cohort_stay_day",
            ("day", "state", "days"),
            [(k, n, None) for k, n in sorted(ended.items())],
        ),
    ]
