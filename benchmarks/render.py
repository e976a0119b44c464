"""Benchmark: the engine's cohort overlay (aggregation + SVG) against plain `dot` on the same DOT.

Run: .venv/bin/python benchmarks/render.py [--patients N] [--stories S] [--runs R] [--db FILE]

Setup, untimed: N simulated patients (enrolled over `--years`, default five) are written to a
SQLite file through the simulator's bulk path (`engine.simulator.persist`); every story is
distinct unless `--stories S` reuses S of them under new ids (faster to build, but every count
becomes a multiple of N/S, which changes how many small cells the suppression has to protect).
`--db FILE` keeps the database for the next run. Each run times, in this process, interleaved:
(a) the default path, unfiltered: `engine.queries.overlays.cohort_summary` as shipped (it reads the
    event log: the cohort rollup is opt-in) + `viz.build` (the diagram model, with small-cell
    suppression) + `viz.render_diagram` to SVG;
(w) the default path with a window, `--since`/`--until` (the last year but one month);
(c) the floor: plain `dot -Tsvg` on the DOT text that (a) produced; (cw) the same on (w)'s.
Then, beside them, the opt-in rollup (`pathway init-db --cohort-rollup`; its backfill is timed):
(r) the unfiltered overlay from its counters, checked equal to (a), and (rw) the window from its
by-day counters, checked equal to (w). Goals: (a) and (w) at most 1.5x the floor. Last, what
the rollup costs writers: the bulk path and one interactive move (an override: read, write,
durable commit) without and with its triggers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
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

import viz  # noqa: E402
from engine.clock import FixedClock  # noqa: E402
from engine.queries.overlays import cohort_summary  # noqa: E402
from engine.services import Services  # noqa: E402
from engine.simulator import SimParams, SimulatedPatient, persist, simulate_cohort  # noqa: E402
from engine.store.db import init_db, make_engine  # noqa: E402
from engine.store.overlay_rollup import install, uninstall  # noqa: E402
from engine.store.uow import SqlUnitOfWork  # noqa: E402
from pathway import Definition, load_definition  # noqa: E402
from viz.dot import to_dot  # noqa: E402

END = dt.date(2026, 6, 1)
MS = 1000
FAILED: set[str] = set()  # overlays dot could not lay out (timed up to the failure)


def stories(
    defn: Definition, n: int, distinct: int, prefix: str, years: int = 5
) -> list[SimulatedPatient]:
    """N simulated patients enrolled over `years`: `distinct` stories, reused under new ids."""
    params = SimParams(
        patients=distinct, seed=7, end=END, id_prefix=prefix, enroll_days=365 * years
    )
    sims = list(simulate_cohort(params, definition=defn, validate=False))
    if distinct >= n:
        return sims[:n]
    return [
        sims[i % distinct].model_copy(update={"patient_id": f"{prefix}{i:07d}"}) for i in range(n)
    ]


def build_db(url: str, defn: Definition, patients: list[SimulatedPatient], *, rollup: bool) -> Any:
    """A fresh database with these patients (optionally with the rollup's triggers first)."""
    engine = make_engine(url)
    init_db(engine)
    if rollup:
        install(engine)
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(END))
    report = persist(patients, svc, definition=defn, as_of=END, batch_size=1000, compute_due=False)
    svc.close()
    engine.dispose()
    return report


def run_dot(source: bytes) -> float:
    t = time.perf_counter()
    subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, check=True)
    return time.perf_counter() - t


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t


