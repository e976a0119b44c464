"""Operations: the probes a load balancer calls (no login, no audit row, no patient data), and a
database outage answered 503 with Retry-After instead of a 422 "invalid input"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from engine import FixedClock, Services, make_engine
from engine.store.db import DatabaseUnavailable, ValueRefused
from engine.web import create_app
from engine.web.accounts import Role
from tests.web.api.conftest import PATIENT, TODAY, Clinic, seed


def _audit_rows(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM access_audit").scalar() or 0)
    finally:
        engine.dispose()


def clinic_on(url: str) -> Clinic:
    """A seeded clinic (tests/web/api/conftest.py) on a database URL."""
    tokens = seed(url)
    return Clinic(url, create_app(url, clock=FixedClock(TODAY)), tokens)


def dispose(clinic: Clinic) -> None:
    state = clinic.app.state
    for engine in (state.web.engine, state.web.accounts.engine, state.web.accounts.audit_engine):
        engine.dispose()
    state.probe_engine.dispose()


@pytest.fixture
def probed(sqlite_url: str) -> Iterator[Clinic]:
    clinic = clinic_on(sqlite_url)
    yield clinic
    dispose(clinic)


def test_probes_need_no_login_and_write_no_audit_row(probed: Clinic) -> None:
    before = _audit_rows(probed.url)
    client = probed.api(None)
    live = client.get("/healthz")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ok", "database": "ok", "schema": "0011"}
    assert "set-cookie" not in ready.headers and ready.headers["cache-control"] == "no-store"
    assert _audit_rows(probed.url) == before


def test_readyz_says_database_unavailable(probed: Clinic) -> None:
    probed.app.state.probe_engine.dispose()
    # nothing listens on port 1: connecting fails at once
    probed.app.state.probe_engine = sa.create_engine("postgresql+psycopg://x:pw@127.0.0.1:1/x")
    client = probed.api(None)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "database": "unavailable"}
    assert "127.0.0.1" not in r.text and "pw" not in r.text
    assert client.get("/healthz").status_code == 200  # liveness never asks the database


def test_readyz_says_schema_mismatch(probed: Clinic) -> None:
    engine = make_engine(probed.url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0009'")
    engine.dispose()
    r = probed.api(None).get("/readyz")
    assert r.status_code == 503
    assert r.json() == {
        "status": "unavailable",
        "database": "ok",
        "schema": "0009",
        "expected": "0011",
    }


def _down(*_args: Any, **_kwargs: Any) -> Any:
    raise DatabaseUnavailable(
        "cannot open the database postgresql+psycopg://app:***@db/x: connection refused"
    )


def test_database_down_is_503_with_retry_after(
    probed: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Services, "status", _down)
    r = probed.api(Role.coordinator).get(f"/api/v1/patients/{PATIENT}")
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5"
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Service unavailable" and "app" not in r.json()["detail"]
    page = probed.browser(Role.coordinator).get(f"/patients/{PATIENT}")
    assert page.status_code == 503 and page.headers["retry-after"] == "5"
    assert "text/html" in page.headers["content-type"]


def test_value_the_database_refused_stays_422(
    probed: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise ValueRefused("the database sqlite:///x refused a value: too long")

    monkeypatch.setattr(Services, "status", refused)
    r = probed.api(Role.coordinator).get(f"/api/v1/patients/{PATIENT}")
    assert r.status_code == 422, r.text
