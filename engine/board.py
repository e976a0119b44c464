"""The board: patients per state, days in state (median, p90), how many have a due item."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from pathway.definition import Definition

if TYPE_CHECKING:
    import sqlalchemy as sa
    import typer
    from rich.console import Console

    from engine.services import Services

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

    from engine.tables import board_count_table

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

    from engine.tables import enrollment_table

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

    from engine.tables import board_count_table

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

    from engine.tables import enrollment_table

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


def _date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


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
    svc: Services,
    *,
    as_of: dt.date | None = None,
    state: str | None = None,
    definition_id: str | None = None,
    definition_version: str | None = None,
    method: Method = "histogram",
) -> Board:
    """The board from the database (as of today unless told), laid out by the definition."""
    from engine.errors import DefinitionUnavailable

    day = as_of or svc.clock.today()
    defn = svc.definitions.default
    if definition_id is not None or definition_version is not None:
        try:
            defn = svc.definitions.get(
                definition_id or defn.metadata.id, definition_version or defn.metadata.version
            )
        except DefinitionUnavailable:  # an unknown version still gets a board, unlabelled
            defn = None  # type: ignore[assignment]
    with svc.uow as uow:
        conn: sa.Connection = uow.connection  # type: ignore[attr-defined]
        return compute(
            conn,
            as_of=day,
            state=state,
            definition_id=definition_id,
            definition_version=definition_version,
            definition=defn,
            method=method,
        )


def render(result: Board, console: Console) -> None:
    """The board as a table."""
    from rich.table import Table

    scope = " ".join(
        x
        for x in (
            result.definition_id,
            result.definition_version,
            f"state {result.state}" if result.state else None,
        )
        if x
    )
    title = f"Board as of {result.as_of.isoformat()}{' — ' + scope if scope else ''}"
    table = Table(title=title, title_justify="left")
    for name in ("state", "kind", "patients", "median days", "p90 days", "with a due item"):
        table.add_column(name, justify="left" if name in ("state", "kind") else "right")
    for r in result.rows:
        med = "—" if r.median_days is None else f"{r.median_days:g}"
        p90 = "—" if r.p90_days is None else f"{r.p90_days:g}"
        table.add_row(
            r.label or r.state, r.kind or "", str(r.patients), med, p90, str(r.with_due_item)
        )
    table.add_row("total", "", str(result.patients), "", "", str(result.with_due_item))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `pathway board [--state S] [--version V] [--as-of D] [--json] [--db URL]`."""
    import typer as _typer

    from engine.cli_common import dump_json, handle_errors, out

    def board_command(
        state: str | None = _typer.Option(None, "--state", help="Only this state."),
        version: str | None = _typer.Option(None, "--version", help="Definition version."),
        definition_id: str | None = _typer.Option(None, "--definition", help="Definition id."),
        as_of: str | None = _typer.Option(None, "--as-of", help="Date YYYY-MM-DD (today)."),
        db: str | None = _typer.Option(None, "--db", help="Database URL or SQLite file."),
        json_out: bool = _typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Patients per state, days in state (median, 90th percentile), how many have a due item."""
        from engine.cli_engine import parse_date, services

        with services(db) as svc:
            result = board(
                svc,
                as_of=parse_date(as_of, "--as-of"),
                state=state,
                definition_id=definition_id,
                definition_version=version,
            )
        if json_out:
            dump_json(result)
        else:
            render(result, out)

    app.command("board")(handle_errors(board_command))
