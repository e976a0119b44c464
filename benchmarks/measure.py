"""Benchmark: `pathway measure --db` against one SQL scan of the patients' measurements.

Run: .venv/bin/python benchmarks/measure.py [--n N] [--runs R] [--measure ID] [--db FILE]
(issue 12 asks N = 100000; the default is smaller for a shared 2-core machine. `--db FILE` keeps
the simulated database: simulated into if missing, reused as it is otherwise.)

Simulates N patients into a fresh SQLite database (the engine's simulator), then times in one
process (a) the floor: one `SELECT patient_id, effective_on, payload FROM event WHERE
fact_kind = 'measurement'`, every row fetched; and (b) the measure from the database: one
grouped scan of the log rebuilding each patient, then the measure logic and the counts. Runs
interleaved, best of R each; goal (b) ≤ 3× (a).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from engine.measures.logic import Period  # noqa: E402
from engine.measures.report import evaluate  # noqa: E402
from engine.measures.sources import from_db  # noqa: E402
from engine.simulator.persistence import simulate_to  # noqa: E402

END = dt.date(2026, 6, 1)


def floor(url: str) -> tuple[float, int]:
    """One scan of the measurements (rows fetched, not decoded)."""
    from engine.store.db import make_engine

    engine = make_engine(url, create=False)
    started = time.perf_counter()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT patient_id, effective_on, payload FROM event "
                "WHERE fact_kind = 'measurement'"
            )
        ).fetchall()
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds, len(rows)


def count_patients(url: str) -> int:
    """Enrolled patients in the database."""
    from engine.store.db import make_engine

    engine = make_engine(url, create=False)
    with engine.connect() as conn:
        n = int(conn.execute(sa.text("SELECT count(*) FROM enrollment")).scalar_one())
    engine.dispose()
    return n


def measure(url: str, measure_id: str) -> tuple[float, dict[str, object]]:
    """The measure over every patient in the database."""
    started = time.perf_counter()
    period = Period(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    patients = from_db(url, today=END, medications=measure_id == "CMS128")
    result = evaluate(measure_id, patients=patients, period=period)
    return time.perf_counter() - started, result["groups"][0]["populations"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="patients (issue: 100000)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--measure", default="CMS159")
    ap.add_argument("--db", help="SQLite file to keep (simulated into if missing, else reused)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db) if args.db else Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        if path.exists():
            print(f"reusing {path} (its patients, whatever --n says)")
        else:
            t0 = time.perf_counter()
            simulate_to(url, patients=args.n, seed=1, end=END, progress=False)
            print(f"simulated {args.n} patients in {time.perf_counter() - t0:.1f} s")
        patients = count_patients(url)
        floors, runs = [], []
        for _ in range(args.runs):  # interleaved: a busy minute slows both sides alike
            floors.append(floor(url))
            runs.append(measure(url, args.measure))
        f_best, rows = min(floors)
        m_best = min(s for s, _ in runs)
    print(f"floor  SQL scan of {rows} measurements : {f_best:7.3f} s")
    print(
        f"{args.measure} from the database          : {m_best:7.3f} s  "
        f"{m_best / patients * 1e6:6.1f} µs/patient  {runs[0][1]}"
    )
    print(f"ratio measure / floor                   : {m_best / f_best:7.2f}  (goal ≤ 3)")


if __name__ == "__main__":
    main()
