"""Shared fixtures: the shipped TRD definition and factories that build patient records.

Records are built as plain dicts (the interchange format), so a test shows exactly what a
client would send. Dates are ISO strings; the default as-of date is `AS_OF`.
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from pathway import Assessment, Definition, Facts, GuardResult, assess, derive, load_definition
from pathway.record import parse_record

AS_OF = dt.date(2026, 6, 1)
Record = dict[str, Any]


@pytest.fixture(scope="session")
def trd() -> Definition:
    """The shipped TRD pathway definition."""
    return load_definition()


@pytest.fixture
def make_trial() -> Callable[..., dict[str, Any]]:
    """Factory: a trial dict. Default: sertraline 100 mg/day from 2026-01-05, ongoing, 90% taken.

    `mg` gives a single dose held from the start; `doses=[(from, mg), ...]` gives several.
    """

    def make(
        drug: str = "sertraline",
        *,
        start: str = "2026-01-05",
        end: str | None = None,
        mg: float = 100,
        doses: list[tuple[str, float]] | None = None,
        adherence: float | None = 0.9,
        stop_reason: str | None = None,
        role: str = "antidepressant",
        **extra: Any,
    ) -> dict[str, Any]:
        steps = doses if doses is not None else [(start, mg)]
        return {
            "drug": drug,
            "role": role,
            "start": start,
            "end": end,
            "doses": [{"from": f, "mg_per_day": m} for f, m in steps],
            "adherence": adherence,
            "stop_reason": stop_reason,
            **extra,
        }

    return make


@pytest.fixture
def make_record() -> Callable[..., Record]:
    """Factory: a valid record with nothing on file but its identity; keyword overrides replace
    top-level keys (`trials=[...]`, `measurements=[...]`, `sex="male"`, ...)."""

    base: Record = {
        "id": "T-0001",
        "sex": "female",
        "birth_year": 1980,
        "episode_start": "2025-12-01",
        "severity": "moderate",
    }

    def make(**overrides: Any) -> Record:
        record = copy.deepcopy(base)
        record.update(copy.deepcopy(overrides))
        return record

    return make


@pytest.fixture
def make_score() -> Callable[..., dict[str, Any]]:
    """Factory: a measurement `{date, instrument, score}` (PHQ-9 unless told)."""

    def make(date: str, value: int, instrument: str = "PHQ-9") -> dict[str, Any]:
        return {"date": date, "instrument": instrument, "score": value}

    return make


@pytest.fixture
def evaluate(trd: Definition) -> Callable[..., Assessment]:
    """Factory: `assess` a record dict against the TRD pathway (as of AS_OF unless told)."""

    def run(record: Record, as_of: dt.date = AS_OF) -> Assessment:
        return assess(record, definition=trd, as_of=as_of)

    return run


@pytest.fixture
def facts_of(trd: Definition) -> Callable[..., Facts]:
    """Factory: the derived facts of a record dict (unrounded weeks, evidence and all)."""

    def run(record: Record, as_of: dt.date = AS_OF) -> Facts:
        parsed = parse_record(record, catalog=trd.catalog)
        return derive(parsed, as_of=as_of, params=trd.parameters, catalog=trd.catalog)

    return run


@pytest.fixture
def guard_of(evaluate: Callable[..., Assessment]) -> Callable[..., GuardResult]:
    """Factory: the guard result of one trigger from the decision state `reassess`."""

    def run(record: Record, trigger: str, as_of: dt.date = AS_OF) -> GuardResult:
        result = evaluate(record, as_of)
        return next(g for g in result.guards if g.trigger == trigger)

    return run


@pytest.fixture(scope="session")
def assess_json_problems() -> Callable[[Any], list[str]]:
    """The contract of `assess --json` (tests/contract/assess_json.py): obj → its violations."""
    path = Path(__file__).parent / "contract" / "assess_json.py"
    spec = importlib.util.spec_from_file_location("assess_json_contract", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.problems  # type: ignore[no-any-return]


# -- databases (engine, FHIR and measure tests) ------------------------------------------

PG_ENV = "PATHWAY_TEST_POSTGRES_URL"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file database at the latest schema."""
    from engine.store.db import init_db, make_engine

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
    import sqlalchemy as sa

    from engine.store.db import init_db, make_engine

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
