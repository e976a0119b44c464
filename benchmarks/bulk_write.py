"""Benchmark: the engine's bulk write path against raw sqlite3 executemany of the same rows.

Run: .venv/bin/python benchmarks/bulk_write.py [--n N] [--stories S] [--batch B]

N simulated patients (default 10,000; the issue's size is --n 100000): S distinct stories are
simulated (untimed) and reused under new patient ids. Timed, in one process, on SQLite files
with the engine's pragmas (WAL, synchronous=FULL):
(a) the engine: `engine.simulator.persist`, from simulated patients to durable rows: payloads
    serialized, each patient's next-due date computed, the repository's bulk insert, B patients
    per transaction (never a partial patient);
(b) the floor: the very rows (a) wrote, read back beforehand, inserted into a fresh database
    with raw `sqlite3` executemany in one transaction: the tables and their keys, without the
    counters' triggers (the fair floor; the same insert into the schema with its triggers, which
    flatters the engine, is printed beside it).
`--rollup` installs the cohort rollup first (its triggers then run in (a)).
It prints persisted events/s for both and (a)/(b); goal ≥ 1/5. A breakdown of (a) follows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.clock import FixedClock  # noqa: E402
from engine.services import Services  # noqa: E402
from engine.simulator import (  # noqa: E402
    SimParams,
    SimulatedPatient,
    patient_rows,
    persist,
    simulate_cohort,
)
from engine.store.db import init_db, make_engine  # noqa: E402
from engine.store.overlay_rollup import install  # noqa: E402
from engine.store.uow import SqlUnitOfWork  # noqa: E402
from pathway import Definition, load_definition  # noqa: E402

END = dt.date(2026, 6, 1)


def cohort(defn: Definition, n: int, stories: int) -> list[SimulatedPatient]:
    params = SimParams(patients=stories, seed=7, end=END)
    sims = list(simulate_cohort(params, definition=defn, validate=False))
    return [sims[i % stories].model_copy(update={"patient_id": f"BW-{i:07d}"}) for i in range(n)]


def fresh_db(folder: Path, name: str, *, rollup: bool = False, plain: bool = False) -> str:
    """A migrated SQLite file; `rollup`: with the cohort rollup; `plain`: no counter triggers
    (the tables and their keys only, for the fair floor)."""
    url = f"sqlite:///{folder / name}"
    engine = make_engine(url)
    init_db(engine)
    if rollup:
        install(engine)
    if plain:
        with engine.begin() as c:
            names = c.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                "AND name NOT LIKE 'event_no_%'"
            ).scalars()
            for trigger in list(names):
                c.exec_driver_sql(f"DROP TRIGGER {trigger}")
    engine.dispose()
    return url


def raw_floor(source: Path, target: Path) -> tuple[float, int]:
    """Read (untimed) every row the engine wrote, then insert them with sqlite3 (timed)."""
    src = sqlite3.connect(source)
    enrollments = src.execute("SELECT * FROM enrollment").fetchall()
    events = src.execute("SELECT * FROM event").fetchall()
    src.close()
    con = sqlite3.connect(target, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    e_marks = ",".join("?" * len(enrollments[0]))
    v_marks = ",".join("?" * len(events[0]))
    gc.collect()
    t0 = time.perf_counter()
    con.execute("BEGIN")
    con.executemany(f"INSERT INTO enrollment VALUES ({e_marks})", enrollments)
    con.executemany(f"INSERT INTO event VALUES ({v_marks})", events)
    con.execute("COMMIT")
    seconds = time.perf_counter() - t0
    con.close()
    return seconds, len(events)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="patients (issue: 100000)")
    ap.add_argument("--stories", type=int, default=1_000, help="distinct simulated stories")
    ap.add_argument("--batch", type=int, default=1_000, help="patients per transaction")
    ap.add_argument("--rollup", action="store_true", help="install the cohort rollup first")
    args = ap.parse_args()
    defn = load_definition()
    patients = cohort(defn, args.n, min(args.stories, args.n))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = fresh_db(folder, "engine.db", rollup=args.rollup)
        engine = make_engine(url)
        svc = Services(SqlUnitOfWork(engine), clock=FixedClock(END))
        gc.collect()
        report = persist(
            patients, svc, definition=defn, as_of=END, batch_size=args.batch, on_progress=None
        )
        engine.dispose()
        fresh_db(folder, "raw.db", plain=True)
        floor_s, floor_rows = raw_floor(folder / "engine.db", folder / "raw.db")
        fresh_db(folder, "raw_triggers.db", rollup=args.rollup)
        trig_s, _ = raw_floor(folder / "engine.db", folder / "raw_triggers.db")
        # breakdown of (a): building the rows alone (serialization and next-due dates)
        now = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
        sample = patients[: min(5_000, args.n)]
        gc.disable()
        t0 = time.perf_counter()
        rows = [patient_rows(p, definition=defn, actor="b", now=now, as_of=END) for p in sample]
        build = (time.perf_counter() - t0) / len(sample)
        t0 = time.perf_counter()
        for p in sample:
            patient_rows(p, definition=defn, actor="b", now=now, as_of=END, compute_due=False)
        nodue = (time.perf_counter() - t0) / len(sample)
        gc.enable()
        del rows
    n_events = report.events
    ours = n_events / report.seconds
    floor = floor_rows / floor_s
    per = n_events / args.n
    print(f"{args.n} patients, {n_events} events ({per:.1f} per patient, plus one enrollment row)")
    print(
        f"  engine bulk path  {ours:10,.0f} events/s  ({report.seconds:.2f} s, {args.batch} "
        f"patients per transaction)"
    )
    rollup = " and the cohort rollup" if args.rollup else ""
    print(f"  engine's counters: board_count{rollup}")
    print(f"  raw executemany   {floor:10,.0f} events/s  ({floor_s:.2f} s, one transaction)")
    print(f"  ratio {ours / floor:.2f} of the floor (goal ≥ 0.20)")
    print(
        f"  (beside: raw executemany into the schema with its counter triggers "
        f"{floor_rows / trig_s:,.0f} events/s, ratio {ours * trig_s / floor_rows:.2f})"
    )
    print(
        f"  per patient: rows built in {build * 1e6:.0f} µs, of which next-due date "
        f"{(build - nodue) * 1e6:.0f} µs; written in "
        f"{(report.seconds / args.n - build) * 1e6:.0f} µs"
    )


if __name__ == "__main__":
    main()
