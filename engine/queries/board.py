"""The board: patients per state, days in state (median, p90), how many have a due item
(the SQL is in `engine.store.board_sql`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from engine.store.board_sql import counts_query, native_query

if TYPE_CHECKING:
    import sqlalchemy as sa

    from engine.queries.source import ReadSource
    from pathway.definition import Definition

Method = Literal["histogram", "percentile_cont"]


class BoardRow(BaseModel):
    """One state on the board."""

    model_config = ConfigDict(frozen=True)

    state: str
    label: str | None
    kind: str | None
    patients: int
    median_days: float | None
    p90_days: float | None
    with_due_item: int


class Board(BaseModel):
    """Patients per state as of a date, optionally for one state or definition version."""

    model_config = ConfigDict(frozen=True)

    as_of: dt.date
    definition_id: str | None
    definition_version: str | None
    state: str | None
    rows: tuple[BoardRow, ...]
    patients: int
    with_due_item: int


def percentile(hist: Sequence[tuple[int, int]], p: float) -> float | None:
    """`percentile_cont(p)` of a histogram of (value, count) sorted by value."""
    n = sum(c for _, c in hist)
    if n == 0:
        return None
    pos = p * (n - 1)
    lo = int(pos)
    frac = pos - lo

    def value_at(k: int) -> int:
        seen = 0
        for v, c in hist:
            seen += c
            if k < seen:
                return v
        return hist[-1][0]

    a = value_at(lo)
    return float(a) if frac == 0 else a + frac * (value_at(lo + 1) - a)


def compute(
    conn: sa.Connection,
    *,
    as_of: dt.date,
    state: str | None = None,
    definition_id: str | None = None,
    definition_version: str | None = None,
    definition: Definition | None = None,
    method: Method = "histogram",
) -> Board:
    """The board on an open connection. With `definition`, every state is listed in its order.

    Computed in SQL, no patient loaded: `board_count`, which the database keeps on every write,
    gives per state how many patients entered it on each day, and the percentiles come from that
    small histogram (exactly percentile_cont: days are whole numbers); patients with a due item
    are those whose `next_due_on` has come. On PostgreSQL `method="percentile_cont"` asks the
    server instead, from the enrollments (slower: it sorts every state).
    """
    where = {
        "state": state,
        "definition_id": definition_id,
        "definition_version": definition_version,
    }
    stats: dict[str, tuple[int, float | None, float | None, int]] = {}
    if method == "percentile_cont" and conn.dialect.name == "postgresql":
        for s, n, mid, high, due in conn.execute(native_query(as_of, **where)):
            stats[s] = (n, _days(mid), _days(high), due)
    else:
        # `board_count` (kept by triggers): per state, patients by days since entry, and due
        hists: dict[str, list[tuple[int, int]]] = {}
        dues: dict[str, int] = {}
        for s, kind, days, n in conn.execute(
            counts_query(as_of, dialect=conn.dialect.name, **where)
        ):
            if kind == "e":
                hists.setdefault(s, []).append((days, n))
            else:
                dues[s] = n
        for s, hist in hists.items():
            hist.sort()
            n = sum(c for _, c in hist)
            stats[s] = (
                n,
                _days(percentile(hist, 0.5)),
                _days(percentile(hist, 0.9)),
                dues.get(s, 0),
            )
    rows = _rows(stats, definition, state)
    return Board(
        as_of=as_of,
        definition_id=definition_id,
        definition_version=definition_version,
        state=state,
        rows=tuple(rows),
        patients=sum(r.patients for r in rows),
        with_due_item=sum(r.with_due_item for r in rows),
    )


def _days(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def _rows(
    stats: dict[str, tuple[int, float | None, float | None, int]],
    definition: Definition | None,
    only: str | None,
) -> list[BoardRow]:
    order: Iterable[str] = stats
    if definition is not None:
        known = [s.id for s in definition.states if only is None or s.id == only]
        order = [*known, *sorted(set(stats) - set(known))]
    out = []
    for s in order:
        n, med, p90, due = stats.get(s, (0, None, None, 0))
        st = definition.state_by_id.get(s) if definition is not None else None
        out.append(
            BoardRow(
                state=s,
                label=st.label if st else None,
                kind=st.kind if st else None,
                patients=n,
                median_days=med,
                p90_days=p90,
                with_due_item=due,
            )
        )
    return out


def board(
    svc: ReadSource,
    *,
    as_of: dt.date | None = None,
    state: str | None = None,
    definition_id: str | None = None,
    definition_version: str | None = None,
    method: Method = "histogram",
) -> Board:
    """The board from the database (as of today unless told), laid out by the definition.

    A state, definition id or version the database does not know (no stored definition version
    has it, no patient holds it) is refused (`engine.queries.filters.InvalidFilter`, naming each
    and the known values), not counted as an empty board; so is an `as_of` before the last day
    a patient entered a state (the board counts current states: it would show negative days)."""
    from engine.errors import DefinitionUnavailable
    from engine.queries.filters import as_of_issues, check_definition
    from engine.store.board_sql import last_entry
    from engine.store.uow import sql_connection

    today = svc.clock.today()
    day = as_of or today
    default = svc.definitions.default
    defn: Definition | None = default
    with svc.uow as uow:
        conn = sql_connection(uow, "the board")
        check_definition(
            conn,
            svc.definitions,
            state=state,
            definition_id=definition_id,
            definition_version=definition_version,
            issues=as_of_issues(conn, as_of, today, "a patient entered a state", last_entry()),
        )
        if definition_id is not None or definition_version is not None:
            try:
                defn = svc.definitions.get(
                    definition_id or default.metadata.id,
                    definition_version or default.metadata.version,
                )
            except DefinitionUnavailable:  # a version patients hold but no file or row gives
                defn = None  # still gets a board, unlabelled
        return compute(
            conn,
            as_of=day,
            state=state,
            definition_id=definition_id,
            definition_version=definition_version,
            definition=defn,
            method=method,
        )
