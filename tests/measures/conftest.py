"""Measure fixtures: a builder of one patient's FHIR resources, evaluated from FHIR dicts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from measure_support import Chart


@pytest.fixture
def chart() -> Callable[..., Chart]:
    """Factory: an empty chart (a Patient born 1980-06-15)."""
    return Chart


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database at the latest schema: SQLite, and PostgreSQL (tests/conftest.py)."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))
