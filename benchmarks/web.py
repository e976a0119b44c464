"""The web app and API: latency against a bare endpoint, the caseload page, and a load test.

    .venv/bin/python benchmarks/web.py latency  [--patients 500] [--n 300] [--pg]
    .venv/bin/python benchmarks/web.py caseload [--n 100000] [--db FILE] [--no-pg]
    .venv/bin/python benchmarks/web.py load     [--coordinators 50] [--seconds 60] [--workers 4]
    .venv/bin/python benchmarks/web.py quality  [--patients 10000] [--db FILE] [--n 20]

- latency: `pathway serve` (one worker, PATHWAY_WEB_BENCH=1) on a simulated cohort, over loopback
  HTTP with keep-alive, interleaved: (a) `GET /api/v1/patients/{id}` (bearer token: auth, status
  with every guard, audit row) and (b) the patient page `/patients/{id}` (session cookie), each
  against the bare endpoint `/bench/bare/{id}` of the same app, which reads the same enrollment
  row by primary key (no auth, no services, no audit). Goals: (a) ≤ 3×, (b) ≤ 5× (p50).
- caseload: the caseload list's first page (50 rows, three sorts / filters) through
  `engine.web.caseload.caseload` against the same two statements (page + count) run raw through
  the driver, on N simulated patients. Goal ≤ 2×.
- load: `pathway serve --workers W` on PostgreSQL; C simulated coordinators for S seconds on an
  overlapping set of patients, each reading a patient (ETag) then writing a PHQ-9 or taking the
  recommended move with If-Match. Reports throughput and p50/p99; checks no 5xx, every refused
  write a 412, `pathway verify --deep` clean, and events in the database = events acknowledged.
- quality: `pathway serve` on N simulated patients (SQLite; `--db FILE` keeps or reuses it): the
  quality pages against the existing aggregate pages (`/board`, `/quality`), p50 of n requests
  each; `/quality/measures` and `/quality/deviations` once cold (every patient read and measured),
  then from the app's cache (same period, no write since), then once after one write.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx2 as httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from engine import Services, SqlUnitOfWork, make_engine  # noqa: E402
from engine.simulator.persistence import simulate_to  # noqa: E402
from engine.web.accounts import Accounts  # noqa: E402
from engine.web.caseload import caseload, caseload_sql  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PATHWAY = str(Path(sys.executable).with_name("pathway"))
PASSWORD = "benchmark-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(url: str, *, workers: int = 1, bench: bool = True) -> Iterator[str]:
    """`pathway serve` in a subprocess on a free port; its base URL once it answers (its
    stderr goes to a temporary file, printed if it fails)."""
    port = free_port()
    env = {**os.environ, "PATHWAY_WEB_BENCH": "1" if bench else "0"}
    cmd = [PATHWAY, "serve", "--db", url, "--port", str(port), "--workers", str(workers)]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(base + "/login", timeout=1).status_code == 200:
                        break
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.seek(0)
            text = log.read().decode(errors="replace").strip()
            if text:
                print("pathway serve said:\n" + text[-3000:])


@contextlib.contextmanager
def pg_schema(url: str) -> Iterator[str | None]:
    """A fresh PostgreSQL schema as a URL whose search_path points at it (dropped after)."""
    import uuid

    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(url)
    try:
        with admin.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL: skipped, no server at {url} ({str(exc.orig).strip()[:80]})")
        yield None
        return
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def populate(url: str, patients: int, seed: int = 7) -> list[str]:
    """A simulated cohort, one coordinator account and one token; the patients' ids."""
    simulate_to(url, patients=patients, seed=seed, progress=False)
    engine = make_engine(url)
    accounts = Accounts(engine)
    with contextlib.suppress(Exception):
        accounts.add_user("bench", role="coordinator", password=PASSWORD)
    with engine.connect() as conn:
        ids = list(conn.exec_driver_sql("SELECT patient_id FROM enrollment ORDER BY 1").scalars())
    engine.dispose()
    return ids


def token_for(url: str, name: str) -> str:
    engine = make_engine(url)
    try:
        return Accounts(engine).create_token(name, role="coordinator")
    finally:
        engine.dispose()


