"""The caseload list: one row per patient from the stored summary on `enrollment`.

`caseload(svc, state=…, flag=…, due=…, sort=…, limit=…, offset=…)` is one SELECT of the
columns every write keeps (`engine.store.summary`) plus one COUNT, run through the driver: no log is
read and nothing is derived, so a page costs the same at 100 patients as at 100,000. Days in
state and weeks at dose are counted from the stored dates at read time.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from engine.store.summary import FLAG_BITS, FLAGS
from pathway.results import construct

if TYPE_CHECKING:
    from engine import Services

Flag = Literal[
    "incomplete_trial",
    "bipolar_features",
    "medical_contributor",
    "substance_use",
    "active_stressor",
    "risk",
    "not_improving",
]
Due = Literal["now", "week", "none"]
Sort = Literal["patient", "state", "days", "dose", "change", "last_score", "due", "contact"]
# sort key → (column, nulls sort as…); ties broken by patient id
SORTS: dict[str, str] = {
    "patient": "patient_id",
    "state": "state",
    "days": "entered_state_on",
    "dose": "dose_since",
    "change": "score_change_pct",
    "last_score": "last_score",
    "due": "next_due_on",
    "contact": "last_contact_on",
}
# a date column's "more days" is an earlier date: `days` and `dose` sort the other way
_REVERSED = frozenset(("days", "dose"))
COLUMNS = (
    "patient_id",
    "state",
    "entered_state_on",
    "dose_since",
    "score_instrument",
    "baseline_score",
    "baseline_on",
    "last_score",
    "last_on",
    "score_change_pct",
    "flags",
    "not_improving_on",
    "next_due_item",
    "next_due_on",
    "last_contact_on",
)


class CaseloadRow(BaseModel):
    """One patient on the caseload list (pseudonymous id only)."""

    model_config = ConfigDict(frozen=True)

    patient_id: str
    state: str
    entered_state_on: dt.date
    days_in_state: int
    weeks_at_dose: float | None
    instrument: str | None
    baseline_score: int | None
    baseline_on: dt.date | None
    last_score: int | None
    last_on: dt.date | None
    change_pct: int | None
    flags: list[Flag]
    next_due_item: str | None
    next_due_on: dt.date | None
    last_contact_on: dt.date | None


class Page(BaseModel):
    """One page of the caseload list and the number of patients matching the filters."""

    model_config = ConfigDict(frozen=True)

    as_of: dt.date
    total: int
    limit: int
    offset: int
    sort: str
    descending: bool
    rows: list[CaseloadRow]


def caseload_sql(
    dialect: str,
    *,
    as_of: dt.date,
    state: str | None = None,
    flag: str | None = None,
    due: str | None = None,
    sort: str = "patient",
    descending: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[str, str, list[Any]]:
    """The page's SELECT, the COUNT, and their parameters (driver placeholders)."""
    sqlite = dialect == "sqlite"
    ph = "?" if sqlite else "%s"
    day: Any = as_of.isoformat() if sqlite else as_of
    where: list[str] = []
    params: list[Any] = []
    if state is not None:
        where.append(f"state = {ph}")
        params.append(state)
    if flag == "not_improving":
        where.append(f"not_improving_on <= {ph}")
        params.append(day)
    elif flag is not None:
        where.append(f"(flags & {int(FLAG_BITS[flag])}) <> 0")
    if due == "now":
        where.append(f"next_due_on <= {ph}")
        params.append(day)
    elif due == "week":
        week = as_of + dt.timedelta(days=7)
        where.append(f"next_due_on <= {ph}")
        params.append(week.isoformat() if sqlite else week)
    elif due == "none":
        where.append("next_due_on IS NULL")
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    col = SORTS[sort]
    down = descending != (sort in _REVERSED)
    order = f"{col} {'DESC' if down else 'ASC'}"
    if col != "patient_id":
        # NULLs last either way (SQLite and PostgreSQL disagree on the default)
        order = f"{col} IS NULL, {order}, patient_id"
    select = (
        f"SELECT {', '.join(COLUMNS)} FROM enrollment{clause} ORDER BY {order} "
        f"LIMIT {int(limit)} OFFSET {int(offset)}"
    )
    count = f"SELECT count(*) FROM enrollment{clause}"
    return select, count, params


def caseload(
    svc: Services,
    *,
    state: str | None = None,
    flag: str | None = None,
    due: str | None = None,
    sort: str = "patient",
    descending: bool = False,
    as_of: dt.date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """One page of the caseload list (see the module docstring)."""
    day = as_of or svc.clock.today()
    with svc.uow as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        select, count, params = caseload_sql(
            conn.dialect.name,
            as_of=day,
            state=state,
            flag=flag,
            due=due,
            sort=sort,
            descending=descending,
            limit=limit,
            offset=offset,
        )
        cur = conn.connection.dbapi_connection.cursor()  # the driver: no per-row type work
        try:
            cur.execute(select, params)
            rows = cur.fetchall()
            cur.execute(count, params)
            total = int(cur.fetchone()[0])
        finally:
            cur.close()
    return construct(  # trusted values, built here: no validation on the read path
        Page,
        as_of=day,
        total=total,
        limit=limit,
        offset=offset,
        sort=sort,
        descending=descending,
        rows=[_row(r, day) for r in rows],
    )


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return _iso(value)


_iso = dt.date.fromisoformat


def _row(r: Any, day: dt.date) -> CaseloadRow:
    (pid, state, entered, dose, instrument, base, base_on, last, last_on, change, flags, ni_on,
     item, due_on, contact) = r  # fmt: skip
    entered_on, dose_on, ni = _date(entered), _date(dose), _date(ni_on)
    if entered_on is None:
        raise ValueError(f"enrollment {pid} has no entered_state_on")
    bits = int(flags or 0)
    names: list[Any] = [f for f, b in FLAG_BITS.items() if bits & b]
    if ni is not None and ni <= day:
        names.append("not_improving")
    return construct(
        CaseloadRow,
        patient_id=pid,
        state=state,
        entered_state_on=entered_on,
        days_in_state=(day - entered_on).days,
        weeks_at_dose=None if dose_on is None else round((day - dose_on).days / 7, 1),
        instrument=instrument,
        baseline_score=base,
        baseline_on=_date(base_on),
        last_score=last,
        last_on=_date(last_on),
        change_pct=change,
        flags=sorted(names, key=FLAGS.index),
        next_due_item=item,
        next_due_on=_date(due_on),
        last_contact_on=_date(contact),
    )
