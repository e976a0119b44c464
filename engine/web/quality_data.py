"""The quality review the pages and the API share: the measures per definition version and the
deviation report, small-cell suppressed, kept per (period, today) with the data version they were
worked out from; and the cohort diagram's counts (`/quality`), kept the same way per filters.

A year's measures at 100,000 patients take ~17 s to work out, and a busy clinic writes every few
seconds, so a kept result the records have changed since is still given for up to `MAX_AGE`,
marked as such, while a thread of its own works it out again (the next request finds it
current); an older one is worked out before answering, and `fresh` always is. Every answer says
when it was computed.

Both go through `engine.measures` on the request's unit of work; every count goes through the
app's one suppression rule (`engine.web.suppress.cells_hidden`), with the public equations
between the printed numbers, so a hidden count cannot be worked out from the others. Nothing
here names a patient.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine import Services
from engine.measures.logic import DEN, EXCL, IP, NUM, Period, add_months
from engine.store.overlay_sql import CohortQuery
from engine.web.suppress import THRESHOLD, TOTAL, Suppression, cells_hidden

POPULATIONS = (IP, DEN, EXCL, NUM)
# One index event per patient: every group of a measure has the same initial population,
# denominator and exclusions (CMS128's two phases, DRR-E's three rates), and the denominator is
# the initial population (`engine.measures.logic.membership`). These equalities are public.
SHARED = (IP, DEN, EXCL)
SUMMARY = ("patients", "moves", "overrides", "against_recommendation", "overstays")
BREAKDOWNS = {  # per-version breakdown in the report → the summary column its rows add up to
    "overrides_by_reason": "overrides",
    "overrides_by_path": "overrides",
    "against_by_path": "against_recommendation",
}
log = logging.getLogger("engine.web")
CACHED = 8  # results kept per app (a few periods)
MAX_AGE = dt.timedelta(minutes=10)  # how long a result is shown after the records changed
FAILED_FOR = 60.0  # seconds a failed background computation is reported, not started again
# At most this many background computations at once per process: each is a pass over the whole
# log on a connection of its own, and every new filter or period (a query parameter away) would
# otherwise start one more; past it a page says "pending" and its poll asks again.
MAX_RUNNING = 3


@dataclass(frozen=True)
class Computed:
    """A result with when it was worked out, whether the records changed since, and whether a
    new one is being worked out."""

    result: dict[str, Any]
    at: dt.datetime
    current: bool
    refreshing: bool = False

    def stamp(self) -> dict[str, Any]:
        """What the API adds to its answer."""
        return {
            "computed_at": self.at.isoformat(),
            "records_changed_since": not self.current,
            "recomputing": self.refreshing,
        }


@dataclass(frozen=True)
class Cell:
    """One printed number: its value, or None and why it is hidden."""

    value: int | float | None
    hidden: Suppression | None = None

    @property
    def text(self) -> str:
        """As a page shows it: "≤10" (small), "*" (would give a small one away), or the value."""
        if self.hidden == "primary":
            return f"≤{THRESHOLD}"
        if self.hidden is not None:
            return "*"
        if self.value is None:
            return "–"
        if isinstance(self.value, float):
            return f"{self.value:.1f}"
        return f"{self.value:,}"

    @property
    def percent(self) -> str:
        """A rate as a page shows it ("–" when there is none or it is not shown)."""
        if self.value is None or self.hidden is not None:
            return self.text
        return f"{self.value:.1%}"


# The measures look back from a period's start (identification periods of 14 months, 105 days
# of negative medication history, ±60-day windows) and forward from its events: a period must
# keep this much room from the calendar's ends, or the computation runs out of dates.
MARGIN = dt.timedelta(days=3 * 366)
EARLIEST = dt.date.min + MARGIN
LATEST = dt.date.max - MARGIN


def period_problem(
    first: dt.date, last: dt.date, names: tuple[str, str]
) -> tuple[str, str, str] | None:
    """What is wrong with the period [first, last] whose fields are `names` (start, end), as
    (field, value, message), or None: a date too near the calendar's ends for the computation,
    or an end before the start."""
    for name, day in zip(names, (first, last), strict=True):
        if not EARLIEST <= day <= LATEST:
            return (
                name,
                day.isoformat(),
                f"is out of range: dates from {EARLIEST.isoformat()} to "
                f"{LATEST.isoformat()} can be worked out",
            )
    if last < first:
        return names[1], last.isoformat(), f"is before {names[0]} {first.isoformat()}"
    return None


class ComputationFailed(Exception):
    """Working a result out failed (the kind of error only: a message may quote a row)."""

    def __init__(self, kind: str, error: str) -> None:
        self.kind, self.error = kind, error
        super().__init__(f"working out the {kind} failed ({error})")


def default_period(today: dt.date) -> Period:
    """The last twelve months before today: [today − 12 months, yesterday]."""
    return Period(add_months(today, -12), today - dt.timedelta(days=1))


class QualityCache:
    """Results by (kind, period, today), each with the data version it was worked out from and
    when, the newest few; thread-safe."""

    def __init__(self, size: int = CACHED, max_age: dt.timedelta = MAX_AGE) -> None:
        self.size = size
        self.max_age = max_age
        self._items: OrderedDict[tuple[Any, ...], tuple[Any, Computed]] = OrderedDict()
        # the keys being worked out in the background, with their threads
        self._running: dict[tuple[Any, ...], threading.Thread] = {}
        # the keys whose last background computation failed: (when, monotonic; the error kind);
        # a page shows the failure for `FAILED_FOR` seconds instead of starting it again
        self._failed: dict[tuple[Any, ...], tuple[float, str]] = {}
        self._lock = threading.Lock()
        # Each move's recommendation at its time, which the append-only log never changes
        # (`deviations_on`'s `judged`): after a write only the new moves are evaluated. About
        # 100 bytes a move; one report is worked out at a time (`deviating`).
        self.judged: dict[tuple[str, int, str, str], tuple[str | None, str | None]] = {}
        self.deviating = threading.Lock()

    def get(
        self, key: tuple[Any, ...], version: Any, now: dt.datetime, *, fresh: bool = False
    ) -> Computed | None:
        """The kept result for `key`: as it is if the records are unchanged (`version`), marked
        not current if they changed less than `max_age` ago; None if there is none, it is
        older than that, or `fresh` asks for a new one."""
        with self._lock:
            found = self._items.get(key)
            if found is None or fresh:
                return None
            kept_version, computed = found
            if kept_version != version:
                if now - computed.at > self.max_age:
                    return None
                computed = Computed(computed.result, computed.at, current=False)
            self._items.move_to_end(key)
            return computed

    def put(self, key: tuple[Any, ...], version: Any, computed: Computed) -> None:
        with self._lock:
            self._items[key] = (version, computed)
            self._items.move_to_end(key)
            self._failed.pop(key, None)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def refresh(self, key: tuple[Any, ...], run: Callable[[], None]) -> None:
        """Run `run` (which puts a new result for `key`) in a daemon thread, unless one is
        running for `key` already or `MAX_RUNNING` are running. A failure is logged, never
        raised: the kept result stays."""

        def target() -> None:
            try:
                run()
            except Exception as exc:  # the next request tries again
                # the kind of error only: a message may quote a row (no patient data in logs)
                log.error(
                    "quality review: working out %s again failed (%s)", key[0], type(exc).__name__
                )
                with self._lock:
                    self._failed[key] = (time.monotonic(), type(exc).__name__)
            finally:
                with self._lock:
                    self._running.pop(key, None)

        with self._lock:
            if key in self._running or len(self._running) >= MAX_RUNNING:
                return  # running already, or as many as may run: the next request asks again
            thread = self._running[key] = threading.Thread(
                target=target, name=f"quality-{key[0]}", daemon=True
            )
        thread.start()

    def failed(self, key: tuple[Any, ...]) -> str | None:
        """The kind of error of the last background computation of `key` if it failed less
        than `FAILED_FOR` seconds ago and none runs now, else None."""
        with self._lock:
            found = self._failed.get(key)
            if found is None or key in self._running:
                return None
            if time.monotonic() - found[0] > FAILED_FOR:
                del self._failed[key]
                return None
            return found[1]

    def wait_for(self, key: tuple[Any, ...], timeout: float | None = None) -> None:
        """Wait (up to `timeout` seconds) for the background work on `key`, if any."""
        with self._lock:
            thread = self._running.get(key)
        if thread is not None:
            thread.join(timeout)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the background work running now (tests, shutdown)."""
        with self._lock:
            threads = list(self._running.values())
        for thread in threads:
            thread.join(timeout)


