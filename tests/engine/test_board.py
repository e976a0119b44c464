"""The board: counts, days in state (percentile_cont exactly), due items, filters, on each DB."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from engine_support import TODAY

from engine.board import Board, compute, percentile
from engine.board import board as board_of
from engine.clock import FixedClock
from engine.db import make_engine
from engine.services import Services
from engine.tables import enrollment_table

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


def percentile_cont(values: list[int], p: float) -> float:
    """The SQL definition, on a plain sorted list."""
    v = sorted(values)
    pos = p * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


@pytest.mark.parametrize("seed", range(20))
def test_percentile_of_a_histogram_is_percentile_cont(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.randint(0, 60) for _ in range(rng.randint(1, 40))]
    hist = sorted({v: values.count(v) for v in values}.items())
    for p in (0.0, 0.1, 0.5, 0.9, 1.0):
        assert percentile(hist, p) == pytest.approx(percentile_cont(values, p))
    assert percentile([], 0.5) is None


# Each row: (state, days in state, next due: days from TODAY or None, definition version)
ROWS = [
    ("reassess", 3, -1, "1.0.0"),
    ("reassess", 10, 5, "1.0.0"),
    ("reassess", 20, -6, "1.0.0"),
    ("reassess", 40, None, "1.0.0"),
    ("augment", 7, 0, "1.0.0"),
    ("augment", 30, 20, "1.0.0"),
    ("maintenance", 100, 3, "1.0.0"),
    ("maintenance", 200, -50, "0.9.0"),
]


def insert(url: str, rows: list[tuple[str, int, int | None, str]]) -> None:
    engine = make_engine(url)
    enr = enrollment_table()
    with engine.begin() as c:
        c.execute(
            sa.insert(enr),
            [
                {
                    "patient_id": f"B-{i:03d}",
                    "definition_id": "trd",
                    "definition_version": ver,
                    "state": state,
                    "version": 1,
                    "entered_state_on": TODAY - dt.timedelta(days=days),
                    "next_due_on": None if due is None else TODAY + dt.timedelta(days=due),
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i, (state, days, due, ver) in enumerate(rows)
            ],
        )
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> str:
    url = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    insert(url, ROWS)
    return url


@pytest.fixture
def services(db: str, make_services: Callable[..., Services]) -> Services:
    return make_services(db, clock=FixedClock(TODAY))


def row(b: Board, state: str) -> tuple[int, float | None, float | None, int]:
    r = next(r for r in b.rows if r.state == state)
    return (r.patients, r.median_days, r.p90_days, r.with_due_item)


def test_board_counts_days_and_due_items(services: Services) -> None:
    b = board_of(services, as_of=TODAY)
    assert row(b, "reassess") == (4, 15.0, 34.0, 2)
    assert row(b, "augment") == (2, 18.5, 27.7, 1)
    assert row(b, "maintenance") == (2, 150.0, 190.0, 1)
    assert row(b, "switch") == (0, None, None, 0)  # every state of the definition is listed
    assert [r.state for r in b.rows][:2] == ["initial_trial", "reassess"]  # definition order
    assert b.patients == 8 and b.with_due_item == 4
    labels = {r.state: r.label for r in b.rows}
    assert labels["reassess"] == "Reassess"


def test_board_filters_by_state_and_version(services: Services) -> None:
    only = board_of(services, as_of=TODAY, state="reassess")
    assert [r.state for r in only.rows] == ["reassess"] and only.patients == 4
    old = board_of(services, as_of=TODAY, definition_version="0.9.0")
    assert old.patients == 1 and old.rows[0].state == "maintenance"  # unknown version: unlabelled
    current = board_of(services, as_of=TODAY, definition_id="trd", definition_version="1.0.0")
    assert row(current, "maintenance") == (1, 100.0, 100.0, 0)


def test_due_counts_move_with_the_date(services: Services) -> None:
    later = board_of(services, as_of=TODAY + dt.timedelta(days=5))
    assert later.with_due_item == 6  # the item due in 5 days, and the one due in 3
    assert row(later, "reassess")[1] == 20.0  # days in state grow too


@pytest.mark.postgres
def test_postgres_percentile_cont_agrees_with_the_histogram(
    pg_url: str, make_services: Callable[..., Services]
) -> None:
    rng = random.Random(3)
    rows = [
        (
            rng.choice(["reassess", "augment", "switch"]),
            rng.randint(0, 400),
            rng.choice([None, -3, 4]),
            "1.0.0",
        )
        for _ in range(500)
    ]
    insert(pg_url, rows)
    svc = make_services(pg_url, clock=FixedClock(TODAY))
    native = board_of(svc, as_of=TODAY, method="percentile_cont")
    histogram = board_of(svc, as_of=TODAY, method="histogram")
    assert native == histogram


def test_two_grouped_queries_and_no_patient_is_loaded(sqlite_url: str) -> None:
    insert(sqlite_url, ROWS)
    engine = make_engine(sqlite_url)
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with engine.connect() as conn:
        b = compute(conn, as_of=TODAY)
    engine.dispose()
    assert b.patients == len(ROWS)
    assert len(statements) == 2 and all("GROUP BY" in s for s in statements)
    assert not any("event" in s for s in statements)
    histogram, due = statements
    assert "entered_state_on" in histogram and "next_due_on" not in histogram
    assert "next_due_on <=" in due and "IN (" in due


@pytest.mark.parametrize("version", [None, "1.0.0"])
def test_the_board_reads_only_its_covering_indexes_on_sqlite(
    sqlite_url: str, version: str | None
) -> None:
    """Each board query is answered from one of the two enrollment indexes, no table lookups."""
    from engine.board import due_by_state_query, histogram_query

    insert(sqlite_url, ROWS)
    engine = make_engine(sqlite_url)
    queries = {
        "ix_enrollment_state_entered": histogram_query(definition_version=version),
        "ix_enrollment_state_due": due_by_state_query(
            TODAY, states=["augment", "reassess"], definition_version=version
        ),
    }
    with engine.connect() as c:
        for index, query in queries.items():
            sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            plan = " ".join(r[3] for r in c.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            assert f"COVERING INDEX {index}" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
    engine.dispose()
