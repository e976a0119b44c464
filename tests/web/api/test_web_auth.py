"""Logins, sessions, CSRF, lockout, tokens and security headers."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from engine.web.accounts import Accounts, Role
from tests.web.api.conftest import PASSWORD, PATIENT, Clinic


def _login(client: TestClient, name: str, password: str, csrf: str | None = None) -> int:
    if csrf is None:
        client.get("/login")
        csrf = client.cookies.get("pathway_csrf")
    r = client.post("/login", data={"username": name, "password": password, "csrf_token": csrf})
    return r.status_code


def test_passwords_are_argon2id_hashes(clinic: Clinic) -> None:
    import sqlalchemy as sa

    with clinic.app.state.web.engine.connect() as conn:
        hashes = conn.exec_driver_sql("SELECT password_hash FROM web_user").scalars().all()
        tokens = conn.exec_driver_sql("SELECT sha256 FROM api_token").scalars().all()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert PASSWORD not in "".join(hashes)
    assert all(len(t) == 64 for t in tokens)
    assert not any(t in clinic.tokens.values() for t in tokens)
    _ = sa


def test_login_sets_a_safe_session_cookie(clinic: Clinic) -> None:
    client = TestClient(clinic.app, follow_redirects=False)
    assert _login(client, "user-coordinator", PASSWORD) == 303
    cookie = client.cookies.get("pathway_session")
    assert cookie
    r = client.get(f"/api/v1/patients/{PATIENT}")  # a session works on the API too
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("root", "prefix"), [("", "__Host-"), ("/pathway", "__Secure-")], ids=["root", "under-prefix"]
)
def test_cookie_flags_and_prefixes_behind_https(
    make_clinic: object, sqlite_url: str, root: str, prefix: str
) -> None:
    # ASVS 3.4.4: behind HTTPS the cookies are `__Host-` (only this host may set them, Secure,
    # Path=/); under a path prefix `__Secure-`, since `__Host-` needs Path=/
    clinic = make_clinic(sqlite_url, secure_cookies=True)  # type: ignore[operator]
    client = TestClient(
        clinic.app, follow_redirects=False, base_url="https://testserver", root_path=root
    )
    page = client.get(f"{root}/login")
    [pre] = [h for h in page.headers.get_list("set-cookie") if "_csrf=" in h]
    assert pre.startswith(f"{prefix}pathway_csrf=") and "; Secure" in pre
    csrf = client.cookies.get(f"{prefix}pathway_csrf")
    r = client.post(
        f"{root}/login",
        data={"username": "user-clinician", "password": PASSWORD, "csrf_token": csrf},
    )
    assert r.status_code == 303
    header = next(
        h for h in r.headers.get_list("set-cookie") if h.startswith(f"{prefix}pathway_session=")
    )
    flags = {f.strip().lower() for f in header.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", f"path={root or '/'}"} <= flags
    assert "domain" not in header.lower()
    assert client.get(f"{root}/api/v1/patients/{PATIENT}").status_code == 200
    # the same session under the name without the prefix (as a sibling host or a plain-HTTP
    # page could set it) is not taken
    cookie = client.cookies.get(f"{prefix}pathway_session")
    plain = TestClient(clinic.app, base_url="https://testserver", root_path=root)
    plain.cookies.set("pathway_session", cookie)
    assert plain.get(f"{root}/api/v1/patients/{PATIENT}").status_code == 401
    r = client.post(f"{root}/logout", data={"csrf_token": _session_csrf(client, root)})
    assert r.status_code == 303
    assert f"{prefix}pathway_session" not in client.cookies


def _session_csrf(client: TestClient, root: str) -> str:
    import re

    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"{root}/caseload").text)
    assert found is not None
    return found[1]


def test_a_login_without_the_csrf_token_is_refused(clinic: Clinic) -> None:
    client = TestClient(clinic.app, follow_redirects=False)
    client.get("/login")
    r = client.post("/login", data={"username": "user-coordinator", "password": PASSWORD})
    assert r.status_code == 403
    assert _login(client, "user-coordinator", PASSWORD, csrf="forged") == 403
    assert "pathway_session" not in client.cookies


def test_a_form_post_with_a_session_needs_the_sessions_csrf_token(clinic: Clinic) -> None:
    client = clinic.browser(Role.coordinator)
    r = client.post("/logout", data={"csrf_token": client.cookies.get("pathway_csrf")})
    assert r.status_code == 403  # the pre-login token is not the session's
    still = client.get(f"/api/v1/patients/{PATIENT}")
    assert still.status_code == 200


def test_logout_ends_the_session(clinic: Clinic) -> None:
    client = clinic.browser(Role.coordinator)
    cookie = client.cookies.get("pathway_session")
    assert cookie
    found = clinic.accounts.session(cookie)
    assert found is not None
    r = client.post("/logout", data={"csrf_token": found[1]})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert clinic.accounts.session(cookie) is None


def test_five_failed_logins_lock_the_account_for_15_minutes(clinic: Clinic) -> None:
    client = TestClient(clinic.app, follow_redirects=False)
    for _ in range(5):
        assert _login(client, "user-coordinator", "wrong password") == 401
    assert clinic.accounts.is_locked("user-coordinator")
    assert _login(client, "user-coordinator", PASSWORD) == 401  # even the right one
    later = Accounts(
        clinic.accounts.engine, now=lambda: dt.datetime(2026, 6, 1, 12, 16, tzinfo=dt.UTC)
    )
    assert not later.is_locked("user-coordinator")
    assert later.login("user-coordinator", PASSWORD) is not None
    refused = [r for r in clinic.accounts.audit_log() if r["outcome"] == "refused"]
    assert len(refused) == 6 and refused[0]["actor"] == "user-coordinator"


def test_a_success_resets_the_failure_count(clinic: Clinic) -> None:
    client = TestClient(clinic.app, follow_redirects=False)
    for _ in range(4):
        _login(client, "user-quality", "nope")
    assert _login(client, "user-quality", PASSWORD) == 303
    for _ in range(4):
        _login(client, "user-quality", "nope")
    assert not clinic.accounts.is_locked("user-quality")


def test_a_revoked_token_stops_working_at_once(clinic: Clinic) -> None:
    c = clinic.api(Role.coordinator)
    assert c.get(f"/api/v1/patients/{PATIENT}").status_code == 200
    clinic.accounts.revoke_token("app-coordinator")
    r = c.get(f"/api/v1/patients/{PATIENT}")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert (
        TestClient(clinic.app)
        .get("/api/v1/board", headers={"Authorization": "Bearer pw_guess"})
        .status_code
        == 401
    )


def test_a_disabled_user_loses_their_session(clinic: Clinic) -> None:
    client = clinic.browser(Role.clinician)
    assert client.get(f"/api/v1/patients/{PATIENT}").status_code == 200
    clinic.accounts.set_disabled("user-clinician", True)
    assert client.get(f"/api/v1/patients/{PATIENT}").status_code == 401


def test_pages_redirect_to_login_and_back_only_to_local_paths(clinic: Clinic) -> None:
    anon = clinic.browser(None)
    r = anon.get("/caseload?state=augment")
    assert (
        r.status_code == 303 and r.headers["location"] == "/login?next=/caseload%3Fstate%3Daugment"
    )
    csrf = anon.cookies.get("pathway_csrf")
    r = anon.post(
        "/login",
        data={
            "username": "user-coordinator",
            "password": PASSWORD,
            "csrf_token": csrf,
            "next": "//evil.example/",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


@pytest.mark.parametrize("path", ["/login", "/api/v1/board", "/static/app.css"])
def test_security_headers_everywhere(clinic: Clinic, path: str) -> None:
    r = TestClient(clinic.app).get(path)
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"]
    if not path.startswith("/static/"):
        assert r.headers["cache-control"] == "no-store"


def test_no_patient_data_in_application_logs(
    clinic: Clinic, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    c = clinic.api(Role.coordinator)
    etag = c.get(f"/api/v1/patients/{PATIENT}").headers["etag"]
    note = "SECRET-NOTE-TEXT"
    clinic.api(Role.clinician).post(
        f"/api/v1/patients/{PATIENT}/override",
        json={"to": "augment", "reason": "case_review", "note": note},
        headers={"If-Match": etag},
    )
    c.get(f"/api/v1/patients/{PATIENT}/history")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert note not in text and PASSWORD not in text
    assert not any(t in text for t in clinic.tokens.values())


def test_sessions_expire_and_are_cleared_at_the_next_login(clinic: Clinic) -> None:
    client = clinic.browser(Role.coordinator)
    cookie = client.cookies["pathway_session"]
    later = Accounts(
        clinic.accounts.engine, now=lambda: dt.datetime(2026, 6, 2, 1, tzinfo=dt.UTC)
    )  # 13 hours on: past the 12-hour lifetime
    assert later.session(cookie) is None
    assert later.login("user-quality", PASSWORD) is not None
    with clinic.accounts.engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT count(*) FROM web_session").scalar()
    assert left == 1
