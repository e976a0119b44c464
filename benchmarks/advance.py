"""Benchmark: interactive `advance` (read, evaluate, write, commit) against a durable insert.

Run: .venv/bin/python benchmarks/advance.py [--n N] [--warm W] [--cli K] [--rollup]
                                            [--pg URL | --no-pg]

N patients (default 300) are enrolled, each on a day of the last five years and with a story of
their own (drug, dose, sex, age, number and dates of PHQ-9 scores), whose first trial has reached
its window and failed (a fall of 20% at most). Each is then advanced twice through
`Services.advance`: `reassess` (initial_trial → reassess, the patient read cold from the log) and
`switch` (reassess → switch, decided on the record the services cached at the first move).
Every advance is timed; between two advances the floor is timed on the same database: one row
inserted into a table of its own and committed, durably (SQLite: WAL with synchronous=FULL as the
engine uses; PostgreSQL: server defaults). Prints p50/p99 of both and their ratio (goal ≤ 3×),
and each round's p50 against its own floors.

The goal is about a running service, so timing starts in its steady state: first W other patients
(default 1,200) are moved the same way, untimed, with a floor insert after each. The record cache
(1,024 patients) is then full, so a cold read replaces an entry instead of adding one, and the
SQLite WAL has been checkpointed and restarted at least once, so commits reuse its file instead of
growing it. `--warm 0` measures a fresh process instead (the first calls after start-up).
PostgreSQL runs in a schema of its own, dropped afterwards (default URL: $PATHWAY_TEST_POSTGRES_URL
or the local server).

The tail is explained, not trimmed: it counts the timed calls during which the cyclic garbage
collector ran a generation-1 or -2 collection, and (SQLite) those that ran a WAL checkpoint (the
database file changes only then), and prints the p99 of the calls with neither beside the real one.

Beside the warm service path (`Services.status` and `Services.advance` p50), `--cli K` (default
10) times the command line cold: K `pathway status` and K `pathway advance … reassess` on other
patients, each in a fresh process (interpreter start-up, imports, engine, one command).
`--rollup` installs the opt-in cohort rollup first, to measure what its triggers cost a move.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import random
import statistics
import subprocess
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
from engine.services import Services  # noqa: E402
from engine.store.db import SQLITE_SYNCHRONOUS, init_db, make_engine  # noqa: E402
from engine.store.overlay_rollup import install  # noqa: E402
from engine.store.uow import SqlUnitOfWork  # noqa: E402

TODAY = dt.date(2026, 6, 1)
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# antidepressants at an effective dose (definitions/drugs.yaml: min_adequate_mg, source "atrq")
DRUGS = (("citalopram", 20, 40), ("escitalopram", 10, 20), ("sertraline", 100, 150))
DRUGS += (("venlafaxine", 150, 225), ("fluoxetine", 20, 40), ("paroxetine", 20, 40))


def record(pid: str, i: int) -> tuple[dict[str, Any], dt.date]:
    """Patient i's record and enrollment date: a distinct story, entered any day of the last five
    years, whose trial has failed (PHQ-9 falls by less than 25%), so `reassess` then `switch` are
    allowed today. Drug, dose, scores, their number and dates differ from patient to patient."""
    rng = random.Random(i)
    entered = TODAY - dt.timedelta(days=rng.randrange(60, 5 * 365))
    drug, low, high = rng.choice(DRUGS)
    baseline = rng.randint(15, 26)
    span = (TODAY - entered).days
    last = rng.randrange(1, 21)  # days ago: the latest score
    agos = {last} | {rng.randrange(last, span) for _ in range(rng.randint(0, 6))}
    scores = [{"date": entered.isoformat(), "instrument": "PHQ-9", "score": baseline}]
    scores += [
        {
            "date": (TODAY - dt.timedelta(days=ago)).isoformat(),
            "instrument": "PHQ-9",
            "score": rng.randint(-(-baseline * 4 // 5), baseline),  # a fall of 20% at most
        }
        for ago in sorted(agos, reverse=True)
    ]
    doses = [{"from": entered.isoformat(), "mg_per_day": rng.choice((low, high))}]
    record = {
        "id": pid,
        "sex": rng.choice(("female", "male")),
        "birth_year": rng.randint(1950, 2004),
        "trials": [{"drug": drug, "start": entered.isoformat(), "adherence": 0.9, "doses": doses}],
        "measurements": scores,
    }
    return record, entered


def enroll(svc: Services, ids: range) -> None:
    """Enroll patients `ids`, each on their own date (five years of entries)."""
    for i in ids:
        pid = f"ADV-{i:06d}"
        rec, entered = record(pid, i)
        svc.enroll(pid, actor="bench", record=rec, effective=entered)


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


class Tail:
    """What happened during one timed call: a GC collection of generation ≥ 1, a checkpoint."""

    def __init__(self, db_file: Path | None) -> None:
        self.db_file = db_file
        self.collections = 0
        gc.callbacks.append(self._seen)

    def _seen(self, phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] >= 1:
            self.collections += 1

    def _stamp(self) -> int:
        return self.db_file.stat().st_mtime_ns if self.db_file is not None else 0

    def time(self, fn: Callable[[], Any]) -> tuple[float, bool, bool]:
        """Seconds, whether a collection ran, whether the database file was written."""
        before, stamp = self.collections, self._stamp()
        t0 = time.perf_counter()
        fn()
        took = time.perf_counter() - t0
        return took, self.collections > before, self._stamp() != stamp

    def close(self) -> None:
        gc.callbacks.remove(self._seen)


def cold_cli(engine: sa.Engine, ids: list[str]) -> tuple[list[float], list[float]]:
    """`pathway status` then `pathway advance … reassess` per patient, each a fresh process."""
    url = engine.url.render_as_string(hide_password=False)
    cli = str(Path(sys.executable).with_name("pathway"))
    status, advance = [], []
    for pid in ids:
        for command, out in (([pid], status), ([pid, "reassess"], advance)):
            verb = "status" if out is status else "advance"
            t0 = time.perf_counter()
            subprocess.run([cli, verb, *command, "--db", url], check=True, capture_output=True)
            out.append(time.perf_counter() - t0)
    return status, advance


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(engine: sa.Engine, n: int, warm: int, label: str, *, rollup: bool, cli: int = 0) -> None:
    init_db(engine)
    if rollup:
        install(engine)
        label += ", with the cohort rollup"
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY))
    enroll(svc, range(n + warm + cli))
    floor = floor_insert(engine)
    for trigger in ("reassess", "switch"):  # the warm-up: the same moves on other patients
        for i in range(n, n + warm):
            svc.advance(f"ADV-{i:06d}", trigger=trigger, actor="bench")
            floor()
    db_file = Path(engine.url.database) if engine.dialect.name == "sqlite" else None
    tail = Tail(db_file if db_file is not None and db_file.exists() else None)
    ours: list[tuple[float, bool, bool]] = []
    base: list[tuple[float, bool, bool]] = []
    try:
        for trigger in ("reassess", "switch"):
            for i in range(n):
                pid = f"ADV-{i:06d}"
                ours.append(
                    tail.time(lambda: svc.advance(pid, trigger=trigger, actor="bench"))  # noqa: B023
                )
                base.append(tail.time(floor))
    finally:
        tail.close()
    status = [timed(lambda: svc.status(f"ADV-{i:06d}")) for i in range(n)]  # noqa: B023
    a, b = [t for t, _, _ in ours], [t for t, _, _ in base]
    a50, a99, b50, b99 = pct(a, 0.5), pct(a, 0.99), pct(b, 0.5), pct(b, 0.99)
    start = f"after a warm-up of {warm} patients" if warm else "in a fresh process (no warm-up)"
    print(f"{label}: {len(a)} advances (reassess, then switch), as many floors, {start}")
    print(
        f"  advance       p50 {a50 * 1e3:6.3f} ms   p99 {a99 * 1e3:6.3f} ms   "
        f"mean {statistics.fmean(a) * 1e3:6.3f} ms"
    )
    print(
        f"  insert+commit p50 {b50 * 1e3:6.3f} ms   p99 {b99 * 1e3:6.3f} ms   "
        f"mean {statistics.fmean(b) * 1e3:6.3f} ms"
    )
    print(f"  ratio p50 {a50 / b50:4.2f}×   p99 {a99 / b99:4.2f}× (goal ≤ 3×)")
    for name, runs in (("advances", ours), ("floors", base)):
        quiet = [t for t, collected, checkpoint in runs if not collected and not checkpoint]
        print(
            f"  tail of the {name}: {sum(c for _, c, _ in runs)} with a GC collection "
            f"(gen ≥ 1), {sum(k for _, _, k in runs)} with a WAL checkpoint"
            + ("" if db_file is not None else " (not tracked)")
            + f"; p99 of the {len(quiet)} others {pct(quiet, 0.99) * 1e3:.3f} ms"
        )
    print(
        f"  warm service: status p50 {pct(status, 0.5) * 1e3:.3f} ms, "
        f"advance p50 {a50 * 1e3:.3f} ms"
    )
    for k, (trigger, how) in enumerate((("reassess", "read cold"), ("switch", "cached"))):
        mine, floors = a[k * n : (k + 1) * n], b[k * n : (k + 1) * n]
        print(
            f"  round {trigger} ({how}): p50 {pct(mine, 0.5) * 1e3:.3f} ms, "
            f"{pct(mine, 0.5) / pct(floors, 0.5):.2f}× its floors"
        )
    if cli:
        cold_status, cold_advance = cold_cli(
            engine, [f"ADV-{i:06d}" for i in range(n + warm, n + warm + cli)]
        )
        print(
            f"  cold CLI, one process per command ({cli} each): status p50 "
            f"{pct(cold_status, 0.5) * 1e3:.0f} ms, "
            f"advance p50 {pct(cold_advance, 0.5) * 1e3:.0f} ms"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="patients (two advances each)")
    ap.add_argument("--warm", type=int, default=1200, help="patients moved before timing")
    ap.add_argument("--pg", default=os.environ.get("PATHWAY_TEST_POSTGRES_URL", PG_DEFAULT))
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    ap.add_argument("--rollup", action="store_true", help="install the cohort rollup first")
    ap.add_argument("--cli", type=int, default=10, help="cold CLI status + advance, each")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'advance.db'}")
        try:
            label = f"SQLite (WAL, synchronous={SQLITE_SYNCHRONOUS})"
            run(engine, args.n, args.warm, label, rollup=args.rollup, cli=args.cli)
        finally:
            engine.dispose()
    if args.no_pg:
        return
    with scratch_schema(args.pg) as engine:
        if engine is not None:
            label = "PostgreSQL (server defaults, loopback)"
            run(engine, args.n, args.warm, label, rollup=args.rollup, cli=args.cli)


if __name__ == "__main__":
    main()
