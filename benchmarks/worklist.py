"""The worklist's first page from stored due items, against the same indexed query run raw.

N patients (default 100,000; `--n 1000000` for the issue's size) are loaded straight into the
migrated schema (enrollments with entry dates spread over five years, and two to four stored
items each, due over the same five years and the year ahead), then, as of a day where about a
tenth of the items are due:

- `worklist(svc, limit=50, totals=False)`: the first page through the API (the web app's read);
- the floor: the same UNION-of-index-ranges SQL through the driver, rows left as tuples;
- `worklist(svc, limit=50)` with its totals (counts by kind, patients), shown beside.

Goal (issue 14): the first page ≤ 2× the raw indexed query.

    .venv/bin/python benchmarks/worklist.py [--n 1000000] [--no-pg]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from _postgres import scratch_schema  # noqa: E402

from engine.clock import FixedClock  # noqa: E402
from engine.queries.worklist import worklist  # noqa: E402
from engine.services import Services  # noqa: E402
from engine.store.db import init_db, make_engine  # noqa: E402
from engine.store.due_store import ranges_sql  # noqa: E402
from engine.store.uow import SqlUnitOfWork  # noqa: E402
from pathway.due import PRIORITY  # noqa: E402

TODAY = dt.date(2026, 6, 1)
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STATES = ("initial_trial", "complete_trial", "switch", "augment", "reassess", "maintenance")
KINDS = list(PRIORITY)


def load(engine: sa.Engine, n: int) -> None:
    """N enrollments and their due items, through the driver in batches."""
    rng = random.Random(14)
    now = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    sqlite = engine.dialect.name == "sqlite"
    ph = "?" if sqlite else "%s"

    def d(x: dt.date) -> Any:
        return x.isoformat() if sqlite else x

    def t(x: dt.datetime) -> Any:
        return x.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else x

    enr_sql = (
        "INSERT INTO enrollment (patient_id, definition_id, definition_version, state, version, "
        f"entered_state_on, next_due_on, created_at, updated_at) VALUES ({', '.join([ph] * 9)})"
    )
    due_sql = (
        "INSERT INTO due_item (patient_id, seq, item, priority, due_on, state, label, why, "
        f"sources, computed_on) VALUES ({', '.join([ph] * 10)})"
    )
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cur = raw.cursor()
        for start in range(0, n, 20_000):
            enr, due = [], []
            for i in range(start, min(n, start + 20_000)):
                pid = f"W-{i:07d}"
                state = rng.choice(STATES)
                entered = TODAY - dt.timedelta(days=rng.randint(0, 5 * 365))
                items = []
                for seq in range(rng.randint(2, 4)):
                    kind = rng.choice(KINDS)
                    due_on = entered + dt.timedelta(days=rng.randint(0, 400))
                    items.append((seq, kind, due_on))
                first = min(x[2] for x in items)
                enr.append((pid, "trd", "1.1.0", state, 1, d(entered), d(first), t(now), t(now)))
                due += [
                    (
                        pid,
                        seq,
                        kind,
                        PRIORITY[kind],
                        d(on),
                        state,
                        kind.replace("_", " "),
                        f"{kind} for {pid} since {entered}",
                        "[]",
                        d(entered),
                    )
                    for seq, kind, on in items
                ]
            cur.executemany(enr_sql, enr)
            cur.executemany(due_sql, due)
            raw.commit()
        if not sqlite:
            cur.execute("ANALYZE due_item")
            raw.commit()


def timed(fn: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def run(engine: sa.Engine, n: int, label: str) -> None:
    init_db(engine)
    t0 = time.perf_counter()
    load(engine, n)
    print(f"{label}: {n:,} patients loaded in {time.perf_counter() - t0:.1f} s")
    as_of = TODAY - dt.timedelta(days=4 * 365)  # about a tenth of the items are due
    # the worklist is asked on that day (as of a day before its items were worked out, it
    # would refuse)
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(as_of))
    each = " ORDER BY due_on, patient_id, seq LIMIT 50"
    union, params = ranges_sql(engine.dialect.name, as_of, KINDS, None, each)
    sql = f"{union} ORDER BY priority, due_on, patient_id, seq LIMIT 50 OFFSET 0"
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None

        def floor() -> None:
            cur = raw.cursor()
            cur.execute(sql, params)
            cur.fetchall()
            cur.close()

        first = worklist(svc, as_of=as_of, limit=50, totals=False)
        assert len(first.items) == 50
        for _ in range(5):  # warm both
            floor()
            worklist(svc, as_of=as_of, limit=50, totals=False)
        page, base, full = [], [], []
        for _ in range(30):
            page += timed(lambda: worklist(svc, as_of=as_of, limit=50, totals=False), 1)
            base += timed(floor, 1)
        for _ in range(5):
            full += timed(lambda: worklist(svc, as_of=as_of, limit=50), 1)
    due = worklist(svc, as_of=as_of, limit=1)
    p, b, f = (statistics.median(x) * 1e3 for x in (page, base, full))
    print(
        f"  {sum(due.counts.values()):,} items due for {due.patients_with_items:,} patients as "
        f"of {as_of}"
    )
    print(f"  first page (50 rows) through the API  {p:8.3f} ms (median of 30)")
    print(f"  the same SQL through the driver       {b:8.3f} ms")
    print(f"  ratio {p / b:4.2f}× (goal ≤ 2×)")
    print(f"  with totals (counts by kind, patients) {f:7.1f} ms (median of 5)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="patients")
    ap.add_argument("--pg", default=os.environ.get("PATHWAY_TEST_POSTGRES_URL", PG_DEFAULT))
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/worklist.db")
        try:
            run(engine, args.n, "SQLite")
        finally:
            engine.dispose()
    if not args.no_pg:
        with scratch_schema(args.pg) as engine:
            if engine is not None:
                run(engine, args.n, "PostgreSQL")


if __name__ == "__main__":
    main()