def login(client: httpx.Client) -> None:
    client.get("/login")
    r = client.post(
        "/login",
        data={
            "username": "bench",
            "password": PASSWORD,
            "csrf_token": client.cookies["pathway_csrf"],
        },
    )
    assert r.status_code == 303, r.text


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3


# -- (a) (b) latency ------------------------------------------------------------------------


def latency(url: str, label: str, patients: int, n: int) -> None:
    ids = populate(url, patients)
    token = token_for(url, f"bench-{time.time_ns()}")
    rng = random.Random(3)
    with serving(url) as base, httpx.Client(base_url=base, timeout=30) as client:
        login(client)
        page_ok = client.get(f"/patients/{ids[0]}").status_code
        auth = {"Authorization": f"Bearer {token}"}
        samples: dict[str, list[float]] = {"bare": [], "api": [], "page": []}
        for i in range(n + 20):
            pid = rng.choice(ids)
            for name, path, headers in (
                ("bare", f"/bench/bare/{pid}", {}),
                ("api", f"/api/v1/patients/{pid}", auth),
                ("page", f"/patients/{pid}", {}),
            ):
                if name == "page" and page_ok != 200:
                    continue
                t0 = time.perf_counter()
                r = client.get(path, headers=headers)
                dt_ = time.perf_counter() - t0
                assert r.status_code == 200, (path, r.status_code, r.text[:200])
                if i >= 20:  # warm-up
                    samples[name].append(dt_)
    bare = statistics.median(samples["bare"]) * 1e3
    print(f"{label}: {patients:,} simulated patients, {n} requests each, interleaved (loopback)")
    print(
        f"  bare endpoint (enrollment row by key) p50 {bare:7.2f} ms  "
        f"p99 {p(samples['bare'], 0.99):7.2f} ms"
    )
    for name, goal, what in (("api", 3, "GET /api/v1/patients/{id}"), ("page", 5, "patient page")):
        if not samples[name]:
            print(f"  {what}: not measured (the page answered {page_ok})")
            continue
        med = statistics.median(samples[name]) * 1e3
        print(
            f"  {what:28s} p50 {med:7.2f} ms  p99 {p(samples[name], 0.99):7.2f} ms  "
            f"ratio {med / bare:4.2f}× (goal ≤ {goal}×)"
        )


# -- quality pages --------------------------------------------------------------------------


def quality_pages(url: str, patients: int, n: int, *, fresh: bool) -> None:
    if fresh:
        populate(url, patients)
    else:
        engine = make_engine(url, create=False)
        with contextlib.suppress(Exception):
            Accounts(engine).add_user("bench", role="coordinator", password=PASSWORD)
        engine.dispose()
    with serving(url) as base, httpx.Client(base_url=base, timeout=600) as client:
        login(client)
        count = client.get("/api/v1/board").json().get("patients")
        print(f"quality pages: {count:,} patients (SQLite, one worker, loopback)")
        cold: dict[str, float] = {}
        for path in ("/quality/measures", "/quality/deviations"):
            t0 = time.perf_counter()
            r = client.get(path)
            cold[path] = time.perf_counter() - t0
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
        samples: dict[str, list[float]] = {}
        paths = ("/board", "/quality", "/quality/measures", "/quality/deviations")
        for _ in range(n):
            for path in paths:
                t0 = time.perf_counter()
                r = client.get(path)
                samples.setdefault(path, []).append(time.perf_counter() - t0)
                assert r.status_code == 200, (path, r.status_code)
        # one write (a PHQ-9 through the API) changes the data version: both pages work it out
        # again; the deviation report re-evaluates only the moves it has not judged before
        token = token_for(url, f"bench-{time.time_ns()}")
        auth = {"Authorization": f"Bearer {token}"}
        with make_engine(url, create=False).connect() as conn:
            pid = conn.exec_driver_sql("SELECT min(patient_id) FROM enrollment").scalar_one()
        etag = client.get(f"/api/v1/patients/{pid}", headers=auth).headers["etag"]
        fact = {"fact": "measurement", "instrument": "PHQ-9", "score": 9}
        fact["date"] = dt.date.today().isoformat()
        r = client.post(
            f"/api/v1/patients/{pid}/facts",
            json={"facts": [fact]},
            headers={**auth, "If-Match": etag},
        )
        assert r.status_code == 200, r.text
        after: dict[str, float] = {}
        for path in cold:
            t0 = time.perf_counter()
            assert client.get(path).status_code == 200
            after[path] = time.perf_counter() - t0
    board = statistics.median(samples["/board"]) * 1e3
    for path in paths:
        med = statistics.median(samples[path]) * 1e3
        first = (
            f"   first (cold) {cold[path]:7.2f} s, after one write {after[path]:7.2f} s"
            if path in cold
            else ""
        )
        print(f"  {path:22s} p50 {med:8.2f} ms  {med / board:5.2f}× /board{first}")


