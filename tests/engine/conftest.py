"""Engine fixtures: clocks, services on each backend (in-memory fake, SQLite file, PostgreSQL;
the databases come from tests/conftest.py).

PostgreSQL tests need $PATHWAY_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test);
each test run works in its own schema, dropped at the end. Without the variable they skip, unless
$PATHWAY_REQUIRE_POSTGRES is set (CI), where a skip is a failure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from engine_support import TODAY, registry

from engine.clock import FixedClock
from engine.services import Services
from engine.store.db import make_engine
from engine.store.fake import FakeUnitOfWork
from engine.store.uow import SqlUnitOfWork


@pytest.fixture
def clock() -> FixedClock:
    """A clock standing at noon UTC on TODAY."""
    return FixedClock(TODAY)


@pytest.fixture
def record_factory() -> Callable[..., dict[str, Any]]:
    """Factory: a valid record dict; by default an ongoing sertraline trial started 60 days ago
    at 100 mg/day with a baseline PHQ-9 (its evaluation window, 6 weeks, has been reached)."""

    def make(patient_id: str = "P-0001", **overrides: Any) -> dict[str, Any]:
        start = (TODAY - dt.timedelta(days=60)).isoformat()
        rec: dict[str, Any] = {
            "id": patient_id,
            "sex": "female",
            "birth_year": 1980,
            "episode_start": "2025-12-01",
            "severity": "moderate",
            "trials": [
                {
                    "drug": "sertraline",
                    "start": start,
                    "doses": [{"from": start, "mg_per_day": 100}],
                    "adherence": 0.9,
                }
            ],
            "measurements": [{"date": start, "instrument": "PHQ-9", "score": 18}],
        }
        rec.update(overrides)
        return rec

    return make


# -- databases ----------------------------------------------------------------------------


@pytest.fixture
def make_services(clock: FixedClock) -> Iterator[Callable[..., Services]]:
    """Factory: Services on 'fake', or on a database URL; engines are disposed afterwards."""
    engines: list[sa.Engine] = []
    made: list[Services] = []

    def make(backend: str = "fake", **kwargs: Any) -> Services:
        if backend == "fake":
            store = kwargs.pop("store", None)
            return Services(
                FakeUnitOfWork(store), clock=kwargs.pop("clock", clock), definitions=registry()
            )
        engine = make_engine(backend)
        engines.append(engine)
        svc = Services(
            SqlUnitOfWork(engine), clock=kwargs.pop("clock", clock), definitions=registry()
        )
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()
    for e in engines:
        e.dispose()


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn: 'fake', a SQLite URL, a PostgreSQL URL."""
    if request.param == "fake":
        return "fake"
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def svc(backend: str, make_services: Callable[..., Services]) -> Services:
    """Services on each backend in turn."""
    return make_services(backend)
