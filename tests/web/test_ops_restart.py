"""Operations: a PostgreSQL restart under a running app (simulated by terminating this app's
server backends). Every request after it is answered: the pools test a connection when they
hand it out (`pool_pre_ping`) and each request thread tests the connection it keeps; before,
the first request failed 500 and every later one of each thread 422 until the app restarted."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from engine.web.accounts import Role
from tests.web.api.conftest import PATIENT
from tests.web.test_ops_health import clinic_on, dispose

pytestmark = pytest.mark.postgres


@pytest.fixture
def named_pg(pg_url: str) -> Iterator[tuple[str, str]]:
    """The test's PostgreSQL URL with an application_name of its own (to find its backends)."""
    name = "pw_ops_" + uuid.uuid4().hex[:10]
    yield f"{pg_url}&application_name={quote(name)}", name


def terminate(url: str, name: str) -> int:
    admin = sa.create_engine(url.split("?")[0], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            killed = conn.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid()",
                (name,),
            ).scalar()
    finally:
        admin.dispose()
    return int(killed or 0)


def test_requests_recover_after_a_server_restart(named_pg: tuple[str, str]) -> None:
    url, name = named_pg
    clinic = clinic_on(url)
    try:
        api = clinic.api(Role.coordinator)
        page = clinic.browser(Role.coordinator)
        for _ in range(3):
            assert api.get(f"/api/v1/patients/{PATIENT}").status_code == 200
            assert page.get(f"/patients/{PATIENT}").status_code == 200
        assert clinic.api(None).get("/readyz").status_code == 200
        assert terminate(url, name) >= 2  # the request, account, audit and probe connections
        for _ in range(6):
            r = api.get(f"/api/v1/patients/{PATIENT}")
            assert r.status_code == 200, r.text
            assert page.get(f"/patients/{PATIENT}").status_code == 200
        assert clinic.api(None).get("/readyz").status_code == 200
    finally:
        dispose(clinic)


def test_pooled_connections_are_pinged(named_pg: tuple[str, str]) -> None:
    from engine import make_engine

    url, name = named_pg
    engine = make_engine(url, create=False, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert terminate(url, name) == 1
        with engine.connect() as conn:  # the pooled one was dead: a new one is made
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()


def test_a_library_services_recovers_after_a_server_restart(named_pg: tuple[str, str]) -> None:
    """Another app holding `Services` (no web app, no per-request ping): the call that meets the
    dead connection fails, and the unit of work gives that connection up, so the next call works
    (before, the driver's own error left it in place and every later call failed)."""
    from engine import Services

    url, name = named_pg
    svc = Services.from_url(url)
    try:
        svc.enroll("OPS-1", actor="ops")
        assert svc.status("OPS-1").state
        assert terminate(url, name) >= 1
        with contextlib.suppress(Exception):  # this one may fail: its connection died under it
            svc.status("OPS-1")
        assert svc.status("OPS-1").patient_id == "OPS-1"
        assert svc.status("OPS-1").patient_id == "OPS-1"
    finally:
        svc.close()