# -- (c) caseload ---------------------------------------------------------------------------


def copy_enrollments(sqlite_file: str, url: str) -> None:
    """Copy the enrollment rows of a simulated SQLite database into a fresh PostgreSQL schema
    (simulating 100,000 patients again takes half an hour here; the caseload reads only them)."""
    import sqlite3

    from engine import init_db
    from engine.store.tables import enrollment_table

    engine = make_engine(url)
    init_db(engine)
    cols = [c.name for c in enrollment_table().columns]
    dates = {c.name for c in enrollment_table().columns if isinstance(c.type, sa.Date)}
    src = sqlite3.connect(sqlite_file)
    rows = src.execute(f"SELECT {', '.join(cols)} FROM enrollment").fetchall()
    src.close()

    def typed(row: tuple[Any, ...]) -> tuple[Any, ...]:
        out = []
        for name, v in zip(cols, row, strict=True):
            if v is not None and name in dates:
                v = dt.date.fromisoformat(v)
            elif v is not None and name in ("created_at", "updated_at"):
                v = dt.datetime.fromisoformat(v).replace(tzinfo=dt.UTC)
            out.append(v)
        return tuple(out)

    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cur, cur.copy(f"COPY enrollment ({', '.join(cols)}) FROM STDIN") as cp:  # type: ignore[attr-defined]
            for r in rows:
                cp.write_row(typed(r))
        raw.commit()
    engine.dispose()


def caseload_bench(url: str, label: str, n: int, *, keep: bool) -> None:
    engine = make_engine(url)
    with engine.connect() as conn:
        have = conn.exec_driver_sql("SELECT count(*) FROM enrollment").scalar() if keep else 0
    if not have:
        t0 = time.perf_counter()
        simulate_to(url, patients=n, seed=11, progress=False)
        print(f"{label}: {n:,} patients simulated in {time.perf_counter() - t0:.0f} s")
    with engine.connect() as conn:
        total = conn.exec_driver_sql("SELECT count(*) FROM enrollment").scalar()
        top = conn.exec_driver_sql(
            "SELECT state FROM enrollment GROUP BY state ORDER BY count(*) DESC LIMIT 1"
        ).scalar()
    svc = Services(SqlUnitOfWork(engine))
    today = svc.clock.today()
    print(f"{label}: caseload of {total:,} patients, first page of 50 (median of 30)")
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        for what, kwargs in (
            ("by patient id", {}),
            ("by days in state", {"sort": "days"}),
            (f"state={top}, by next due", {"state": top, "sort": "due"}),
            ("flag=risk, due now", {"flag": "risk", "due": "now"}),
        ):
            select, count, params = caseload_sql(
                engine.dialect.name, as_of=today, limit=50, offset=0, **kwargs
            )

            def floor(select: str = select, count: str = count, params: Any = params) -> None:
                cur = raw.cursor()
                cur.execute(select, params)
                cur.fetchall()
                cur.execute(count, params)
                cur.fetchall()
                cur.close()

            def ours(kwargs: Any = kwargs) -> None:
                caseload(svc, as_of=today, limit=50, **kwargs)

            for _ in range(3):
                floor()
                ours()
            a, b = [], []
            for _ in range(30):
                t0 = time.perf_counter()
                ours()
                a.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                floor()
                b.append(time.perf_counter() - t0)
            ma, mb = statistics.median(a) * 1e3, statistics.median(b) * 1e3
            print(
                f"  {what:32s} caseload() {ma:7.2f} ms  raw {mb:7.2f} ms  "
                f"ratio {ma / mb:4.2f}× (goal ≤ 2×)"
            )
    svc.close()
    engine.dispose()