def overlay_runs(
    svc: Services, defn: Definition, runs: int, engine: sa.Engine
) -> dict[str, list[float]]:
    """Interleaved runs of (a) default, (w) window, (c) dot, then (r) with the rollup."""
    t: dict[str, list[float]] = {
        k: []
        for k in ("agg", "model", "plain", "svg", "total", "w_agg", "w_total", "floor", "w_floor")
    }
    window = {"since": END - dt.timedelta(days=365), "until": END - dt.timedelta(days=30)}
    viz.render(defn, fmt="svg")  # warm up imports and the definition's cached properties
    default = cohort_summary(svc)
    default_w = cohort_summary(svc, **window)  # type: ignore[arg-type]
    for _ in range(runs):
        summary, agg = timed(lambda: cohort_summary(svc))
        diagram, model = timed(lambda: viz.build(defn, cohort=summary))  # noqa: B023
        _, svg = timed(lambda: viz.render_diagram(diagram, fmt="svg"))  # noqa: B023
        _, plain = timed(lambda: viz.build(defn, cohort=summary, suppress=False))  # noqa: B023
        t["agg"].append(agg)
        t["model"].append(model)
        t["plain"].append(plain)
        t["svg"].append(svg)
        t["total"].append(agg + model + svg)
        t["floor"].append(run_dot(to_dot(diagram).encode()))
        windowed, w_agg = timed(lambda: cohort_summary(svc, **window))  # type: ignore[arg-type]
        t0 = time.perf_counter()
        try:
            viz.render_diagram(viz.build(defn, cohort=windowed), fmt="svg")
        except viz.RenderFailed:  # Graphviz 2.43's "trouble in init_rank" on some overlays
            FAILED.add("w")
        rest = time.perf_counter() - t0
        t["w_agg"].append(w_agg)
        t["w_total"].append(w_agg + rest)
        w_dot = to_dot(viz.build(defn, cohort=windowed)).encode()
        try:
            t["w_floor"].append(run_dot(w_dot))
        except subprocess.CalledProcessError:
            FAILED.add("w")
    _, took = timed(lambda: install(engine))
    print(f"(the opt-in rollup installed and backfilled from the log in {took:.1f} s, once)")
    with engine.connect() as c:
        rows = {
            table: c.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar()
            for table in ("cohort_edge_day", "cohort_stay_day")
        }
    print(f"(its by-day tables: {', '.join(f'{k} {v:,} rows' for k, v in rows.items())})")
    for k in ("r_agg", "r_total", "rw_agg", "rw_total"):
        t[k] = []
    for _ in range(runs):
        rolled, r_agg = timed(lambda: cohort_summary(svc))
        _, rest = timed(lambda: viz.render_diagram(viz.build(defn, cohort=rolled), fmt="svg"))  # noqa: B023
        rolled_w, rw_agg = timed(lambda: cohort_summary(svc, **window))  # type: ignore[arg-type]
        t0 = time.perf_counter()
        try:
            viz.render_diagram(viz.build(defn, cohort=rolled_w), fmt="svg")
        except viz.RenderFailed:
            FAILED.add("w")
        rw_rest = time.perf_counter() - t0
        if rolled != default or rolled_w != default_w:
            raise SystemExit("the rollup and the log disagree: a bug")
        t["r_agg"].append(r_agg)
        t["r_total"].append(r_agg + rest)
        t["rw_agg"].append(rw_agg)
        t["rw_total"].append(rw_agg + rw_rest)
    uninstall(engine)
    return t


def move_p50(url: str, ids: list[str], moves: int, *, durable: bool) -> float:
    """p50 of one override (read, write, commit), patients moving augment ↔ reassess.

    `durable=False` turns fsync off (synchronous=OFF) to show the CPU cost alone: a commit's
    fsync varies a lot between machines and runs, and hides the triggers' work.
    """
    engine = make_engine(url)
    if not durable:
        sa.event.listen(engine, "connect", lambda con, _: con.execute("PRAGMA synchronous=OFF"))
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(END))
    with svc.uow as uow:
        where = {pid: uow.patients.get(pid).state for pid in ids}  # type: ignore[union-attr]
    times = []
    for k in range(moves):
        pid = ids[k % len(ids)]
        to = "augment" if where[pid] != "augment" else "reassess"
        _, took = timed(
            lambda: svc.override(pid, to=to, reason="case_review", note="bench", actor="b")  # noqa: B023
        )
        where[pid] = to
        times.append(took)
    svc.close()
    engine.dispose()
    return statistics.median(times)