def cache_of(app_state: Any) -> QualityCache:
    """The app's cache (made on first use, kept on the app's state)."""
    found: QualityCache | None = getattr(app_state, "quality_cache", None)
    if found is None:
        found = app_state.quality_cache = QualityCache()
    return found


Work = Callable[[Services, Any], dict[str, Any]]  # (services, their open connection) → result


def measure_work(period: Period) -> Work:
    """Every measure per definition version and overall over `period` (unsuppressed)."""

    def work(svc: Services, conn: Any) -> dict[str, Any]:
        from engine.measures.quality import measures_by_version

        return measures_by_version(conn, period=period, today=svc.clock.today())

    return work


def deviation_work(cache: QualityCache, period: Period) -> Work:
    """The deviation report over moves in `period`, per definition version (unsuppressed,
    without its patient lists' ids used anywhere but in counts)."""

    def work(svc: Services, conn: Any) -> dict[str, Any]:
        from engine.measures.deviations import deviations_on

        with cache.deviating:  # one report at a time: they share `judged`
            return deviations_on(
                conn,
                svc.definitions,
                since=period.start,
                until=period.end,
                today=svc.clock.today(),
                measures=False,
                judged=cache.judged,
            )

    return work


def cohort_work(q: CohortQuery) -> Work:
    """The cohort's counts for the diagram (`{"summary": viz.CohortSummary}`, unsuppressed: the
    diagram suppresses), from the rollup where it is installed, else from the log."""

    def work(svc: Services, conn: Any) -> dict[str, Any]:
        from engine.queries.overlay_cohort import counts_on, summary_of

        return {"summary": summary_of(counts_on(conn, q), q)}

    return work


