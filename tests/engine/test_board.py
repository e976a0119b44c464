"""The board: counts, days in state (percentile_cont exactly), due items, filters, on each DB."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from engine_support import TODAY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.clock import FixedClock
from engine.queries.board import Board, compute, percentile
from engine.queries.board import board as board_of
from engine.services import Services
from engine.store.board_sql import count_drift
from engine.store.db import init_db, make_engine
from engine.store.tables import enrollment_table

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


def test_one_query_of_the_counts_and_no_patient_is_loaded(sqlite_url: str) -> None:
    insert(sqlite_url, ROWS)
    engine = make_engine(sqlite_url)
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with engine.connect() as conn:
        b = compute(conn, as_of=TODAY)
    engine.dispose()
    assert b.patients == len(ROWS)
    assert len(statements) == 1 and "FROM board_count" in statements[0]
    assert "enrollment" not in statements[0] and "event" not in statements[0]


# One write to `enrollment`: insert a new patient, move one (state, entry or due date), or delete.
_write = st.tuples(
    st.sampled_from(["insert", "update", "delete"]),
    st.integers(0, 5),  # which patient
    st.sampled_from(["reassess", "augment", "switch"]),
    st.integers(0, 3),  # entry: days before TODAY
    st.one_of(st.none(), st.integers(-2, 2)),  # next due: days from TODAY
    st.sampled_from(["1.0.0", "0.9.0"]),
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_db(request: pytest.FixtureRequest) -> Iterator[Callable[[], sa.Engine]]:
    """A factory of empty databases at the latest schema (one per hypothesis example)."""
    made: list[sa.Engine] = []
    schemas: list[str] = []

    def make() -> sa.Engine:
        if request.param == "sqlite":
            engine = make_engine("sqlite://")
        else:
            base = str(request.getfixturevalue("pg_base"))
            schemas.append("pw_" + uuid.uuid4().hex[:12])
            with sa.create_engine(base).begin() as c:
                c.exec_driver_sql(f"CREATE SCHEMA {schemas[-1]}")
            engine = make_engine(base, schema=schemas[-1])
        init_db(engine)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.dispose()
    if schemas:
        admin = sa.create_engine(str(request.getfixturevalue("pg_base")))
        with admin.begin() as c:
            for schema in schemas:
                c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(writes=st.lists(_write, max_size=25))
def test_board_count_always_equals_a_recount_of_the_enrollments(
    fresh_db: Callable[[], sa.Engine], writes: list[tuple[str, int, str, int, int | None, str]]
) -> None:
    """Whatever is written to `enrollment`, by any statement, the triggers keep the counts exact
    and keep no count of zero (`count_drift` reports one)."""
    engine = fresh_db()
    enr = enrollment_table()
    with engine.begin() as c:
        for op, i, state, days, due, version in writes:
            pid = f"H-{i}"
            values = {
                "state": state,
                "entered_state_on": TODAY - dt.timedelta(days=days),
                "next_due_on": None if due is None else TODAY + dt.timedelta(days=due),
                "updated_at": NOW,
            }
            exists = c.execute(sa.select(enr.c.version).where(enr.c.patient_id == pid)).first()
            if op == "delete" and exists:
                c.execute(sa.delete(enr).where(enr.c.patient_id == pid))
            elif exists:
                c.execute(sa.update(enr).where(enr.c.patient_id == pid).values(**values))
            elif op != "delete":
                c.execute(
                    sa.insert(enr).values(
                        patient_id=pid,
                        definition_id="trd",
                        definition_version=version,
                        version=1,
                        created_at=NOW,
                        **values,
                    )
                )
            assert count_drift(c) == []
        # one statement moving many rows at once (the bulk paths' shape)
        c.execute(sa.update(enr).values(state="reassess", entered_state_on=TODAY, next_due_on=None))
        assert count_drift(c) == []
        versions = c.execute(sa.select(sa.func.count(sa.distinct(enr.c.definition_version))))
        # everyone entered `reassess` today: one count per version left, none kept at zero
        assert c.exec_driver_sql("SELECT count(*) FROM board_count").scalar() == versions.scalar()


def test_count_drift_is_reported(sqlite_url: str) -> None:
    insert(sqlite_url, ROWS)
    engine = make_engine(sqlite_url)
    with engine.begin() as c:
        assert count_drift(c) == []
        c.exec_driver_sql("UPDATE board_count SET patients = patients + 1 WHERE state = 'augment'")
        drift = count_drift(c)
    engine.dispose()
    assert drift and all("augment" in d and "but the enrollments give" in d for d in drift)


def test_a_count_kept_at_zero_is_drift(sqlite_url: str) -> None:
    """The triggers delete a count that falls to zero; one left behind is reported."""
    engine = make_engine(sqlite_url)
    init_db(engine)
    with engine.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO board_count VALUES ('trd', '1.0.0', 'augment', 'e', '2026-01-01', 0)"
        )
        drift = count_drift(c)
    engine.dispose()
    assert drift == [
        "board count trd 1.0.0 augment (entered 2026-01-01) is 0 but the enrollments give 0"
    ]
