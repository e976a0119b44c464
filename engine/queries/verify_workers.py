"""`verify` in worker processes, one range of patient ids each (`pathway verify --workers N`).

Each worker is `engine.queries.verify_worker` run by the same interpreter (`python -m`), so it
works from any caller (no `if __name__ == "__main__"` guard needed, nothing pickled): it reads
its task as JSON on stdin (the URL stays out of the process list), opens the database on a
connection of its own, checks its range exactly as one process does
(`engine.queries.audit.check_range`) and writes JSON lines: progress, then its totals and
mismatches. The ranges are contiguous in the database's id order and merged in that order, so
the report is the one a single pass gives. Each range is read in a snapshot of its own: a
patient written while `verify` runs is checked as of one of them. A worker that fails reports
only the error's kind (no patient data).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlalchemy as sa

    from engine.views import Mismatch

Range = tuple[str | None, str | None]


def ranges(conn: sa.Connection, workers: int) -> list[Range] | None:
    """`workers` contiguous ranges of enrolled patient ids with as many patients each (None
    where there is nothing to share: an in-memory database, or fewer patients than workers)."""
    if conn.dialect.name == "sqlite" and conn.engine.url.database in (None, "", ":memory:"):
        return None
    n = int(conn.exec_driver_sql("SELECT count(*) FROM enrollment").scalar() or 0)
    if n < workers:
        return None
    ph = "?" if conn.dialect.name == "sqlite" else "%s"
    nth = f"SELECT patient_id FROM enrollment ORDER BY patient_id LIMIT 1 OFFSET {ph}"
    cuts = [conn.exec_driver_sql(nth, (k * n // workers,)).scalar() for k in range(1, workers)]
    return list(itertools.pairwise([None, *cuts, None]))


def worker_url(conn: sa.Connection) -> str:
    """The URL a worker connects with: the connection's, password included, and on PostgreSQL
    the search path in force (an engine may have set it outside its URL: `make_engine(schema=)`)."""
    url = conn.engine.url
    if conn.dialect.name == "postgresql":
        path = str(conn.exec_driver_sql("SHOW search_path").scalar()).replace(" ", "\\ ")
        given = url.query.get("options") or ()
        options = " ".join(
            [*([given] if isinstance(given, str) else given), f"-csearch_path={path}"]
        )
        url = url.update_query_dict({"options": options})
    return str(url.render_as_string(hide_password=False))


def run(
    url: str,
    today: dt.date,
    deep: bool,
    parts: list[Range],
    on_progress: Callable[[int], None] | None = None,
) -> tuple[int, int, list[Mismatch]]:
    """Check each range in a process of its own; the totals and the mismatches in id order."""
    from engine.views import Mismatch

    lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
    procs = []
    for i, (lo, hi) in enumerate(parts):
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.queries.verify_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        task = {"url": url, "today": today.isoformat(), "deep": deep, "from": lo, "to": hi}
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(task))
        proc.stdin.close()
        threading.Thread(target=_relay, args=(i, proc.stdout, lines), daemon=True).start()
        procs.append(proc)
    done: dict[int, dict[str, Any]] = {}
    seen = [0] * len(parts)
    try:
        while len(done) < len(parts):
            i, line = lines.get()
            if line is None:  # the worker's output ended
                if i not in done:
                    raise RuntimeError(f"verify worker {i} ended without a report")
                continue
            msg = json.loads(line)
            if "failed" in msg:
                raise RuntimeError(f"verify worker {i} failed ({msg['failed']})")
            seen[i] = msg.get("patients", msg.get("tick", seen[i]))
            if "patients" in msg:
                done[i] = msg
            if on_progress is not None:
                on_progress(sum(seen))
    finally:
        for proc in procs:
            if proc.poll() is None and len(done) < len(parts):
                proc.kill()
            proc.wait()
    found = [
        Mismatch(patient_id=pid, problem=problem)
        for i in range(len(parts))
        for pid, problem in done[i]["mismatches"]
    ]
    patients = sum(done[i]["patients"] for i in range(len(parts)))
    return patients, sum(done[i]["events"] for i in range(len(parts))), found


def _relay(i: int, stream: IO[str], lines: queue.Queue[tuple[int, str | None]]) -> None:
    for line in stream:
        lines.put((i, line))
    lines.put((i, None))
