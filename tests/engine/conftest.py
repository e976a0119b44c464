"""Engine fixtures: clocks, services on each backend (in-memory fake, SQLite file, PostgreSQL).

PostgreSQL tests need $PATHWAY_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test);
each test run works in its own schema, dropped at the end. Without the variable they skip, unless
$PATHWAY_REQUIRE_POSTGRES is set (CI), where a skip is a failure.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from engine_support import PG_ENV, TODAY, registry

from engine.clock import FixedClock
from engine.db import init_db, make_engine
from engine.fake import FakeUnitOfWork
from engine.services import Services
from engine.uow import SqlUnitOfWork


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
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file database at the latest schema."""
    url = f"sqlite:///{tmp_path / 'pathway.db'}"
    engine = make_engine(url)
    init_db(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def pg_base() -> Iterator[str]:
    """The PostgreSQL server URL with a schema of its own for this test run."""
    base = os.environ.get(PG_ENV)
    if not base:
        if os.environ.get("PATHWAY_REQUIRE_POSTGRES"):
            pytest.fail(f"${PG_ENV} is not set but PATHWAY_REQUIRE_POSTGRES is")
        pytest.skip(
            f"PostgreSQL tests need ${PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    yield base


@pytest.fixture
def pg_url(pg_base: str) -> Iterator[str]:
    """A fresh schema on the PostgreSQL server, as a URL whose search_path points at it."""
    schema = "pw_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(pg_base)
    with admin.begin() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in pg_base else "?"
    url = f"{pg_base}{sep}options={quote(f'-csearch_path={schema}')}"
    engine = make_engine(url)
    init_db(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


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
