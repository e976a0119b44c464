"""Benchmark: interactive `advance` (read, evaluate, write, commit) against a durable insert.

Run: .venv/bin/python benchmarks/advance.py [--n N] [--pg URL | --no-pg]

N patients (default 300) are enrolled with a record whose first trial has reached its window and
failed (PHQ-9 18 → 16). Each is then advanced twice through `Services.advance`: `reassess`
(initial_trial → reassess) and `switch` (reassess → switch, all nine guards evaluated). Every
advance is timed; between two advances the floor is timed on the same database: one row
inserted into a table of its own and committed, durably (SQLite: WAL with synchronous=FULL as
the engine uses; PostgreSQL: server defaults). Prints p50/p99 of both and their ratio; goal ≤ 3×.
PostgreSQL runs in a schema of its own, dropped afterwards (default URL: $PATHWAY_TEST_POSTGRES_URL
or the local server).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
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
from engine.db import SQLITE_SYNCHRONOUS, init_db, make_engine  # noqa: E402
from engine.services import Services  # noqa: E402
from engine.uow import SqlUnitOfWork  # noqa: E402

TODAY = dt.date(2026, 6, 1)
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def record(pid: str) -> dict[str, Any]:
    start = (TODAY - dt.timedelta(days=60)).isoformat()
    return {
        "id": pid,
        "sex": "female",
        "trials": [
            {
                "drug": "sertraline",
                "start": start,
                "adherence": 0.9,
                "doses": [{"from": start, "mg_per_day": 100}],
            }
        ],
        "measurements": [
            {"date": start, "instrument": "PHQ-9", "score": 18},
            {
                "date": (TODAY - dt.timedelta(days=3)).isoformat(),
                "instrument": "PHQ-9",
                "score": 16,
            },
        ],
    }


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, round(p * (len(v) - 1)))]


def floor_insert(engine: sa.Engine) -> Callable[[], None]:
    """A bare durable single-row insert + commit on the same database, through the driver."""
    with engine.begin() as c:
        c.exec_driver_sql("DROP TABLE IF EXISTS bench_floor")
        c.exec_driver_sql("CREATE TABLE bench_floor (id BIGINT PRIMARY KEY, payload TEXT)")
    raw = engine.raw_connection()  # the engine's pragmas (WAL, synchronous) apply
    dbapi: Any = raw.driver_connection
    sqlite = engine.dialect.name == "sqlite"
    ph = "?" if sqlite else "%s"
    sql = f"INSERT INTO bench_floor (id, payload) VALUES ({ph}, {ph})"
    payload = '{"guard":{"trigger":"switch","result":"true"}}'
    ids = iter(range(1, 1 << 40))

    def insert() -> None:
        cur = dbapi.cursor()
        cur.execute(sql, (next(ids), payload))
        dbapi.commit()
        cur.close()

    return insert


def run(engine: sa.Engine, n: int, label: str) -> None:
    init_db(engine)
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY))
    report = svc.bulk_enroll(
        [(f"r{i}", record(f"ADV-{i:06d}")) for i in range(n)], actor="bench", batch_size=500
    )
    assert report.enrolled == n, report.problems[:3]
    floor = floor_insert(engine)
    ours: list[float] = []
    base: list[float] = []
    for trigger in ("reassess", "switch"):
        for i in range(n):
            t0 = time.perf_counter()
            svc.advance(f"ADV-{i:06d}", trigger=trigger, actor="bench")
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            floor()
            base.append(time.perf_counter() - t0)
    a50, a99, b50, b99 = pct(ours, 0.5), pct(ours, 0.99), pct(base, 0.5), pct(base, 0.99)
    print(f"{label}: {len(ours)} advances (reassess, then switch with 9 guards), as many floors")
    print(
        f"  advance       p50 {a50 * 1e3:6.3f} ms   p99 {a99 * 1e3:6.3f} ms   "
        f"mean {statistics.fmean(ours) * 1e3:6.3f} ms"
    )
    print(
        f"  insert+commit p50 {b50 * 1e3:6.3f} ms   p99 {b99 * 1e3:6.3f} ms   "
        f"mean {statistics.fmean(base) * 1e3:6.3f} ms"
    )
    print(f"  ratio p50 {a50 / b50:4.2f}×   p99 {a99 / b99:4.2f}× (goal ≤ 3×)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="patients (two advances each)")
    ap.add_argument("--pg", default=os.environ.get("PATHWAY_TEST_POSTGRES_URL", PG_DEFAULT))
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'advance.db'}")
        try:
            run(engine, args.n, f"SQLite (WAL, synchronous={SQLITE_SYNCHRONOUS})")
        finally:
            engine.dispose()
    if args.no_pg:
        return
    with scratch_schema(args.pg) as engine:
        if engine is not None:
            run(engine, args.n, "PostgreSQL (server defaults, loopback)")


if __name__ == "__main__":
    main()
