"""The coordinators' worklist from the database: the stored due items of a page, most urgent
first, and their totals (the rules that make the items are in `pathway.due`)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

from engine.queries.filters import as_of_issues, check_definition, page_issues
from engine.queries.source import ReadSource
from engine.store.due_store import count_due, last_worked_out, read_due
from engine.store.uow import sql_connection
from pathway.due import PRIORITY, DueItem


class Worklist(BaseModel):
    """The worklist as of a date: the due items of one page, most urgent first, and the totals
    over every page."""

    model_config = ConfigDict(frozen=True)

    as_of: dt.date
    items: tuple[DueItem, ...]
    patients_checked: int  # patients with at least one item due (every one of them is read)
    patients_with_items: int
    counts: dict[str, int] = {}
    offset: int = 0


def worklist(
    svc: ReadSource,
    *,
    as_of: dt.date | None = None,
    state: str | None = None,
    kinds: tuple[str, ...] | list[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
    totals: bool = True,
) -> Worklist:
    """The worklist from the database: the stored items due by `as_of` (default today), most
    urgent first, optionally of some `kinds` and in one `state`; `limit` and `offset` page it,
    `totals=False` skips counting every due item (counts and patients are then of the page).

    One indexed range per item kind (`due_item`'s (priority, due_on, patient) index) gives each
    page without reading any log; the totals are counted over the same ranges.

    An unknown item kind or state, an empty `kinds`, a `limit` below 1, a negative `offset` or
    an `as_of` before the last day items were worked out is refused
    (`engine.queries.filters.InvalidFilter`, naming each and the valid values).
    """
    today = svc.clock.today()
    bad = page_issues(kinds=kinds, allowed_kinds=tuple(PRIORITY), limit=limit, offset=offset)
    day = as_of or today
    wanted = [k for k in PRIORITY if kinds is None or k in kinds]
    with svc.uow as uow:
        conn = sql_connection(uow, "the worklist")
        bad += as_of_issues(conn, as_of, today, "items were worked out", last_worked_out())
        check_definition(conn, svc.definitions, state=state, issues=bad)
        items = read_due(conn, day, wanted, state=state, limit=limit, offset=offset)
        if totals:
            counts, patients = count_due(conn, day, wanted, state=state)
        else:
            counts = {k: n for k in wanted if (n := sum(1 for i in items if i.item == k))}
            patients = len({i.patient for i in items})
    return Worklist(
        counts=counts,
        as_of=day,
        items=tuple(items),
        patients_checked=patients,
        patients_with_items=patients,
        offset=offset,
    )
