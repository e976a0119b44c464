"""The board's SQL: counts per state and day from `board_count`, the PostgreSQL percentile
query over the enrollments, and the recount `verify` compares the kept counts with."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlalchemy as sa


def _filters(
    table: sa.Table, state: str | None, definition_id: str | None, definition_version: str | None
) -> list[sa.ColumnElement[bool]]:
    out: list[sa.ColumnElement[bool]] = []
    if state is not None:
        out.append(table.c.state == state)
    if definition_id is not None:
        out.append(table.c.definition_id == definition_id)
    if definition_version is not None:
        out.append(table.c.definition_version == definition_version)
    return out


def counts_query(
    as_of: dt.date,
    *,
    dialect: str,
    state: str | None = None,
    definition_id: str | None = None,
    definition_version: str | None = None,
) -> sa.CompoundSelect[str, str, int, int]:
    """From `board_count`, per state: ('e', days since entry, patients) for each entry day, and
    ('d', 0, patients due by `as_of`); counts that sum to zero are left out. Days and due
    counts are worked out in SQL, so no date reaches Python."""
    import sqlalchemy as sa

    from engine.store.tables import board_count_table

    bc = board_count_table()
    n = sa.func.sum(bc.c.patients)
    where = _filters(bc, state, definition_id, definition_version)
    if dialect == "postgresql":
        between = sa.literal(as_of, sa.Date) - bc.c.day
    else:
        between = sa.func.julianday(sa.literal(as_of.isoformat())) - sa.func.julianday(bc.c.day)
    days = sa.cast(between, sa.Integer)
    entered = (
        sa.select(bc.c.state, sa.literal("e"), days, n)
        .where(bc.c.day_kind == "e", *where)
        .group_by(bc.c.state, bc.c.day)
        .having(n != 0)
    )
    due = (
        sa.select(bc.c.state, sa.literal("d"), sa.literal(0), n)
        .where(bc.c.day_kind == "d", bc.c.day <= as_of, *where)
        .group_by(bc.c.state)
    )
    return sa.union_all(entered, due)


def recount_query() -> sa.Select[str, str, str, str, dt.date, int]:
    """What `board_count` must hold, counted from the enrollments (for `verify`)."""
    import sqlalchemy as sa

    from engine.store.tables import enrollment_table

    enr = enrollment_table()
    parts = []
    for kind, column in (("e", enr.c.entered_state_on), ("d", enr.c.next_due_on)):
        keys = (enr.c.definition_id, enr.c.definition_version, enr.c.state, column)
        parts.append(
            sa.select(*keys[:3], sa.literal(kind).label("day_kind"), column.label("day"))
            .add_columns(sa.func.count().label("patients"))
            .where(column.is_not(None))
            .group_by(*keys)
        )
    return sa.union_all(*parts)  # type: ignore[return-value]


_CountKey = tuple[str, str, str, str, dt.date]  # definition, version, state, kind, day


def count_drift(conn: sa.Connection) -> list[str]:
    """Where `board_count` disagrees with the enrollments (empty when it is exact).

    A stored count of zero is drift too: the triggers delete a count that falls to zero
    (migration 0006), so the rows the board reads do not grow with time."""
    import sqlalchemy as sa

    from engine.store.tables import board_count_table

    bc = board_count_table()
    stored = sa.select(
        bc.c.definition_id,
        bc.c.definition_version,
        bc.c.state,
        bc.c.day_kind,
        bc.c.day,
        bc.c.patients,
    )
    have: dict[_CountKey, int] = {
        (a, b, c, d, _date(e)): n for a, b, c, d, e, n in conn.execute(stored)
    }
    want: dict[_CountKey, int] = {
        (a, b, c, d, _date(e)): n for a, b, c, d, e, n in conn.execute(recount_query())
    }
    kinds = {"e": "entered", "d": "next due"}
    out = []
    for key in sorted(set(have) | set(want)):
        if have.get(key, 0) != want.get(key, 0) or have.get(key) == 0:
            definition, version, state, kind, day = key
            out.append(
                f"board count {definition} {version} {state} ({kinds[kind]} {day.isoformat()}) "
                f"is {have.get(key, 0)} but the enrollments give {want.get(key, 0)}"
            )
    return out


def native_query(
    as_of: dt.date,
    *,
    state: str | None = None,
    definition_id: str | None = None,
    definition_version: str | None = None,
) -> sa.Select[str, int, float, float, int]:
    """PostgreSQL only: per state, count, percentile_cont(0.5 and 0.9) of days, due items."""
    import sqlalchemy as sa

    from engine.store.tables import enrollment_table

    enr = enrollment_table()
    days = sa.literal(as_of, sa.Date) - enr.c.entered_state_on
    return (
        sa.select(
            enr.c.state,
            sa.func.count(),
            sa.func.percentile_cont(0.5).within_group(days),
            sa.func.percentile_cont(0.9).within_group(days),
            sa.func.count().filter(enr.c.next_due_on <= as_of),
        )
        .where(*_filters(enr, state, definition_id, definition_version))
        .group_by(enr.c.state)
    )


def _date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def last_entry() -> sa.Select[Any]:
    """The last day a patient counted on the board entered their state (a board as of an
    earlier day would show negative days in a state)."""
    import sqlalchemy as sa

    from engine.store.tables import board_count_table

    bc = board_count_table()
    return sa.select(sa.func.max(bc.c.day)).where(bc.c.day_kind == "e")