# -- (d) load -------------------------------------------------------------------------------


async def coordinator(
    client: httpx.AsyncClient,
    hot: list[str],
    stop: float,
    seed: int,
    stats: dict[str, Any],
) -> None:
    rng = random.Random(seed)
    today = dt.date.today().isoformat()
    while time.perf_counter() < stop:
        pid = rng.choice(hot)
        t0 = time.perf_counter()
        try:
            r = await client.get(f"/api/v1/patients/{pid}")
        except httpx.TransportError as exc:  # a dropped connection: counted, not fatal
            stats["transport"][type(exc).__name__] += 1
            continue
        stats["lat"].append(time.perf_counter() - t0)
        stats["codes"][r.status_code] += 1
        if r.status_code != 200:
            continue
        status = r.json()
        etag = r.headers["etag"]
        await asyncio.sleep(rng.uniform(0, 0.02))  # the coordinator reads before writing
        if status["recommended"] and rng.random() < 0.3:
            path, body, events = (
                f"/api/v1/patients/{pid}/advance",
                {"trigger": status["recommended"]},
                1,
            )
        else:
            fact = {
                "fact": "measurement",
                "date": today,
                "instrument": "PHQ-9",
                "score": rng.randint(0, 27),
            }
            path, body, events = f"/api/v1/patients/{pid}/facts", {"facts": [fact]}, 1
        t0 = time.perf_counter()
        try:
            w = await client.post(path, json=body, headers={"If-Match": etag})
        except httpx.TransportError as exc:  # outcome unknown: not counted as acknowledged
            stats["transport"][type(exc).__name__] += 1
            stats["unknown_writes"] += 1
            continue
        stats["lat"].append(time.perf_counter() - t0)
        stats["codes"][w.status_code] += 1
        if w.status_code == 200:
            stats["acked_events"] += events
            stats["writes_ok"] += 1
        else:
            stats["refused"][w.status_code] += 1


async def drive(
    base: str, token: str, hot: list[str], coordinators: int, seconds: float
) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "lat": [],
        "codes": Counter(),
        "refused": Counter(),
        "acked_events": 0,
        "writes_ok": 0,
        "transport": Counter(),
        "unknown_writes": 0,
    }
    limits = httpx.Limits(max_connections=coordinators, max_keepalive_connections=coordinators)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=60
    ) as client:
        stop = time.perf_counter() + seconds
        await asyncio.gather(
            *(coordinator(client, hot, stop, seed, stats) for seed in range(coordinators))
        )
    return stats


