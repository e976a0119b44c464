"""Session policy: a session ends after `idle` minutes without a request (30 by default,
`--idle-minutes`), 12 hours after login whatever happens, and the login page says why; its
last-seen instant is written at most once a minute. The clinic's clock is moved, never slept."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine.web.accounts import AccountError, sha256
from engine.web.deps import Role
from tests.web.api.conftest import PASSWORD, PATIENT, Clinic

MINUTE = 60


def _last_seen(clinic: Clinic, cookie: str) -> dt.datetime | None:
    s = clinic.accounts.sessions
    with clinic.accounts.engine.connect() as conn:
        found: dt.datetime | None = conn.execute(
            sa.select(s.c.last_seen_at).where(s.c.sha256 == sha256(cookie))
        ).scalar_one_or_none()
    return found


def _session_rows(clinic: Clinic, cookie: str) -> int:
    s = clinic.accounts.sessions
    with clinic.accounts.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(s).where(s.c.sha256 == sha256(cookie))
            ).scalar_one()
        )


def test_a_session_unused_for_30_minutes_ends_and_the_login_page_says_so(clinic: Clinic) -> None:
    client = clinic.browser(Role.coordinator)
    cookie = client.cookies["pathway_session"]
    clinic.clock.advance(seconds=29 * MINUTE)
    assert client.get("/caseload").status_code == 200
    clinic.clock.advance(seconds=29 * MINUTE)  # 58 minutes after login, 29 after its last use
    assert client.get("/caseload").status_code == 200
    clinic.clock.advance(seconds=30 * MINUTE)
    r = client.get("/worklist?kind=urgent_risk")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/worklist%3Fkind%3Durgent_risk&idle=1"
    assert _session_rows(clinic, cookie) == 0  # ended for good, not merely refused
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    assert "You were signed out after 30 minutes without activity" in page.text
    assert 'name="next" value="/worklist?kind=urgent_risk"' in page.text
    # after logging in again, back to the page asked for
    r = client.post(
        "/login",
        data={
            "username": "user-coordinator",
            "password": PASSWORD,
            "csrf_token": client.cookies.get("pathway_csrf"),
            "next": "/worklist?kind=urgent_risk",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/worklist?kind=urgent_risk"
    assert client.get("/worklist?kind=urgent_risk").status_code == 200


def test_an_htmx_request_after_the_session_went_idle_sends_the_page_to_login(
    clinic: Clinic,
) -> None:
    client = clinic.browser(Role.coordinator)
    clinic.clock.advance(seconds=30 * MINUTE)
    r = client.get("/caseload?sort=days", headers={"HX-Request": "true"})
    assert r.status_code == 401  # not the login page swapped into the list
    assert r.headers["hx-redirect"] == "/login?next=/caseload%3Fsort%3Ddays&idle=1"


def test_the_login_page_does_not_say_idle_for_a_session_that_was_not(clinic: Clinic) -> None:
    anonymous = clinic.browser(None)
    r = anonymous.get("/caseload")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/caseload"
    assert "without activity" not in anonymous.get(r.headers["location"]).text


def test_the_api_answers_an_idle_session_as_it_answers_an_expired_one(clinic: Clinic) -> None:
    expired = clinic.browser(Role.coordinator)
    clinic.clock.advance(seconds=12 * 60 * MINUTE)  # its 12 hours are over
    gone = expired.get(f"/api/v1/patients/{PATIENT}")
    idle = clinic.browser(Role.clinician)
    assert idle.get(f"/api/v1/patients/{PATIENT}").status_code == 200
    clinic.clock.advance(seconds=30 * MINUTE)
    r = idle.get(f"/api/v1/patients/{PATIENT}")
    assert r.status_code == gone.status_code == 401
    assert r.headers["www-authenticate"] == gone.headers["www-authenticate"] == "Bearer"
    assert r.headers["content-type"] == gone.headers["content-type"]
    assert r.json() == gone.json()


def test_a_form_sent_after_the_session_went_idle_says_both(clinic: Clinic) -> None:
    admin = clinic.browser(Role.admin)
    csrf = (clinic.accounts.session(admin.cookies["pathway_session"]) or ("", ""))[1]
    clinic.clock.advance(seconds=45 * MINUTE)
    r = admin.post(
        "/admin/users",
        data={"csrf_token": csrf, "name": "late", "role": "quality", "password": "x" * 20},
        headers={"referer": "http://testserver/admin"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/admin&ended=1&idle=1"
    page = admin.get(r.headers["location"]).text
    assert "signed out after 30 minutes without activity" in page
    assert "The form you sent was not saved." in page
    assert "late" not in [u["name"] for u in clinic.accounts.list_users()]


def test_the_last_seen_instant_is_written_at_most_once_a_minute(clinic: Clinic) -> None:
    client = clinic.browser(Role.coordinator)
    cookie = client.cookies["pathway_session"]
    login_at = clinic.clock.now()
    assert _last_seen(clinic, cookie) == login_at
    writes: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE WEB_SESSION"):
            writes.append(statement)

    sa.event.listen(clinic.accounts.engine, "before_cursor_execute", count)
    try:
        for _ in range(5):  # five page loads within a minute: no write
            clinic.clock.advance(seconds=11)
            assert client.get("/caseload").status_code == 200
        assert writes == [] and _last_seen(clinic, cookie) == login_at
        clinic.clock.advance(seconds=5)  # a minute since the stored instant
        assert client.get("/caseload").status_code == 200
        assert len(writes) == 1 and _last_seen(clinic, cookie) == clinic.clock.now()
    finally:
        sa.event.remove(clinic.accounts.engine, "before_cursor_execute", count)


def test_the_12_hour_limit_stays_however_busy_the_session(clinic: Clinic) -> None:
    client = clinic.browser(Role.coordinator)
    for _ in range(12 * 3 - 1):  # a request every 20 minutes, up to 11 h 40 min
        clinic.clock.advance(seconds=20 * MINUTE)
        assert client.get(f"/api/v1/patients/{PATIENT}").status_code == 200
    clinic.clock.advance(seconds=20 * MINUTE)
    assert client.get(f"/api/v1/patients/{PATIENT}").status_code == 401


def test_a_session_without_a_last_seen_instant_counts_from_its_creation(clinic: Clinic) -> None:
    used, unused = clinic.browser(Role.coordinator), clinic.browser(Role.clinician)
    s = clinic.accounts.sessions
    with clinic.accounts.engine.begin() as conn:
        conn.execute(s.update().values(last_seen_at=None))
    clinic.clock.advance(seconds=10 * MINUTE)
    assert used.get("/caseload").status_code == 200
    assert _last_seen(clinic, used.cookies["pathway_session"]) == clinic.clock.now()
    clinic.clock.advance(seconds=20 * MINUTE)  # 30 minutes after both were created
    assert used.get("/caseload").status_code == 200
    assert unused.get("/caseload").headers["location"] == "/login?next=/caseload&idle=1"


def test_the_idle_timeout_is_a_setting(make_clinic: Callable[..., Clinic], sqlite_url: str) -> None:
    clinic = make_clinic(sqlite_url, idle_minutes=5)
    client = clinic.browser(Role.quality)
    clinic.clock.advance(seconds=4 * MINUTE)
    assert client.get("/board").status_code == 200
    clinic.clock.advance(seconds=5 * MINUTE)
    r = client.get("/board")
    assert r.headers["location"] == "/login?next=/board&idle=1"
    assert "signed out after 5 minutes without activity" in client.get(r.headers["location"]).text


@pytest.mark.parametrize("minutes", [0, 721])
def test_an_idle_timeout_out_of_range_is_refused(sqlite_url: str, minutes: int) -> None:
    from engine.web import create_app

    with pytest.raises(AccountError, match="--idle-minutes"):
        create_app(sqlite_url, idle_minutes=minutes)


def test_the_served_app_takes_the_idle_timeout_from_the_environment(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.web.app import create_app_from_env

    monkeypatch.setenv("PATHWAY_DATABASE_URL", sqlite_url)
    for value, minutes in (("", 30), ("12", 12)):
        monkeypatch.setenv("PATHWAY_IDLE_MINUTES", value)
        app = create_app_from_env()
        assert app.state.web.accounts.idle == dt.timedelta(minutes=minutes)
        with TestClient(app):  # the lifespan disposes the engines
            pass


def test_a_session_used_by_a_parallel_request_is_not_ended_as_idle(clinic: Clinic) -> None:
    """Two requests of one browser near the 30-minute mark: the later one read the session
    before the earlier one wrote its use. The idle end is decided again on the row itself, so
    the session that was just used stays."""
    client = clinic.browser(Role.coordinator)
    cookie = client.cookies["pathway_session"]
    accounts = clinic.accounts
    clinic.clock.advance(seconds=30 * MINUTE + 1)
    s = accounts.sessions
    with accounts.engine.begin() as conn:  # the parallel request's use, written meanwhile
        conn.execute(
            s.update().where(s.c.sha256 == sha256(cookie)).values(last_seen_at=accounts.now())
        )
    assert accounts._end_if_idle(sha256(cookie), accounts.now()) is False
    assert _session_rows(clinic, cookie) == 1
    assert client.get("/caseload").status_code == 200  # still signed in
    clinic.clock.advance(seconds=30 * MINUTE)
    assert accounts._end_if_idle(sha256(cookie), accounts.now()) is True
    assert _session_rows(clinic, cookie) == 0