def write_cost(defn: Definition, folder: Path, n: int, moves: int) -> None:
    """The bulk path and an interactive move, without and with the rollup's triggers."""
    patients = stories(defn, n, n, "W-")
    rates: dict[bool, list[float]] = {False: [], True: []}
    p50: dict[tuple[bool, bool], list[float]] = {}
    for rnd in range(2):
        for rollup in (False, True):
            url = f"sqlite:///{folder / f'w{rnd}{int(rollup)}.db'}"
            report = build_db(url, defn, patients, rollup=rollup)
            rates[rollup].append(report.events / report.seconds)
            ids = [p.patient_id for p in patients[:50]]
            for durable in (True, False):
                took = move_p50(url, ids, moves, durable=durable)
                p50.setdefault((rollup, durable), []).append(took)
    plain, rolled = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"what the rollup's triggers cost writers ({n:,} patients, 2 rounds, medians):")
    print(
        f"  bulk path          {plain:10,.0f} events/s without, {rolled:10,.0f} with "
        f"({rolled / plain:.2f}x)"
    )
    for durable, what in ((True, "synchronous=FULL, as the engine runs"), (False, "fsync off")):
        a = statistics.median(p50[(False, durable)]) * MS
        b = statistics.median(p50[(True, durable)]) * MS
        print(
            f"  one move, p50      {a:10.3f} ms without,      {b:10.3f} ms with "
            f"(+{(b - a) * 1000:.0f} µs; {what})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--patients", type=int, default=10_000, help="issue: 100000")
    ap.add_argument("--stories", type=int, help="distinct stories (default: all)")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--years", type=int, default=5, help="enrollment spread (default 5 years)")
    ap.add_argument("--no-write-cost", action="store_true", help="skip the writers' cost")
    ap.add_argument("--db", type=Path, help="keep (and reuse) the cohort database here")
    ap.add_argument("--write-patients", type=int, default=3_000, help="for the write cost")
    ap.add_argument("--moves", type=int, default=300, help="interactive moves per database")
    args = ap.parse_args()

    defn = load_definition()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = args.db or folder / "cohort.db"
        url = f"sqlite:///{path}"
        if not path.exists():
            t0 = time.perf_counter()
            distinct = min(args.stories or args.patients, args.patients)
            cohort = stories(defn, args.patients, distinct, "R-", args.years)
            report = build_db(url, defn, cohort, rollup=False)
            del cohort
            print(
                f"built {report.patients:,} patients, {report.events:,} events in "
                f"{time.perf_counter() - t0:.0f} s ({distinct:,} distinct stories; untimed setup)"
            )
        engine = make_engine(url)
        uninstall(engine)  # the default schema: no rollup (a kept --db may have had one)
        svc = Services(SqlUnitOfWork(engine), clock=FixedClock(END))
        with svc.uow as uow:
            conn: sa.Connection = uow.connection  # type: ignore[attr-defined]
            n = conn.exec_driver_sql("SELECT COUNT(*) FROM enrollment").scalar()
            moves = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM event WHERE kind IN ('transition', 'override')"
            ).scalar()
            events = conn.exec_driver_sql("SELECT COUNT(*) FROM event").scalar()
        size = path.stat().st_size / 1e6
        gc.collect()
        gc.freeze()
        drawn = viz.build(defn, cohort=cohort_summary(svc))
        cells = [c for n_ in drawn.nodes for c in (n_.patients, n_.entered)]
        cells += [e.traversals for e in drawn.edges]
        hidden = sum(1 for c in cells if c is not None and c.value is None)
        t = overlay_runs(svc, defn, args.runs, engine)
        svc.close()
        engine.dispose()

        med = statistics.median
        floor = med(t["floor"])
        print(
            f"cohort: {n:,} patients, {events:,} events ({moves:,} moves), SQLite {size:,.0f} MB;"
            f" {args.runs} runs, medians"
        )
        print(
            f"(a) default, unfiltered: aggregation {med(t['agg']) * MS:8.1f} ms + model "
            f"{med(t['model']) * MS:5.2f} ms + svg {med(t['svg']) * MS:6.2f} ms = "
            f"{med(t['total']) * MS:8.1f} ms"
        )
        print(
            f"(w) default, --since/--until: aggregation {med(t['w_agg']) * MS:8.1f} ms"
            f" + model and svg = {med(t['w_total']) * MS:8.1f} ms"
        )
        w_floor = med(t["w_floor"]) if t["w_floor"] else floor
        print(f"(c) floor: dot -Tsvg on the same DOT    {floor * MS:8.2f} ms")
        print(f"(cw) floor of (w): dot -Tsvg on its DOT {w_floor * MS:8.2f} ms")
        print(
            f"(r) opt-in rollup, unfiltered: aggregation {med(t['r_agg']) * MS:7.2f} ms"
            f" + model and svg = {med(t['r_total']) * MS:8.2f} ms"
        )
        print(
            f"(rw) opt-in rollup, --since/--until: aggregation {med(t['rw_agg']) * MS:7.2f} ms"
            f" + model and svg = {med(t['rw_total']) * MS:8.2f} ms"
        )
        print(f"ratio (a)/(c) {med(t['total']) / floor:7.2f}x  (goal <= 1.5x)")
        print(f"ratio (w)/(cw) {med(t['w_total']) / w_floor:6.2f}x  (goal <= 1.5x)")
        print(f"ratio (r)/(c) {med(t['r_total']) / floor:7.2f}x  (opt-in, beside)")
        print(f"ratio (rw)/(cw) {med(t['rw_total']) / w_floor:5.2f}x  (opt-in, beside)")
        if FAILED:
            print(
                "  note: dot failed to lay out (w) (Graphviz 'trouble in init_rank'); timed to it"
            )
        print(
            f"  breakdown of (a): model {med(t['model']) / floor:.2f}x the floor, of which "
            f"suppression {(med(t['model']) - med(t['plain'])) * MS:.2f} ms ({hidden} cells "
            f"hidden); svg {med(t['svg']) / floor:.2f}x (DOT text + dot through graphviz)"
        )
        gc.unfreeze()
        if not args.no_write_cost:
            write_cost(defn, folder, args.write_patients, args.moves)


if __name__ == "__main__":
    main()
