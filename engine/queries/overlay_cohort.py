"""The cohort overlay for `viz`: counts over enrolled patients, computed in the database.

What the filters mean (all optional, combined with AND):

- `as_of` (default today): the cohort as it stood at the end of that day; moves and enrollments
  effective after it are ignored, patients enrolled after it are not in the cohort.
- `until`: the end of the date window; the window ends at the earlier of `until` and `as_of`,
  and the summary is "as of" that day.
- `since`: the start of the window. Only moves effective from `since` to the window's end (both
  included) are counted; each patient's path starts in the state they were in at the start of
  `since` (or, if enrolled later, where they were enrolled). The median days are then those of
  the stays that ended in the window, each counted whole (`median_over="stays_ended"`: the
  length-of-stay convention, and what counters by day can give exactly); without a window they
  are each patient's days in the state, all visits added up, the current one to the end. Without
  `since` the window opens at each patient's enrollment.
- `state`: only patients whose state at the end of the window is `state` (all their moves in
  the window are counted, so the diagram shows how they got there).
- `definition_id`, `definition_version`: only patients pinned at enrollment to that definition
  id / version.

Every patient enrolled by the window's end and matching the filters is in the cohort, including
those who made no move in the window, so the flow balances for every state (starts + moves in =
moves out + patients there now), which is what `viz`'s complementary suppression relies on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from operator import itemgetter
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.queries.overlay_path import ended_stays, window_path
from engine.store.overlay_sql import CohortCounts, CohortQuery, count_cohort
from pathway.errors import PathwayError
from viz.overlays import OVERRIDE, CohortSummary

if TYPE_CHECKING:
    from engine.queries.source import ReadSource
    from engine.store.uow import UnitOfWork
    from pathway.definition import Definition


class InvalidWindow(PathwayError):
    """The date window is empty: it opens after it closes."""

    def __init__(self, since: dt.date, end: dt.date) -> None:
        self.since, self.end = since, end
        super().__init__(
            f"the window opens on {since.isoformat()} (--since) after it ends on "
            f"{end.isoformat()} (the earlier of --until and --as-of, today if neither is "
            "given): nothing to count"
        )


def cohort_query(
    *,
    today: dt.date,
    as_of: dt.date | None = None,
    state: str | None = None,
    definition_id: str | None = None,
    definition_version: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> CohortQuery:
    """The filters resolved to one window: its end is the earlier of `until` and `as_of`."""
    end = as_of or today
    if until is not None and until < end:
        end = until
    if since is not None and since > end:
        raise InvalidWindow(since, end)
    return CohortQuery(
        end=end,
        since=since,
        definition_id=definition_id,
        definition_version=definition_version,
        state=state,
    )


def cohort_summary(
    svc: ReadSource,
    *,
    as_of: dt.date | None = None,
    state: str | None = None,
    definition_version: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    definition_id: str | None = None,
) -> CohortSummary:
    """Patients per state, starts, moves per edge, overrides and median days, for `viz`.

    Computed in SQL, no patient loaded: from the rollup's counters where it is installed and
    exact for the query (`engine.store.overlay_rollup`), else by a few GROUP BYs over window
    functions on the event log (`engine.store.overlay_sql`). See the module docstring for what each
    filter means. On the in-memory fake unit of work the same counts are made in Python from the
    logs.
    """
    q = cohort_query(
        today=svc.clock.today(),
        as_of=as_of,
        state=state,
        definition_id=definition_id,
        definition_version=definition_version,
        since=since,
        until=until,
    )
    with svc.uow as uow:
        conn: sa.Connection | None = getattr(uow, "connection", None)
        counts = count_in_python(uow, q) if conn is None else counts_on(conn, q)
    return summary_of(counts, q)


def counts_on(conn: sa.Connection, q: CohortQuery) -> CohortCounts:
    """The counts on an open connection: from the rollup where it gives them exactly, else from
    the log."""
    from engine.store.overlay_rollup import read_rollup

    found = read_rollup(conn, q)
    return found if found is not None else count_cohort(conn, q)


def summary_of(counts: CohortCounts, q: CohortQuery) -> CohortSummary:
    """The `viz.CohortSummary` of raw counts: keys sorted, medians from the histogram."""
    medians, visited = medians_of(counts.stays)
    return CohortSummary(
        as_of=q.end,
        filters=describe(q),
        patients=dict(sorted(counts.patients.items())),
        starts=dict(sorted(counts.starts.items())),
        traversals=dict(sorted(counts.traversals.items())),
        overrides=dict(sorted(counts.overrides.items())),
        median_days=medians,
        visited=visited,
        median_over="patients" if q.since is None else "stays_ended",
    )


def medians_of(
    stays: Mapping[str, list[tuple[int, int]]],
) -> tuple[dict[str, float], dict[str, int]]:
    """Per state, the median of a histogram [(days, patients), …] and how many it is over.

    The median of an even count is the mean of the two middle values (as `viz.aggregate`).
    """
    medians: dict[str, float] = {}
    visited: dict[str, int] = {}
    for state in sorted(stays):
        counts = sorted(stays[state])
        total = sum(map(_count, counts))
        if not total:
            continue
        visited[state] = total
        medians[state] = (_nth(counts, (total - 1) // 2) + _nth(counts, total // 2)) / 2
    return medians, visited


_count = itemgetter(1)


def _nth(counts: list[tuple[int, int]], k: int) -> int:
    seen = 0
    for value, n in counts:
        seen += n
        if k < seen:
            return value
    raise IndexError(k)


def describe(q: CohortQuery) -> str:
    """The filters in words, printed under the diagram's title."""
    parts: list[str] = []
    if q.definition_version is not None:
        parts.append(f"{q.definition_id or 'version'} {q.definition_version}")
    elif q.definition_id is not None:
        parts.append(f"{q.definition_id}, all versions")
    if q.state is not None:
        parts.append(f"in {q.state} on {q.end.isoformat()}")
    if q.since is not None:
        parts.append(f"moves {q.since.isoformat()} to {q.end.isoformat()}")
    return " · ".join(parts)


