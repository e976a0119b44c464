"""Account lifecycle on the pages: the password policy for new passwords, changing your own
password (`/account`), and an admin's reset and unlock (`/admin`). A refused form names the
field and the rule, writes nothing and never sends a password back; every change is audited
without the password."""

from __future__ import annotations

import html
import json
import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx2 import Response

from engine.web.accounts import Role, hash_password
from tests.web.api.conftest import PASSWORD, Clinic

NEW = "a brand new passphrase"
COORD = "user-coordinator"


def _csrf(client: TestClient, clinic: Clinic) -> str:
    found = clinic.accounts.session(client.cookies["pathway_session"])
    assert found is not None
    return found[1]


def _hash_of(clinic: Clinic, name: str) -> str:
    u = clinic.accounts.users
    with clinic.accounts.engine.connect() as conn:
        return str(conn.execute(sa.select(u.c.password_hash).where(u.c.name == name)).scalar())


def _failed(clinic: Clinic, name: str) -> int:
    return next(u["failed_count"] for u in clinic.accounts.list_users() if u["name"] == name)


def _login(clinic: Clinic, name: str, password: str) -> int:
    client = clinic.browser(None)
    r = client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": client.cookies["pathway_csrf"]},
    )
    return r.status_code


def _alert(page: str) -> str:
    found = re.search(r'<div class="alert" role="alert">(.*?)</div>', page, re.S)
    assert found is not None, page
    return html.unescape(re.sub(r"<[^>]+>", " ", found[1]))


def _change(client: TestClient, clinic: Clinic, current: str, new: str, confirm: str) -> Response:
    return client.post(
        "/account",
        data={
            "csrf_token": _csrf(client, clinic),
            "current_password": current,
            "new_password": new,
            "confirm_password": confirm,
        },
    )


# -- the page --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_every_signed_in_user_has_the_page_linked_from_the_header(
    clinic: Clinic, role: Role
) -> None:
    client = clinic.browser(role)
    home = client.get("/", follow_redirects=True).text
    assert '<a href="/account">Change password</a>' in home
    page = client.get("/account")
    assert page.status_code == 200
    for fid, label in (
        ("account-current", "Current password"),
        ("account-new", "New password"),
        ("account-confirm", "Repeat the new password"),
    ):
        assert f'<label for="{fid}">{label}</label>' in page.text
        assert re.search(rf'<input id="{fid}" [^>]*type="password"', page.text)
    assert '<a href="/account" aria-current="page">' in page.text


def test_changing_your_password_ends_your_other_sessions_and_renews_this_one(
    clinic: Clinic,
) -> None:
    here, elsewhere = clinic.browser(Role.coordinator), clinic.browser(Role.coordinator)
    other_user = clinic.browser(Role.clinician)
    before = here.cookies["pathway_session"]
    r = _change(here, clinic, PASSWORD, NEW, NEW)
    assert r.status_code == 303 and r.headers["location"] == "/account?done=password"
    after = here.cookies["pathway_session"]
    assert after != before  # a fresh session id
    assert clinic.accounts.session(before) is None
    assert clinic.accounts.session(elsewhere.cookies["pathway_session"]) is None
    assert elsewhere.get("/caseload").status_code == 303
    assert other_user.get("/caseload").status_code == 200  # someone else's stays
    page = here.get("/account?done=password")
    assert page.status_code == 200 and "Your password is changed" in page.text
    assert _login(clinic, COORD, PASSWORD) == 401
    assert _login(clinic, COORD, NEW) == 303
    rows = clinic.accounts.audit_log(action="password_change")
    assert [(r["actor"], r["outcome"]) for r in rows] == [(COORD, "ok")]
    everything = json.dumps(clinic.accounts.audit_log(), default=str)
    assert NEW not in everything and PASSWORD not in everything