def cohort_key(svc: Services, q: CohortQuery) -> tuple[Any, ...]:
    """What the cohort's counts are kept under: the query (its window resolved) and today."""
    return ("cohort", q, svc.clock.today())


def key_of(kind: str, svc: Services, period: Period) -> tuple[Any, ...]:
    """What a result is kept under: its kind, period and today."""
    return (kind, period.start, period.end, svc.clock.today())


def kept_or_worked_out(
    svc: Services,
    cache: QualityCache,
    key: tuple[Any, ...],
    work: Work,
    *,
    fresh: bool = False,
    background: Callable[[], Services] | None = None,
) -> Computed:
    """The kept result for `key`, or one worked out now. A kept result the records changed
    since is given as it is (marked), and, with `background` (a way to make Services), worked
    out again in a thread of its own, so the next request finds it current."""
    found = kept_or_started(svc, cache, key, work, fresh=fresh, background=background)
    return found or _worked_out(svc, cache, key, work)  # nothing kept (or `fresh`): now


def kept_or_started(
    svc: Services,
    cache: QualityCache,
    key: tuple[Any, ...],
    work: Work,
    *,
    fresh: bool = False,
    background: Callable[[], Services] | None = None,
    wait: float | None = None,
) -> Computed | None:
    """The kept result for `key` (marked, and worked out again in the background when the
    records changed since), or None. With `wait` (seconds) and `background`, a result nothing
    keeps is started in the background and waited for that long: None then means it is still
    being worked out (a page says so and asks again), so no request holds a thread for the
    minute a first computation takes at 100,000 patients."""
    from engine.measures.quality import data_version
    from engine.store.uow import sql_connection

    with svc.uow as uow:
        version = data_version(sql_connection(uow, "the quality review"))
    found = cache.get(key, version, svc.clock.now(), fresh=fresh)
    if background is None:
        return found
    if found is None:
        if fresh or wait is None:
            return None
        error = cache.failed(key)
        if error is not None:  # failed a moment ago: say so rather than start it again
            raise ComputationFailed(str(key[0]), error)
        cache.refresh(key, lambda: _in_background(background, cache, key, work))
        cache.wait_for(key, wait)
        found = cache.get(key, version, svc.clock.now())
        error = cache.failed(key) if found is None else None
        if error is not None:
            raise ComputationFailed(str(key[0]), error)
        return found
    if not found.current:
        cache.refresh(key, lambda: _in_background(background, cache, key, work))
        found = Computed(found.result, found.at, False, refreshing=True)
    return found


