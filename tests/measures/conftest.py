"""Measure fixtures: a builder of one patient's FHIR resources, evaluated from FHIR dicts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from measure_support import Chart

from engine.db import init_db, make_engine


@pytest.fixture
def chart() -> Callable[..., Chart]:
    """Factory: an empty chart (a Patient born 1980-06-15)."""
    return Chart


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the latest schema: SQLite, and PostgreSQL when
    $PATHWAY_TEST_POSTGRES_URL is set (a schema of its own, dropped afterwards)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'p.db'}"
        engine = make_engine(url)
        init_db(engine)
        engine.dispose()
        yield url
        return
    base = os.environ.get("PATHWAY_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("PostgreSQL tests need $PATHWAY_TEST_POSTGRES_URL")
    schema = "pw_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(base)
    with admin.begin() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    engine = make_engine(url)
    init_db(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