def test_a_form_open_in_another_tab_still_goes_through_after_the_change(clinic: Clinic) -> None:
    """The renewed session keeps this browser's form token: a form filled in before the change
    (another tab) is not lost to a bare 'CSRF token is wrong'."""
    here = clinic.browser(Role.coordinator)
    token = _csrf(here, clinic)  # the token in the other tab's form
    assert _change(here, clinic, PASSWORD, NEW, NEW).status_code == 303
    assert _csrf(here, clinic) == token
    r = here.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_a_wrong_current_password_counts_toward_the_lockout(clinic: Clinic) -> None:
    client = clinic.browser(Role.coordinator)
    stored = _hash_of(clinic, COORD)
    r = _change(client, clinic, "not my password", NEW, NEW)
    assert r.status_code == 422
    assert "Current password: this is not your current password" in _alert(r.text)
    assert _failed(clinic, COORD) == 1
    for _ in range(4):
        r = _change(client, clinic, "not my password", NEW, NEW)
    assert clinic.accounts.is_locked(COORD)
    assert "the account is locked" in _alert(r.text)
    r = _change(client, clinic, PASSWORD, NEW, NEW)  # locked: even the right one is refused
    assert r.status_code == 422
    assert _hash_of(clinic, COORD) == stored
    outcomes = [r["outcome"] for r in clinic.accounts.audit_log(action="password_change")]
    assert outcomes == ["refused"] * 6


@pytest.mark.parametrize(
    ("new", "confirm", "field", "says"),
    [
        ("eleven char", "eleven char", "account-new", "New password: at least 12 characters"),
        ("x" * 129, "x" * 129, "account-new", "New password: at most 128 characters"),
        ("User-Coordinator", "User-Coordinator", "account-new", "must not be the user name"),
        ("Password1234!", "Password1234!", "account-new", "New password: too easy to guess"),
        (NEW, NEW + "!", "account-confirm", "Repeat the new password: it is not the same"),
        (NEW, NEW, "account-current", "Current password: type the password"),
    ],
    ids=["short", "long", "name", "common", "mismatch", "no-current"],
)
def test_a_refused_change_names_the_field_and_writes_nothing(
    clinic: Clinic, new: str, confirm: str, field: str, says: str
) -> None:
    client = clinic.browser(Role.coordinator)
    stored = _hash_of(clinic, COORD)
    current = "" if field == "account-current" else PASSWORD
    r = _change(client, clinic, current, new, confirm)
    page = r.text
    assert r.status_code == 422
    assert says in _alert(page)
    control = re.search(rf'<input id="{field}"[^>]*>', page)
    assert control is not None and 'aria-invalid="true"' in control[0]
    assert f"{field}-error" in control[0]
    assert new not in page and confirm not in page and PASSWORD not in page
    assert _hash_of(clinic, COORD) == stored
    assert _failed(clinic, COORD) == 0  # a form refused before the check is not a guess
    assert clinic.accounts.session(client.cookies["pathway_session"]) is not None
    [row] = clinic.accounts.audit_log(action="password_change")
    assert row["outcome"] == "invalid"


def test_the_change_needs_the_forms_csrf_token(clinic: Clinic) -> None:
    client = clinic.browser(Role.quality)
    stored = _hash_of(clinic, "user-quality")
    r = client.post(
        "/account",
        data={"current_password": PASSWORD, "new_password": NEW, "confirm_password": NEW},
    )
    assert r.status_code == 403
    assert _hash_of(clinic, "user-quality") == stored


# -- the policy elsewhere, and accounts made before it ----------------------------------------


@pytest.mark.parametrize(
    ("name", "password", "says"),
    [
        ("newbie", "only-11-chr", "Initial password: at least 12 characters are needed"),
        ("newbie", "y" * 129, "Initial password: at most 128 characters are allowed"),
        ("twelve-chars", "TWELVE-chars", "Initial password: it must not be the user name"),
        ("newbie", "password1234", "Initial password: too easy to guess"),
        ("newbie", "newbie-newbie-newbie", "Initial password: too easy to guess"),
        ("newbie", "newbie.newbie.1", "Initial password: too easy to guess"),
    ],
)
def test_a_new_account_needs_a_password_by_the_policy(
    clinic: Clinic, name: str, password: str, says: str
) -> None:
    admin = clinic.browser(Role.admin)
    r = admin.post(
        "/admin/users",
        data={"csrf_token": _csrf(admin, clinic), "name": name, "role": "quality",
              "password": password},
    )  # fmt: skip
    assert r.status_code == 422
    alert = re.search(r'id="user-error">([^<]*)<', r.text)
    assert alert is not None and html.unescape(alert[1]).startswith(says)
    assert name not in [u["name"] for u in clinic.accounts.list_users()]
    assert password not in r.text


def test_twelve_characters_are_enough_and_an_older_shorter_password_still_works(
    clinic: Clinic,
) -> None:
    clinic.accounts.add_user("twelve", role="quality", password="kettle-moss7")
    assert _login(clinic, "twelve", "kettle-moss7") == 303
    u = clinic.accounts.users
    with clinic.accounts.engine.begin() as conn:  # set before the policy: 8 characters then
        conn.execute(
            u.update().where(u.c.name == "twelve").values(password_hash=hash_password("old-pw-8"))
        )
    assert _login(clinic, "twelve", "old-pw-8") == 303


