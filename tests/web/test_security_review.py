"""The application security review's findings, each pinned by a test that exploits it: parallel
guesses past the lockout, login timing that told locked and disabled accounts apart, audit rows
that could forge lines of `pathway audit` (or be refused by PostgreSQL and go unwritten), API
writes riding on a session cookie from another site, HSTS behind HTTPS, and a second login that
left the first session live."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from engine import FixedClock
from engine.web import accounts as accounts_mod
from engine.web import create_app
from engine.web.accounts import MAX_FAILED_LOGINS, Accounts

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from seed import FRESH, PASSWORD, TODAY, seed


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    seed(url)
    made = create_app(url, clock=FixedClock(TODAY))
    yield made
    made.state.web.engine.dispose()
    made.state.web.accounts.engine.dispose()
    made.state.web.accounts.audit_engine.dispose()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found[1]


def _login(client: TestClient, name: str, password: str = PASSWORD) -> int:
    token = _csrf(client.get("/login").text)
    r = client.post("/login", data={"username": name, "password": password, "csrf_token": token})
    return r.status_code


def _browser(app: FastAPI, name: str) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    assert _login(client, name) == 303
    return client


def _accounts(app: FastAPI) -> Accounts:
    found: Accounts = app.state.web.accounts
    return found


# -- lockout and login timing -------------------------------------------------------------


def test_wrong_passwords_sent_in_parallel_still_lock_the_account(app: FastAPI) -> None:
    # Each attempt read the failure count, checked the password (~100 ms of argon2) and wrote
    # the count it had read plus one: 20 guesses at once counted as one failure, so an
    # attacker sending guesses in parallel batches never reached the lockout.
    accounts = _accounts(app)
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda i: accounts.login("clin", f"guess-{i}"), range(20)))
    assert results == [None] * 20
    assert accounts.is_locked("clin")
    assert accounts.login("clin", PASSWORD) is None  # locked: even the right password


def test_at_most_five_guesses_are_checked_before_the_lock(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = _accounts(app)
    checked: list[str] = []
    real = accounts_mod.verify_password

    def counting(stored: str, password: str) -> bool:
        checked.append(stored)
        return real(stored, password)

    monkeypatch.setattr(accounts_mod, "verify_password", counting)
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda i: accounts.login("coord1", f"guess-{i}"), range(12)))
    assert accounts.is_locked("coord1")
    dummy = accounts_mod.dummy_hash()
    against_the_real_hash = [s for s in checked if s != dummy]
    assert len(against_the_real_hash) <= MAX_FAILED_LOGINS
    assert len(checked) == 12  # every attempt costs one check all the same


def test_a_locked_or_disabled_name_costs_a_password_check_like_any_other(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A locked or disabled account answered in 0.1 ms, an unknown name or a wrong password in
    # ~150 ms (argon2): five wrong passwords, then timing the sixth, told whether a name was an
    # account. Every refused login now checks one hash.
    accounts = _accounts(app)
    for _ in range(MAX_FAILED_LOGINS):
        accounts.login("clin", "wrong password")
    accounts.set_disabled("coord2", True)
    assert accounts.is_locked("clin")
    checks: list[str] = []
    real = accounts_mod.verify_password

    def counting(stored: str, password: str) -> bool:
        checks.append(stored)
        return real(stored, password)

    monkeypatch.setattr(accounts_mod, "verify_password", counting)
    for name in ("nobody-here", "coord1", "coord2", "clin"):
        checks.clear()
        assert accounts.login(name, "wrong password") is None
        assert len(checks) == 1, name


# -- the access audit -----------------------------------------------------------------------


FORGED = "x\n2026-06-01 12:00:00  admin (admin)  user_add  ok\x1b[2K"


def test_a_name_typed_at_login_cannot_forge_audit_lines(app: FastAPI) -> None:
    client = TestClient(app, follow_redirects=False)
    assert _login(client, FORGED, "whatever") == 401
    row = _accounts(app).audit_log(action="login")[0]
    assert row["outcome"] == "refused"
    assert "\n" not in row["actor"] and "\x1b" not in row["actor"]
    assert row["actor"].startswith("x\\n2026-06-01")


def test_a_patient_id_in_a_page_path_is_audited_escaped_and_within_its_column(
    app: FastAPI,
) -> None:
    # The page routes take any patient id in the path; a refused or unknown one went into
    # access_audit.patient_id (VARCHAR(64)) as sent: with a line break it forged a line of
    # `pathway audit`, and past 64 characters PostgreSQL refused the row (a 500, and the
    # request went unaudited).
    quality = _browser(app, "qual")
    clinician = _browser(app, "clin")
    long_id = "P" * 200
    for client, pid in ((quality, "EX-01%0A2026-06-01 forged"), (clinician, long_id)):
        r = client.get(f"/patients/{pid}")
        assert r.status_code in (403, 404)
    rows = _accounts(app).audit_log(limit=10)
    ids = [r["patient_id"] for r in rows if r["patient_id"]]
    assert any(i.startswith("EX-01\\n") for i in ids)
    assert any(i.startswith("PPPP") for i in ids)
    assert all(len(i) <= 64 and "\n" not in i for i in ids)


# -- API writes on a session cookie ---------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
    ],
)
def test_an_api_write_from_another_site_on_the_session_cookie_is_refused(
    app: FastAPI, headers: dict[str, str]
) -> None:
    clinician = _browser(app, "clin")
    headers = {**headers, "X-CSRF-Token": _session_token(app, clinician)}  # even with it
    r = clinician.post("/api/v1/patients", json={"patient_id": "CSRF-1"}, headers=headers)
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "another site" not in r.text and "this site's own pages" in r.json()["detail"]
    status = clinician.get("/api/v1/patients/CSRF-1")
    assert status.status_code == 404  # nothing was written
    refused = _accounts(app).audit_log(action="POST /api/v1/patients")
    assert refused and refused[0]["outcome"] == "refused"


def _session_token(app: FastAPI, client: TestClient) -> str:
    found = _accounts(app).session(client.cookies["pathway_session"])
    assert found is not None
    return found[1]


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-CSRF-Token": "forged"}, {"Origin": "http://testserver"}],
    ids=["no-token", "wrong-token", "same-origin-but-no-token"],
)
def test_an_api_write_on_the_session_cookie_needs_the_sessions_csrf_token(
    app: FastAPI, headers: dict[str, str]
) -> None:
    clinician = _browser(app, "clin")
    r = clinician.post("/api/v1/patients", json={"patient_id": "CSRF-2"}, headers=headers)
    assert r.status_code == 403, r.text
    assert "X-CSRF-Token" in r.json()["detail"]
    assert clinician.get("/api/v1/patients/CSRF-2").status_code == 404  # nothing was written
    refused = _accounts(app).audit_log(action="POST /api/v1/patients")
    assert refused and refused[0]["outcome"] == "refused"


def test_api_writes_from_the_apps_own_pages_and_apps_go_on(app: FastAPI) -> None:
    clinician = _browser(app, "clin")
    same = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    same["X-CSRF-Token"] = _session_token(app, clinician)
    r = clinician.post("/api/v1/patients", json={"patient_id": "OWN-1"}, headers=same)
    assert r.status_code == 201, r.text
    token = _accounts(app).create_token("lab-app", role="clinician")
    bearer = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    r = bearer.post(
        "/api/v1/patients", json={"patient_id": "OWN-2"}, headers={"Origin": "https://lab.example"}
    )
    assert r.status_code == 201, r.text  # a bearer token is no ambient credential
    r = clinician.get(f"/api/v1/patients/{FRESH}", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 200  # reads are not writes (a GET changes nothing)


# -- transport and sessions -----------------------------------------------------------------


def test_hsts_behind_https_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    seed(url)
    for secure in (True, False):
        made = create_app(url, clock=FixedClock(TODAY), secure_cookies=secure)
        r = TestClient(made, follow_redirects=False).get("/login")
        hsts = r.headers.get("strict-transport-security")
        assert (hsts == "max-age=31536000") if secure else hsts is None
        made.state.web.engine.dispose()


def test_logging_in_again_ends_the_session_the_browser_had(app: FastAPI) -> None:
    client = _browser(app, "coord1")
    first = client.cookies["pathway_session"]
    assert _accounts(app).session(first) is not None
    token = _csrf(client.get("/board").text)  # the login form sent while logged in
    r = client.post("/login", data={"username": "clin", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303
    assert client.cookies["pathway_session"] != first
    assert _accounts(app).session(first) is None


# -- resources ------------------------------------------------------------------------------


def test_new_filters_cannot_start_background_computations_without_bound(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every filter or period not kept started one more daemon thread, each a pass over the
    # whole log on a connection of its own (5–17 s at 100,000 patients): any role that sees
    # aggregates could start hundreds by varying `since`, and starve the clinic's requests.
    from engine.web import quality_data
    from engine.web.pages import review

    release = threading.Event()
    started: list[object] = []

    def blocked(*args: object) -> None:
        started.append(args[2])
        release.wait(30)

    monkeypatch.setattr(review, "PAGE_WAIT", 0.01)
    monkeypatch.setattr(quality_data, "_in_background", blocked)
    quality = _browser(app, "qual")
    try:
        for day in range(1, 13):
            r = quality.get(f"/quality?since=2026-01-{day:02d}")
            assert r.status_code == 200 and 'id="pending"' in r.text
        assert len(started) <= quality_data.MAX_RUNNING
    finally:
        release.set()
        quality_data.cache_of(app.state).wait(30)


def test_pathway_audit_prints_a_stored_row_on_one_line_whatever_it_holds(tmp_path: Path) -> None:
    """A row written before names were escaped (or by hand) cannot forge lines in the text."""
    import sqlalchemy as sa
    from typer.testing import CliRunner

    from engine.cli import app as cli
    from engine.store.db import init_db, make_engine

    url = f"sqlite:///{tmp_path / 'a.db'}"
    engine = make_engine(url)
    init_db(engine)
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO access_audit (at, actor, role, action, patient_id, outcome) "
                "VALUES ('2026-06-01 09:00:00.000000', :actor, '', 'login', NULL, 'refused')"
            ),
            {"actor": "eve\n2026-06-01 09:00:01  admin (admin)  user_add\x1b[2K"},
        )
    engine.dispose()
    got = CliRunner().invoke(cli, ["audit", "--db", url])
    assert got.exit_code == 0, got.stderr
    (line,) = got.stdout.splitlines()
    assert "\\n2026-06-01 09:00:01" in line and "\\x1b[2K" in line and "\x1b" not in line