def load(
    url: str, coordinators: int, seconds: float, workers: int, patients: int, hot_n: int
) -> None:
    ids = populate(url, patients)
    token = token_for(url, "load")
    engine = make_engine(url)
    with engine.connect() as conn:
        before = conn.exec_driver_sql("SELECT count(*) FROM event").scalar()
    hot = random.Random(5).sample(ids, min(hot_n, len(ids)))
    with serving(url, workers=workers, bench=False) as base:
        t0 = time.perf_counter()
        stats = asyncio.run(drive(base, token, hot, coordinators, seconds))
        elapsed = time.perf_counter() - t0
    with engine.connect() as conn:
        after = conn.exec_driver_sql("SELECT count(*) FROM event").scalar()
        audits = conn.exec_driver_sql("SELECT count(*) FROM access_audit").scalar()
    engine.dispose()
    verify = subprocess.run(
        [PATHWAY, "verify", "--deep", "--db", url], capture_output=True, text=True
    )
    said = verify.stdout.strip().splitlines()
    n = len(stats["lat"])
    codes = dict(sorted(stats["codes"].items()))
    five = sum(v for k, v in codes.items() if k >= 500)
    refused_other = {k: v for k, v in stats["refused"].items() if k != 412}
    print(
        f"load: {coordinators} coordinators for {seconds:.0f} s, "
        f"pathway serve --workers {workers} on "
        f"PostgreSQL, {len(hot)} overlapping patients (of {len(ids)})"
    )
    print(
        f"  {n:,} requests in {elapsed:.1f} s: {n / elapsed:,.0f} requests/s; "
        f"p50 {p(stats['lat'], 0.5):.1f} ms, p99 {p(stats['lat'], 0.99):.1f} ms"
    )
    print(f"  status codes {codes}; 5xx: {five}")
    if stats["transport"]:
        print(
            f"  dropped connections {dict(stats['transport'])} "
            f"({stats['unknown_writes']} of them writes whose outcome the client never saw)"
        )
    print(
        f"  writes acknowledged {stats['writes_ok']:,}; refused {dict(stats['refused'])} "
        f"(every refusal a 412: {not refused_other})"
    )
    lost = before + stats["acked_events"] - after  # < 0: writes done but never acknowledged
    print(
        f"  events: {before:,} before + {stats['acked_events']:,} acknowledged = "
        f"{before + stats['acked_events']:,}; in the database {after:,} (lost: {lost})"
    )
    print(
        f"  access audit rows {audits:,}; pathway verify --deep exit {verify.returncode}: "
        f"{said[-1] if said else verify.stderr.strip()[:200]}"
    )
    failed = [
        what
        for what, bad in (
            ("a 5xx answer", five > 0),
            ("a refused write other than 412", bool(refused_other)),
            ("lost events", lost > 0),
            ("verify --deep not clean", verify.returncode != 0),
        )
        if bad
    ]
    if failed:  # the load test's checks fail loudly
        raise SystemExit(f"load test FAILED: {', '.join(failed)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("latency")
    a.add_argument("--patients", type=int, default=500)
    a.add_argument("--n", type=int, default=300)
    a.add_argument("--pg", action="store_true", help="also on PostgreSQL")
    c = sub.add_parser("caseload")
    c.add_argument("--n", type=int, default=100_000)
    c.add_argument("--db", help="SQLite file to use (kept; simulated into if empty)")
    c.add_argument("--no-pg", action="store_true")
    d = sub.add_parser("load")
    d.add_argument("--coordinators", type=int, default=50)
    d.add_argument("--seconds", type=float, default=60)
    d.add_argument("--workers", type=int, default=4)
    d.add_argument("--patients", type=int, default=1000)
    d.add_argument("--hot", type=int, default=200, help="patients the coordinators share")
    q = sub.add_parser("quality")
    q.add_argument("--patients", type=int, default=10_000)
    q.add_argument("--n", type=int, default=20)
    q.add_argument("--db", help="SQLite file to keep (simulated into if missing, else reused)")
    for s in (a, c, d):
        s.add_argument("--pg-url", default=os.environ.get("PATHWAY_TEST_POSTGRES_URL", PG_DEFAULT))
    args = ap.parse_args()
    if args.what == "latency":
        with tempfile.TemporaryDirectory() as folder:
            latency(f"sqlite:///{folder}/web.db", "SQLite", args.patients, args.n)
        if args.pg:
            with pg_schema(args.pg_url) as url:
                if url:
                    latency(url, "PostgreSQL", args.patients, args.n)
    elif args.what == "caseload":
        if args.db:
            caseload_bench(f"sqlite:///{args.db}", "SQLite", args.n, keep=True)
        else:
            with tempfile.TemporaryDirectory() as folder:
                caseload_bench(f"sqlite:///{folder}/caseload.db", "SQLite", args.n, keep=False)
        if not args.no_pg:
            with pg_schema(args.pg_url) as url:
                if url and args.db:
                    copy_enrollments(args.db, url)
                    caseload_bench(url, "PostgreSQL (the same enrollments)", args.n, keep=True)
                elif url:
                    caseload_bench(url, "PostgreSQL", args.n, keep=False)
    elif args.what == "quality":
        if args.db:
            fresh = not Path(args.db).exists()
            quality_pages(f"sqlite:///{args.db}", args.patients, args.n, fresh=fresh)
        else:
            with tempfile.TemporaryDirectory() as folder:
                quality_pages(f"sqlite:///{folder}/quality.db", args.patients, args.n, fresh=True)
    else:
        with pg_schema(args.pg_url) as url:
            if url:
                load(url, args.coordinators, args.seconds, args.workers, args.patients, args.hot)


if __name__ == "__main__":
    main()