# -- the admin's reset and unlock --------------------------------------------------------------


def _reset(admin: TestClient, clinic: Clinic, name: str, password: str, confirm: str) -> Response:
    return admin.post(
        "/admin/password",
        data={"csrf_token": _csrf(admin, clinic), "name": name, "password": password,
              "confirm": confirm},
    )  # fmt: skip


def test_an_admin_sets_a_new_password_and_the_users_sessions_end(clinic: Clinic) -> None:
    user = clinic.browser(Role.coordinator)
    admin = clinic.browser(Role.admin)
    page = admin.get("/admin").text
    assert '<label for="p-password">New password</label>' in page
    r = _reset(admin, clinic, COORD, NEW, NEW)
    assert r.status_code == 303 and r.headers["location"] == "/admin?done=password"
    assert "Every session of that user has ended" in admin.get("/admin?done=password").text
    assert user.get("/caseload").status_code == 303
    assert _login(clinic, COORD, PASSWORD) == 401
    assert _login(clinic, COORD, NEW) == 303
    [row] = clinic.accounts.audit_log(action="user_password")
    assert row["actor"] == "user-admin" and row["cohort"] == {"user": COORD}
    assert NEW not in json.dumps(clinic.accounts.audit_log(), default=str)


@pytest.mark.parametrize(
    ("name", "password", "confirm", "field", "says"),
    [
        (COORD, "short-pw", "short-pw", "p-password", "New password: at least 12 characters"),
        (COORD, COORD.upper(), COORD.upper(), "p-password", "New password: it must not be"),
        (COORD, "qwertyuiop12", "qwertyuiop12", "p-password", "New password: too easy to"),
        (COORD, NEW, NEW + "?", "p-confirm", "Repeat the password: it is not the same"),
        ("nobody", NEW, NEW, "p-name", "User: no user 'nobody'"),
        ("user-admin", NEW, NEW, "p-name", "User: your own password is changed under Change"),
    ],
    ids=["short", "name", "common", "mismatch", "unknown", "own"],
)
def test_a_refused_reset_names_the_field_and_writes_nothing(
    clinic: Clinic, name: str, password: str, confirm: str, field: str, says: str
) -> None:
    user = clinic.browser(Role.coordinator)
    admin = clinic.browser(Role.admin)
    stored = _hash_of(clinic, COORD)
    r = _reset(admin, clinic, name, password, confirm)
    page = r.text
    assert r.status_code == 422
    alert = re.search(r'<p class="alert" role="alert" id="password-error">([^<]*)</p>', page)
    assert alert is not None and html.unescape(alert[1]).startswith(says)
    control = re.search(rf'<(input|select) id="{field}"[^>]*>', page)
    assert control is not None and 'aria-invalid="true"' in control[0]
    assert "password-error" in control[0]
    assert password not in page.replace(f">{COORD}<", "")  # a user name in the list is fine
    assert _hash_of(clinic, COORD) == stored
    assert user.get("/caseload").status_code == 200
    assert [r["outcome"] for r in clinic.accounts.audit_log(action="user_password")] == ["invalid"]


def test_an_admin_unlocks_a_locked_account(clinic: Clinic) -> None:
    for _ in range(5):
        _login(clinic, "user-quality", "wrong guess")
    assert clinic.accounts.is_locked("user-quality")
    admin = clinic.browser(Role.admin)
    page = admin.get("/admin").text
    assert "Unlock user-quality" in page and "Unlock user-clinician" not in page
    r = admin.post("/admin/users/user-quality/unlock", data={"csrf_token": _csrf(admin, clinic)})
    assert r.status_code == 303 and r.headers["location"] == "/admin?done=unlocked"
    assert not clinic.accounts.is_locked("user-quality")
    assert _login(clinic, "user-quality", PASSWORD) == 303
    [row] = clinic.accounts.audit_log(action="user_unlock")
    assert row["cohort"] == {"user": "user-quality"} and row["outcome"] == "ok"
    r = admin.post("/admin/users/ghost/unlock", data={"csrf_token": _csrf(admin, clinic)})
    assert r.status_code == 422 and "no user 'ghost'" in html.unescape(r.text)
