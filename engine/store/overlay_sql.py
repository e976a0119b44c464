"""The cohort overlay's counts in one SQL statement over the event log (SQLite and PostgreSQL).

Window functions turn each patient's moves (the `enrolled`, `transition` and `override` events,
in version order) into visits: `LEAD(effective_on)` is the day the visit ended, none for the
state the patient is in. Visits that end before the window opens are dropped; what is left is
each patient's path clipped to the window, and four small GROUP BYs over it give the patients
per state at the end, the states the paths start in, the moves per edge, and a histogram of the
days each patient spent in each state (all their visits added up) or, under a window (`since`),
of the lengths of the stays that ended in it (`stays_ended`). Only those few hundred aggregate
rows leave the database.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from viz.overlays import OVERRIDE, EdgeKey


@dataclass
class CohortCounts:
    """Raw counts of a cohort: the parts of a `viz.CohortSummary` before medians."""

    patients: Counter[str] = field(default_factory=Counter)
    starts: Counter[str] = field(default_factory=Counter)
    traversals: Counter[EdgeKey] = field(default_factory=Counter)
    overrides: Counter[EdgeKey] = field(default_factory=Counter)
    stays: defaultdict[str, list[tuple[int, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    """{state: [(days, n), …]}, a histogram (the same number of days may appear more than once):
    each patient's days in the state, all visits added up; or, counted under a window, the
    length of each stay that ended in it (`stays_ended`)."""


@dataclass(frozen=True)
class CohortQuery:
    """What to count: patients on a definition (id, version), now in a state, moves in dates."""

    end: dt.date
    since: dt.date | None = None
    definition_id: str | None = None
    definition_version: str | None = None
    state: str | None = None


def statement(dialect: str, q: CohortQuery) -> str:
    """The SQL text for one dialect; parameters are named as in `parameters`."""
    pg = dialect == "postgresql"

    def day(name: str) -> str:
        return f"CAST(:{name} AS DATE)" if pg else f":{name}"

    def days_between(a: str, b: str) -> str:
        diff = f"({b} - {a})" if pg else f"CAST(julianday({b}) - julianday({a}) AS INTEGER)"
        return f"GREATEST(0, {diff})" if pg else f"max(0, {diff})"

    where = ["v.kind IN ('enrolled', 'transition', 'override')", f"v.effective_on <= {day('end')}"]
    source = "event v"
    if q.definition_id is not None or q.definition_version is not None:
        source = "enrollment e JOIN event v ON v.patient_id = e.patient_id"
        if q.definition_id is not None:
            where.append("e.definition_id = :definition_id")
        if q.definition_version is not None:
            where.append("e.definition_version = :definition_version")
    since = day("since")
    start = f"CASE WHEN m.eff < {since} THEN {since} ELSE m.eff END"
    visits = "vis"
    chosen = ""
    if q.state is not None:
        visits = "chosen"
        chosen = (
            ", chosen AS (SELECT * FROM vis WHERE pid IN "
            "(SELECT pid FROM vis WHERE cur AND state = :state))"
        )
    stays = f"""SELECT 'stay', state, NULL, NULL, days, COUNT(*)
  FROM (SELECT pid, state, SUM(days) AS days FROM {visits} GROUP BY pid, state) AS per_patient
  GROUP BY state, days"""
    if q.since is not None:
        stays = stays_ended(days_between, since, chosen=q.state is not None)
    # A visit is in the window when it ends on or after `since`; the first one in it is the
    # enrollment or a visit entered before `since` (entry dates never go back in a log: the
    # services refuse a move dated before the entry into the state it leaves), and every other
    # visit in it was entered by a move made in the window.
    return f"""
WITH m AS (
  SELECT v.patient_id AS pid, v.version AS ver, v.kind AS kind, v."trigger" AS trg,
         v.from_state AS src, v.to_state AS state, v.effective_on AS eff,
         LEAD(v.effective_on) OVER (PARTITION BY v.patient_id ORDER BY v.version) AS nxt
  FROM {source}
  WHERE {" AND ".join(where)}
), vis AS (
  SELECT m.pid AS pid, m.kind AS kind, m.trg AS trg, m.src AS src, m.state AS state,
         m.nxt IS NULL AS cur, (m.kind = 'enrolled' OR m.eff < {since}) AS first,
         {days_between(start, f"COALESCE(m.nxt, {day('end')})")} AS days
  FROM m WHERE COALESCE(m.nxt, {day("end")}) >= {since}
){chosen}
SELECT 'now' AS part, state AS a, NULL AS b, NULL AS c, 0 AS d, COUNT(*) AS n
  FROM {visits} WHERE cur GROUP BY state
UNION ALL
SELECT 'start', state, NULL, NULL, 0, COUNT(*) FROM {visits} WHERE first GROUP BY state
UNION ALL
SELECT kind, src, trg, state, 0, COUNT(*) FROM {visits} WHERE NOT first
  GROUP BY kind, src, trg, state
UNION ALL
{stays}
"""


def stays_ended(days_between: Callable[[str, str], str], since: str, *, chosen: bool) -> str:
    """The histogram of the stays that ended in the window (its end bounds `m` already).

    A stay starts at enrollment or at a move from another state (a move from a state to itself
    does not end it) and ends at the next such move; its length runs from the day it started,
    before the window possibly.
    """
    which = " AND pid IN (SELECT pid FROM vis WHERE cur AND state = :state)" if chosen else ""
    return f"""SELECT 'stay', state, NULL, NULL, days, COUNT(*)
  FROM (SELECT state, {days_between("eff", "left_on")} AS days
        FROM (SELECT pid, state, eff,
                     LEAD(eff) OVER (PARTITION BY pid ORDER BY ver) AS left_on
              FROM m WHERE kind = 'enrolled' OR src <> state) AS st
        WHERE left_on >= {since}{which}) AS ended
  GROUP BY state, days"""


def parameters(dialect: str, q: CohortQuery) -> dict[str, Any]:
    """Bound values: dates as ISO text on SQLite (how the tables store them), dates elsewhere."""
    since = q.since or dt.date.min

    def out(value: dt.date) -> Any:
        return value if dialect == "postgresql" else value.isoformat()

    params: dict[str, Any] = {"end": out(q.end), "since": out(since)}
    for name in ("definition_id", "definition_version", "state"):
        if getattr(q, name) is not None:
            params[name] = getattr(q, name)
    return params


def count_cohort(conn: sa.Connection, q: CohortQuery) -> CohortCounts:
    """Run the statement on an open connection and collect its aggregate rows."""
    dialect = conn.dialect.name
    rows = conn.execute(sa.text(statement(dialect, q)), parameters(dialect, q)).all()
    counts = CohortCounts()
    for part, a, b, c, days, n in rows:
        if part == "now":
            counts.patients[a] += n
        elif part == "start":
            counts.starts[a] += n
        elif part == "stay":
            counts.stays[a].append((int(days), n))
        else:
            key: EdgeKey = (a, b or OVERRIDE, c)
            counts.traversals[key] += n
            if part == "override":
                counts.overrides[key] += n
    return counts