def _worked_out(svc: Services, cache: QualityCache, key: tuple[Any, ...], work: Work) -> Computed:
    """Work a result out on `svc`'s unit of work, and keep it."""
    from engine.measures.quality import data_version
    from engine.store.uow import sql_connection

    with svc.uow as uow:
        conn = sql_connection(uow, "the quality review")
        version = data_version(conn)
        found = Computed(work(svc, conn), svc.clock.now(), True)
    cache.put(key, version, found)
    return found


def _in_background(
    make: Callable[[], Services], cache: QualityCache, key: tuple[Any, ...], work: Work
) -> None:
    """`_worked_out` on Services of its own (a background thread's)."""
    svc = make()
    try:
        _worked_out(svc, cache, key, work)
    finally:
        svc.close()


# -- suppression ---------------------------------------------------------------------------


def measure_tables(result: dict[str, Any]) -> list[dict[str, Any]]:
    """`measures_by_version`'s result with every count as a Cell, hidden by the app's rule:
    per measure, the versions add up to the overall count, a group's denominator equals its
    initial population, and a measure's groups share those and the exclusions. A rate is hidden
    when any count it is worked out from is."""
    tables = []
    for m in result["measures"]:
        columns = [*result["versions"], TOTAL]
        values: dict[tuple[str, str, str], int] = {}
        for g in m["groups"]:
            for v in columns:
                cell = g["overall"] if v == TOTAL else g["versions"][v]
                for pop in POPULATIONS:
                    values[(g["id"], pop, v)] = cell["populations"][pop]
        equations: list[dict[tuple[str, str, str], int]] = []
        groups = [g["id"] for g in m["groups"]]
        for gid in groups:
            for pop in POPULATIONS:
                eq = {(gid, pop, v): 1 for v in result["versions"]}
                eq[(gid, pop, TOTAL)] = -1
                equations.append(eq)
            for v in columns:
                equations.append({(gid, IP, v): 1, (gid, DEN, v): -1})
        for a, b in itertools.pairwise(groups):
            for pop in SHARED:
                for v in columns:
                    equations.append({(a, pop, v): 1, (b, pop, v): -1})
        hide = cells_hidden(values, equations)
        out_groups = []
        for g in m["groups"]:
            rows = []
            for v in columns:
                cell = g["overall"] if v == TOTAL else g["versions"][v]
                counts = {
                    pop: Cell(None, hide[(g["id"], pop, v)])
                    if (g["id"], pop, v) in hide
                    else Cell(values[(g["id"], pop, v)])
                    for pop in POPULATIONS
                }
                # like a median over a hidden count, a rate over one is not shown ("–")
                rate_hidden = any(counts[p].hidden for p in (DEN, EXCL, NUM))
                rate = Cell(None) if rate_hidden else Cell(cell["score"])
                rows.append({"version": None if v == TOTAL else v, "counts": counts, "rate": rate})
            out_groups.append({"id": g["id"], "rows": rows})
        tables.append({"measure": m["measure"], "groups": out_groups})
    return tables


def measures_json(result: dict[str, Any]) -> dict[str, Any]:
    """The measures as the API answers them: hidden counts and rates are null."""
    return {
        "period": result["period"],
        "versions": result["versions"],
        "measures": [
            {
                "measure": t["measure"],
                "groups": [
                    {
                        "id": g["id"],
                        "versions": {r["version"]: _row_json(r) for r in g["rows"] if r["version"]},
                        "overall": _row_json(g["rows"][-1]),
                    }
                    for g in t["groups"]
                ],
            }
            for t in measure_tables(result)
        ],
        "suppressed": {"threshold": THRESHOLD, "shown_as": None},
    }


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "populations": {p: c.value for p, c in row["counts"].items()},
        "score": row["rate"].value,
    }