def count_in_python(uow: UnitOfWork, q: CohortQuery) -> CohortCounts:
    """The same counts from every patient's log (for units of work without SQL: the fake)."""
    counts = CohortCounts()
    for head, events in uow.patients.iter_patients():
        if q.definition_id is not None and head.definition_id != q.definition_id:
            continue
        if q.definition_version is not None and head.definition_version != q.definition_version:
            continue
        path = window_path(events, end=q.end, since=q.since)
        if path is None or (q.state is not None and path.current != q.state):
            continue
        counts.patients[path.current] += 1
        counts.starts[path.start] += 1
        for s in path.steps:
            key = (s.source, s.trigger or OVERRIDE, s.dest)
            counts.traversals[key] += 1
            if s.override:
                counts.overrides[key] += 1
        if q.since is None:
            for state, days in path.days.items():
                counts.stays[state].append((days, 1))
            continue
        for state, days in ended_stays(events, since=q.since, end=q.end):
            counts.stays[state].append((days, 1))
    return counts


def cohort_overlay(
    svc: ReadSource,
    definition: str | None,
    *,
    state: str | None,
    version: str | None,
    as_of: dt.date | None,
    since: dt.date | None,
    until: dt.date | None,
) -> tuple[Definition, CohortSummary]:
    """The definition to draw and the cohort on its id (and `version`, else every version):
    `definition` a YAML path or shipped id, else the default definition, or the stored `version`
    of it when one is asked for (RenderOptionError for a state the drawn definition lacks;
    InvalidFilter naming `--version` for a version of it that the database does not know, which
    would otherwise be drawn as a cohort of 0 patients)."""
    drawn = overlay_definition(svc, definition, state=state, version=version)
    if version is not None:
        check_version(svc, drawn.metadata.id, version)
    summary = cohort_summary(
        svc,
        as_of=as_of,
        state=state,
        definition_id=drawn.metadata.id,
        definition_version=version,
        since=since,
        until=until,
    )
    return drawn, summary


def check_version(svc: ReadSource, definition_id: str, version: str) -> None:
    """Refuse a version of `definition_id` that no stored definition version and no enrolled
    patient has (`InvalidFilter` naming `--version`, its value and the known versions)."""
    from engine.queries.filters import InvalidFilter, check_definition

    with svc.uow as uow:
        conn: sa.Connection | None = getattr(uow, "connection", None)
        if conn is None:  # the in-memory fake (tests): nothing to check against
            return
        try:
            check_definition(
                conn, svc.definitions, definition_id=definition_id, definition_version=version
            )
        except InvalidFilter as exc:
            raise exc.renamed(
                {"definition_id": "definition", "definition_version": "--version"}
            ) from None


def overlay_definition(
    svc: ReadSource, definition: str | None, *, state: str | None, version: str | None
) -> Definition:
    """The definition a cohort overlay is drawn on (see `cohort_overlay`)."""
    import contextlib

    from engine.errors import DefinitionUnavailable, RenderOptionError
    from pathway.yamlio import did_you_mean

    if definition is not None:
        drawn = svc.definitions.load(definition)
    else:
        drawn = svc.definitions.default
        if version is not None and version != drawn.metadata.version:
            # unknown here: draw the default definition (the overlay says if the states differ)
            with contextlib.suppress(DefinitionUnavailable):
                drawn = svc.definitions.get(drawn.metadata.id, version)
    if state is not None and state not in drawn.state_by_id:
        raise RenderOptionError(
            f"--state: unknown state '{state}' in {drawn.metadata.id} {drawn.metadata.version}"
            f"{did_you_mean(state, drawn.state_by_id)}"
        )
    return drawn
