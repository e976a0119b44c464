"""Every measure per definition version and overall, from one scan of the log: what the web
app's quality pages (and `/api/v1/quality/measures`) show, before small-cell suppression."""

from __future__ import annotations

import datetime as dt
import gc
from typing import Any

from engine.measures.logic import Period
from engine.measures.registry import GROUPS, MEASURES
from engine.measures.report import POPULATIONS, score
from engine.measures.sources import from_connection
from engine.measures.valuesets import ValueSets

OVERALL = "*overall*"


def measures_by_version(
    conn: Any,
    *,
    period: Period,
    today: dt.date,
    vs: ValueSets | None = None,
) -> dict[str, Any]:
    """Each measure's groups (in the published order) with their populations and rate, per
    definition version and overall, over every patient of the database on `conn`.

    One ordered scan of the event log (`from_connection`, trial facts included: CMS128 needs
    them); every patient goes through every measure once. Counts are exactly `evaluate`'s
    (`pathway measure --db`) for the same period and `today`.
    """
    vs = vs or ValueSets()
    counts: dict[tuple[str, str, str], dict[str, int]] = {}
    versions: set[str] = set()
    paused = gc.isenabled()
    gc.disable()  # perf-notes: the cyclic collector dominates bulk object building
    try:
        for p in from_connection(conn, today=today, medications=True):
            version = p.version or "?"
            versions.add(version)
            for mid, fn in MEASURES.items():
                for r in fn(p, period, vs):
                    for key in ((mid, r.group, version), (mid, r.group, OVERALL)):
                        tally = counts.get(key)
                        if tally is None:
                            tally = counts[key] = dict.fromkeys(POPULATIONS, 0)
                        for k in POPULATIONS:
                            tally[k] += r.populations[k]
    finally:
        if paused:
            gc.enable()
    order = sorted(versions, key=_version_key)

    def cell(mid: str, group: str, version: str) -> dict[str, Any]:
        c = counts.get((mid, group, version)) or dict.fromkeys(POPULATIONS, 0)
        return {"populations": c, "score": score(c)}

    return {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "versions": order,
        "measures": [
            {
                "measure": mid,
                "groups": [
                    {
                        "id": g,
                        "versions": {v: cell(mid, g, v) for v in order},
                        "overall": cell(mid, g, OVERALL),
                    }
                    for g in GROUPS[mid]
                ],
            }
            for mid in MEASURES
        ],
    }


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    """1.10.0 after 1.9.0; a part that is not a number sorts after the numbers."""
    return tuple((int(x), "") if x.isdigit() else (1 << 30, x) for x in version.split("."))


def data_version(conn: Any) -> tuple[int, int]:
    """What identifies the data the measures read: (patients, their versions summed). Every
    event, enrollments included, adds one to a patient's version, and the log is append-only,
    so any write changes it (a cache key, read in one small scan of `enrollment`)."""
    import sqlalchemy as sa

    from engine.store.tables import enrollment_table

    en = enrollment_table()
    n, total = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(en.c.version), 0))
    ).one()
    return int(n), int(total)
