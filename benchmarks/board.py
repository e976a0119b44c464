"""Benchmark: the board over many enrolled patients against the raw GROUP BY on the same table.

Run: .venv/bin/python benchmarks/board.py [--n N] [--pg URL | --no-pg] [--runs R]

N enrollment rows (default 200,000; the issue's size is --n 1000000) with the states, entry dates
and next-due dates of a simulated cohort enrolled over five years (`--stories` distinct stories,
each reused with its dates moved back by up to 59 days, so every day of the five years is used),
on SQLite (a file, the engine's pragmas) and on
PostgreSQL (a schema of its own, dropped afterwards; VACUUM ANALYZE after loading, as
autovacuum would). Best of R runs, in one process:
(a) `engine.queries.board.board(svc)`: the API call (unit of work, SQL, percentiles in Python);
(b) the floor: `SELECT state, count(*) FROM enrollment GROUP BY state` through the driver;
(c) the board's own SQL through the driver (what (a) costs beyond its query);
(d) the floor again with an index on (state) made for it: the schema has none, since the board
    reads the counts the database keeps (`board_count`), so (b) scans the table.
Goal: (a) ≤ 1.5× (d), the indexed floor (the fair one); (b) is printed beside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from _postgres import scratch_schema  # noqa: E402

from engine.clock import FixedClock  # noqa: E402
from engine.queries.board import board  # noqa: E402
from engine.services import Services  # noqa: E402
from engine.simulator import SimParams, simulate_cohort  # noqa: E402
from engine.store.board_sql import counts_query  # noqa: E402
from engine.store.db import init_db, make_engine  # noqa: E402
from engine.store.fastsql import ENROLLMENT_COLUMNS  # noqa: E402
from engine.store.uow import SqlUnitOfWork  # noqa: E402
from pathway import load_definition  # noqa: E402
from pathway.due import next_due_on  # noqa: E402

END = dt.date(2026, 6, 1)
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
COLUMNS = ", ".join(ENROLLMENT_COLUMNS)  # the caseload summary's columns stay NULL


def rows(n: int, stories: int, years: int) -> list[tuple[Any, ...]]:
    """Enrollment rows shaped like a clinic's: `stories` simulated patients enrolled over
    `years` years (state, entry date, next-due date), each reused with its dates moved back by
    0–59 days (seeded), so entry and due dates spread over every day of those years."""
    defn = load_definition()
    params = SimParams(patients=stories, seed=5, end=END, enroll_days=365 * years)
    shapes = []
    for sp in simulate_cohort(params, definition=defn, validate=False):
        due = next_due_on(
            sp.record,
            state=sp.state,
            entered_state_on=sp.entered_state_on,
            definition=defn,
            as_of=END,
        )
        shapes.append((sp.state, sp.entered_state_on, due))
    now = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    rng = random.Random(5)
    out = []
    for i in range(n):
        state, entered, due = shapes[i % stories]
        back = dt.timedelta(days=rng.randrange(60) if i >= stories else 0)
        moved_due = None if due is None else due - back
        out.append((f"BD-{i:07d}", "trd", "1.0.0", state, 7, entered - back, moved_due, now, now))
    return out


def best(fn: Callable[[], Any], runs: int) -> float:
    out = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t0)
    return out


def load(engine: sa.Engine, data: list[tuple[Any, ...]]) -> None:
    """Bulk-load the rows through the driver into the migrated schema (with its indexes)."""
    init_db(engine)
    raw: Any = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        if engine.dialect.name == "sqlite":
            text = [
                (
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5].isoformat(),
                    r[6].isoformat() if r[6] else None,
                    str(r[7])[:26],
                    str(r[8])[:26],
                )
                for r in data
            ]
            dbapi.executemany(
                f"INSERT INTO enrollment ({COLUMNS}) VALUES ({','.join('?' * 9)})", text
            )
        else:
            buf = io.StringIO()
            for r in data:
                buf.write("\t".join("\\N" if v is None else str(v) for v in r) + "\n")
            with dbapi.cursor() as cur, cur.copy(f"COPY enrollment ({COLUMNS}) FROM STDIN") as copy:
                copy.write(buf.getvalue())
        dbapi.commit()
        if engine.dialect.name == "postgresql":
            dbapi.autocommit = True
            dbapi.cursor().execute("VACUUM ANALYZE enrollment")
    finally:
        raw.close()


def raw_runner(engine: sa.Engine) -> tuple[Callable[[str, tuple[Any, ...]], Any], Any]:
    raw: Any = engine.raw_connection()
    dbapi = raw.driver_connection

    def run(sql: str, params: tuple[Any, ...] = ()) -> Any:
        cur = dbapi.cursor()
        cur.execute(sql, params)
        out = cur.fetchall() if cur.description is not None else None
        cur.close()
        return out

    return run, raw


def measure(engine: sa.Engine, label: str, data: list[tuple[Any, ...]], runs: int) -> None:
    load(engine, data)
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(END))
    result = board(svc, as_of=END)
    assert result.patients == len(data)
    run, raw = raw_runner(engine)
    floor_sql = "SELECT state, count(*) FROM enrollment GROUP BY state"
    # the board's own statement, compiled once, run through the driver
    own = str(
        counts_query(END, dialect=engine.dialect.name).compile(
            dialect=engine.dialect, compile_kwargs={"literal_binds": True}
        )
    )
    states = [r.state for r in result.rows if r.patients]

    a = best(lambda: board(svc, as_of=END), runs)
    b = best(lambda: run(floor_sql), runs)
    c = best(lambda: run(own), runs)
    # the floor again, given the best index it could have (made for it, dropped afterwards)
    run("CREATE INDEX bench_floor_state ON enrollment (state)")
    if engine.dialect.name == "postgresql":
        run("ANALYZE enrollment")
    d = best(lambda: run(floor_sql), runs)
    run("DROP INDEX bench_floor_state")
    raw.commit()
    raw.close()
    counters = run("SELECT count(*) FROM board_count")[0][0]
    print(f"{label}: {len(data):,} enrolled patients in {len(states)} states, {counters:,} counts")
    print(f"  board (API)            {a * 1e3:8.1f} ms")
    print(f"  raw GROUP BY, index    {d * 1e3:8.1f} ms   → board {a / d:4.2f}× (goal ≤ 1.5×)")
    print(f"  raw GROUP BY, no index {b * 1e3:8.1f} ms   → board {a / b:4.2f}×")
    print(f"  board's SQL, raw       {c * 1e3:8.1f} ms   → API overhead {a / c:4.2f}×")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="enrolled patients (issue: 1000000)")
    ap.add_argument("--stories", type=int, default=20_000, help="distinct simulated stories")
    ap.add_argument("--years", type=int, default=5, help="enrollment spread (default 5 years)")
    ap.add_argument("--runs", type=int, default=5, help="best of R runs (default 5)")
    ap.add_argument("--pg", default=os.environ.get("PATHWAY_TEST_POSTGRES_URL", PG_DEFAULT))
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = ap.parse_args()
    data = rows(args.n, min(args.stories, args.n), args.years)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'board.db'}")
        try:
            measure(engine, "SQLite", data, args.runs)
        finally:
            engine.dispose()
    if args.no_pg:
        return
    with scratch_schema(args.pg) as engine:
        if engine is not None:
            measure(engine, "PostgreSQL", data, args.runs)


if __name__ == "__main__":
    main()
