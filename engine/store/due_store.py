"""The stored worklist items (`due_item`): the worklist's indexed reads.

Every write to a patient stores the items `pathway.due.schedule` works out, each on the
date it falls due (now or later) if nothing new is recorded, so reading the worklist is one
index range per item kind, `priority = :k AND due_on <= :as_of ORDER BY due_on, patient_id`,
merged by priority: no log is read, nothing is derived again.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from engine.store.repository import DueRow
from engine.store.tables import due_item_table
from pathway.due import PRIORITY, DueItem
from pathway.results import construct

_COLUMNS = "patient_id, state, item, label, due_on, why, sources, seq"


def ranges_sql(
    dialect: str, as_of: dt.date, kinds: list[str], state: str | None, each: str
) -> tuple[str, list[Any]]:
    """One SELECT per item kind over the index, glued with UNION ALL (`each` is appended to
    every part: an ORDER BY … LIMIT, or nothing), for the driver of `dialect`."""
    ph = "?" if dialect == "sqlite" else "%s"
    day: Any = as_of.isoformat() if dialect == "sqlite" else as_of
    parts: list[str] = []
    params: list[Any] = []
    for kind in kinds:
        where = f"priority = {ph} AND due_on <= {ph}" + (f" AND state = {ph}" if state else "")
        inner = f"SELECT {_COLUMNS}, priority FROM due_item WHERE {where}{each}"
        parts.append(f"SELECT * FROM ({inner}) AS p{len(parts)}")
        params += [PRIORITY[kind], day, *([state] if state else [])]
    return " UNION ALL ".join(parts), params


def read_due(
    conn: sa.Connection,
    as_of: dt.date,
    kinds: list[str],
    *,
    state: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[DueItem]:
    """The due items of one page, most urgent first (priority, due date, patient)."""
    if not kinds:
        return []
    cap = f" LIMIT {int(limit) + int(offset)}" if limit is not None else ""
    each = f" ORDER BY due_on, patient_id, seq{cap}"
    union, params = ranges_sql(conn.dialect.name, as_of, kinds, state, each)
    page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
    if limit is None and offset:  # SQLite takes an OFFSET only after a LIMIT
        page = (" LIMIT -1" if conn.dialect.name == "sqlite" else "") + f" OFFSET {int(offset)}"
    sql = f"{union} ORDER BY priority, due_on, patient_id, seq{page}"
    rows = conn.exec_driver_sql(sql, tuple(params)).all()
    return [
        construct(
            DueItem,
            patient=pid,
            state=state_,
            item=item,
            label=label,
            due_on=_date(due),
            overdue_days=(as_of - _date(due)).days,
            why=why,
            sources=tuple(json.loads(sources)),
        )
        for pid, state_, item, label, due, why, sources, _seq, _priority in rows
    ]


def count_due(
    conn: sa.Connection, as_of: dt.date, kinds: list[str], *, state: str | None = None
) -> tuple[dict[str, int], int]:
    """Items due by kind (kinds with none left out), and how many patients have any: ranges of
    the same index (`priority IN (…) AND due_on <= :as_of`), read from the index alone."""
    if not kinds:
        return {}, 0
    sqlite = conn.dialect.name == "sqlite"
    ph = "?" if sqlite else "%s"
    where = f"priority IN ({', '.join([ph] * len(kinds))}) AND due_on <= {ph}"
    params: list[Any] = [PRIORITY[k] for k in kinds]
    params.append(as_of.isoformat() if sqlite else as_of)
    if state is not None:
        where += f" AND state = {ph}"
        params.append(state)
    args = tuple(params)
    found = conn.exec_driver_sql(
        f"SELECT priority, count(*) FROM due_item WHERE {where} GROUP BY priority", args
    ).all()
    by_priority = {int(p): int(n) for p, n in found}
    patients = conn.exec_driver_sql(
        f"SELECT count(DISTINCT patient_id) FROM due_item WHERE {where}", args
    ).scalar()
    counts = {k: by_priority[PRIORITY[k]] for k in kinds if by_priority.get(PRIORITY[k])}
    return counts, int(patients or 0)


def stored_due(uow: Any, patient_id: str) -> list[DueRow]:
    """A patient's stored items, in order (from the database, or a fake unit of work's store)."""
    conn = getattr(uow, "connection", None)
    if conn is None:
        return list(uow.store.due.get(patient_id, ()))
    t = due_item_table()
    rows = conn.execute(
        sa.select(
            t.c.item,
            t.c.priority,
            t.c.due_on,
            t.c.state,
            t.c.label,
            t.c.why,
            t.c.sources,
            t.c.computed_on,
        )
        .where(t.c.patient_id == patient_id)
        .order_by(t.c.seq)
    )
    return [DueRow(*r) for r in rows]


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def last_worked_out() -> sa.Select[Any]:
    """The last day any stored item was worked out (a worklist as of an earlier day would show
    items judged with what was known later)."""
    t = due_item_table()
    return sa.select(sa.func.max(t.c.computed_on))
