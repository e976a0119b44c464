"""Benchmark: `verify --deep` and `migrate-check` against one scan of the event log.

Run: .venv/bin/python benchmarks/verify.py [--n N] [--stories S] [--db FILE] [--pg URL]

N patients (default 10,000; the issue's size is --n 100000) enrolled over five years: S distinct
simulated stories (default 5,000), reused under new ids with their dates moved back by up to 59
days, written through the bulk path with their stored due items and caseload summaries. `--db`
keeps (and reuses) the SQLite file. Timed in one process, interleaved:
(f) the floor: one scan of the event log in key order through the driver, every row fetched
    (`SELECT * FROM event ORDER BY patient_id, version`, fetchmany);
(v) `engine.queries.audit.verify(svc, deep=True)`: every chain, every replay, every guard
    re-evaluated, every due item and caseload summary worked out again;
(w) the same `verify` with `workers=W` (default 2: this machine's cores; `--workers 1` skips it):
    ranges of patient ids in processes of their own (their memory is not in the peak RSS);
(m) `migrate_check(svc, <the same definition>)`: every patient's enabled moves, twice.
It prints each and its ratio to (f) (goal for (v): ≤ 5×), and the process's peak RSS
(`resource.getrusage`) after each, which must not grow with N (streaming, bounded memory).
With `--pg` the same rows are copied into a scratch PostgreSQL schema and measured there too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import sqlalchemy as sa  # noqa: E402

from engine.clock import FixedClock  # noqa: E402
from engine.queries.audit import migrate_check, verify  # noqa: E402
from engine.services import Services  # noqa: E402
from engine.simulator import SimParams, SimulatedPatient, persist, simulate_cohort  # noqa: E402
from engine.store.board_sql import recount_query  # noqa: E402
from engine.store.db import init_db, make_engine  # noqa: E402
from engine.store.tables import board_count_table  # noqa: E402
from engine.store.uow import SqlUnitOfWork  # noqa: E402
from pathway import Definition, load_definition  # noqa: E402

END = dt.date(2026, 6, 1)
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def patients(defn: Definition, n: int, distinct: int) -> list[SimulatedPatient]:
    """N patients enrolled over five years from `distinct` stories (each reused under a new id,
    its dates moved back by up to 59 days)."""
    params = SimParams(patients=distinct, seed=11, end=END, id_prefix="V-", enroll_days=365 * 5)
    sims = list(simulate_cohort(params, definition=defn, validate=False))
    out = []
    for i in range(n):
        sp = sims[i % distinct]
        shift = (i // distinct) % 60
        if shift:
            sp = _shifted(sp, shift)
        out.append(sp.model_copy(update={"patient_id": f"V-{i:07d}"}))
    return out


def _shifted(sp: SimulatedPatient, days: int) -> SimulatedPatient:
    """The same story `days` earlier (every date in it)."""
    data = sp.model_dump(mode="json")

    def move(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: move(x) for k, x in v.items()}
        if isinstance(v, list):
            return [move(x) for x in v]
        if isinstance(v, str) and len(v) == 10 and v[4] == "-" and v[7] == "-":
            try:
                return (dt.date.fromisoformat(v) - dt.timedelta(days=days)).isoformat()
            except ValueError:
                return v
        return v

    return SimulatedPatient.model_validate(move(data))


def build(url: str, defn: Definition, n: int, distinct: int) -> None:
    engine = make_engine(url)
    init_db(engine)
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(END))
    t = time.perf_counter()
    report = persist(patients(defn, n, distinct), svc, definition=defn, as_of=END, batch_size=1000)
    print(
        f"built {report.patients:,} patients, {report.events:,} events in "
        f"{time.perf_counter() - t:.0f} s"
    )
    svc.close()
    engine.dispose()


def scan(engine: sa.Engine) -> int:
    """The floor: every event row in key order, fetched through the driver."""
    n = 0
    with engine.connect() as conn:
        raw: Any = conn.connection.dbapi_connection
        cur = raw.cursor(name="scan") if engine.dialect.name == "postgresql" else raw.cursor()
        if engine.dialect.name == "postgresql":
            cur.itersize = 5000
        cur.execute("SELECT * FROM event ORDER BY patient_id, version")
        while rows := cur.fetchmany(5000):
            n += len(rows)
        cur.close()
        conn.rollback()
    return n


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    gc.collect()
    t = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t


def measure(
    label: str, engine: sa.Engine, defn: Definition, runs: int, migrate: bool, workers: int
) -> None:
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(END))
    best: dict[str, float] = {}
    rss: dict[str, float] = {}
    found: dict[str, Any] = {}
    load = os.getloadavg()
    for _ in range(runs):
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("scan", lambda: scan(engine)),
            ("verify --deep", lambda: verify(svc, deep=True)),
        ]
        if workers > 1:
            steps.append(("workers", lambda: verify(svc, deep=True, workers=workers)))
        if migrate:
            steps.append(("migrate-check", lambda: migrate_check(svc, defn, as_of=END)))
        for name, fn in steps:
            value, s = timed(fn)
            best[name] = min(best.get(name, s), s)
            rss[name] = peak_mb()
            found[name] = value
    svc.close()
    report = found["verify --deep"]
    floor = best["scan"]
    print(
        f"{label}: {report.patients:,} patients, {report.events:,} events "
        f"(load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; best of {runs})"
    )
    print(f"  (f) one scan of the log   {floor:8.2f} s   peak RSS {rss['scan']:6.0f} MB")
    for name in ("verify --deep", "workers", "migrate-check"):
        if name in best:
            title = f"--workers {workers}" if name == "workers" else name
            print(
                f"  ({name[0]}) {title:<21} {best[name]:8.2f} s   peak RSS {rss[name]:6.0f} MB"
                f"   {best[name] / floor:6.1f}× the scan"
            )
    if "workers" in found:
        assert found["workers"] == report, "the workers' report differs from one pass's"
    print(f"  verify --deep: {len(report.mismatches)} mismatch(es), ok={report.ok}; goal ≤ 5×")
    if "migrate-check" in found:
        m = found["migrate-check"]
        print(f"  migrate-check: {m.patients:,} patients, {len(m.findings)} finding(s)")


def copy_to_pg(src: sa.Engine, dst: sa.Engine) -> None:
    init_db(dst)
    tables = ("enrollment", "event", "due_item", "definition_version")
    with src.connect() as s, dst.begin() as d:
        for t in tables:
            d.exec_driver_sql(f"ALTER TABLE {t} DISABLE TRIGGER USER")
        d.exec_driver_sql("DELETE FROM definition_version")
        for t in tables:
            table = sa.Table(t, sa.MetaData(), autoload_with=d)
            result = s.execute(sa.select(sa.Table(t, sa.MetaData(), autoload_with=s)))
            while chunk := result.fetchmany(5000):
                d.execute(sa.insert(table), [dict(r._mapping) for r in chunk])
        for t in tables:
            d.exec_driver_sql(f"ALTER TABLE {t} ENABLE TRIGGER USER")
        # the board's counts as its triggers would have kept them
        cols = ["definition_id", "definition_version", "state", "day_kind", "day", "patients"]
        d.execute(sa.insert(board_count_table()).from_select(cols, recount_query()))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="patients (issue: 100000)")
    ap.add_argument("--stories", type=int, default=5_000, help="distinct simulated stories")
    ap.add_argument("--runs", type=int, default=2, help="best of R (default 2)")
    ap.add_argument("--db", type=Path, help="keep (and reuse) the SQLite database here")
    ap.add_argument("--no-migrate", action="store_true", help="skip migrate-check")
    ap.add_argument("--workers", type=int, default=2, help="verify --workers W beside (1: skip)")
    ap.add_argument("--no-sqlite", action="store_true", help="measure on PostgreSQL only")
    ap.add_argument(
        "--pg",
        nargs="?",
        const=os.environ.get("PATHWAY_TEST_POSTGRES_URL") or PG_DEFAULT,
        help="also on PostgreSQL (the rows copied there)",
    )
    args = ap.parse_args()
    defn = load_definition()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "verify.db"
        url = f"sqlite:///{path}"
        if not path.exists():  # in a child process: its memory is not this one's peak RSS
            child = multiprocessing.get_context("fork").Process(
                target=build, args=(url, defn, args.n, min(args.stories, args.n))
            )
            child.start()
            child.join()
            if child.exitcode:
                raise SystemExit(f"building the database failed ({child.exitcode})")
        print(f"peak RSS before measuring: {peak_mb():.0f} MB")
        engine = make_engine(url, create=False)
        if not args.no_sqlite:
            measure("SQLite", engine, defn, args.runs, not args.no_migrate, args.workers)
        if args.pg:
            from _postgres import scratch_schema

            with scratch_schema(args.pg) as pg:
                if pg is not None:
                    copy_to_pg(engine, pg)
                    measure("PostgreSQL", pg, defn, args.runs, not args.no_migrate, args.workers)
        engine.dispose()


if __name__ == "__main__":
    main()