def deviation_tables(report: dict[str, Any]) -> dict[str, Any]:
    """The deviation report as suppressed tables, counts only (no patient id): a summary per
    version and overall; overrides by reason and by from → to, and moves that differed from the
    recommendation, by version and overall; patients past their state's dwell norm per version
    and state, with the norm (hidden with the count of patients it was worked out from).

    Public equations: a table's rows add up to the summary's column for each version, and the
    versions add up to the overall column."""
    per = report["per_version"]
    versions = list(per)
    columns = [*versions, TOTAL]
    values: dict[tuple[str, str, str], int] = {}
    equations: list[dict[tuple[str, str, str], int]] = []
    for col in SUMMARY:
        for v in versions:
            values[("summary", col, v)] = per[v][col]
        values[("summary", col, TOTAL)] = sum(per[v][col] for v in versions)
        equations.append(_adds_up(("summary", col), versions))
    rows_of: dict[str, list[str]] = {}
    for name, column in BREAKDOWNS.items():
        rows = sorted({r for v in versions for r in per[v][name]})
        rows_of[name] = rows
        for r in rows:
            for v in versions:
                values[(name, r, v)] = per[v][name].get(r, 0)
            values[(name, r, TOTAL)] = sum(values[(name, r, v)] for v in versions)
            equations.append(_adds_up((name, r), versions))
        for v in columns:
            eq = {(name, r, v): 1 for r in rows}
            eq[("summary", column, v)] = -1
            equations.append(eq)
    norms = [n for n in report["dwell_norms"] if n["definition"] in per]
    for n in norms:
        v, state = n["definition"], n["state"]
        values[("in_state", state, v)] = n["patients"]
        values[("overstays", state, v)] = per[v]["overstays_by_state"].get(state, 0)
    for v in versions:
        eq = {("overstays", n["state"], v): 1 for n in norms if n["definition"] == v}
        eq[("summary", "overstays", v)] = -1
        equations.append(eq)
    hide = cells_hidden(values, equations)

    def cell(key: tuple[str, str, str]) -> Cell:
        return Cell(None, hide[key]) if key in hide else Cell(values[key])

    return {
        "since": report["since"],
        "until": report["until"],
        "versions": versions,
        "summary": [
            {"version": None if v == TOTAL else v, **{c: cell(("summary", c, v)) for c in SUMMARY}}
            for v in columns
        ],
        **{
            name: [{"row": r, "cells": [cell((name, r, v)) for v in columns]} for r in rows]
            for name, rows in rows_of.items()
        },
        "dwell": [
            {
                "version": n["definition"],
                "state": n["state"],
                "patients": cell(("in_state", n["state"], n["definition"])),
                "norm_days": Cell(None)
                if ("in_state", n["state"], n["definition"]) in hide
                else Cell(float(n["norm_days"])),
                "source": n["source"],
                "overstays": cell(("overstays", n["state"], n["definition"])),
            }
            for n in norms
        ],
    }


def _adds_up(prefix: tuple[str, str], versions: list[str]) -> dict[tuple[str, str, str], int]:
    eq = {(*prefix, v): 1 for v in versions}
    eq[(*prefix, TOTAL)] = -1
    return eq


def deviations_json(report: dict[str, Any]) -> dict[str, Any]:
    """The deviation report as the API answers it: hidden counts (and norms) are null."""
    t = deviation_tables(report)
    columns = [*t["versions"], "overall"]
    return {
        "since": t["since"],
        "until": t["until"],
        "versions": t["versions"],
        "summary": {
            (row["version"] or "overall"): {c: row[c].value for c in SUMMARY}
            for row in t["summary"]
        },
        **{
            name: {
                r["row"]: dict(zip(columns, (c.value for c in r["cells"]), strict=True))
                for r in t[name]
            }
            for name in BREAKDOWNS
        },
        "dwell": [
            {
                "version": d["version"],
                "state": d["state"],
                "patients": d["patients"].value,
                "norm_days": d["norm_days"].value,
                "source": d["source"],
                "overstays": d["overstays"].value,
            }
            for d in t["dwell"]
        ],
        "suppressed": {"threshold": THRESHOLD, "shown_as": None},
    }
