"""API tokens expire (365 days by default, 1 to 1095, or never from Python and `--no-expiry`)
and record their last use at most once a minute; the bounds hold in Python, in `pathway token
create` and on the admin form. The clinic's clock is moved, never slept."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from engine import make_engine
from engine.cli import app
from engine.web.accounts import AccountError, Accounts, Role
from tests.web.api.conftest import PATIENT, Clinic

DAY = 24 * 60 * 60
runner = CliRunner()


def _get(clinic: Clinic, token: str) -> int:
    """The status of an API read with this bearer token."""
    client = TestClient(clinic.app, headers={"Authorization": f"Bearer {token}"})
    return client.get(f"/api/v1/patients/{PATIENT}").status_code


def _row(accounts: Accounts, name: str) -> dict[str, Any]:
    return next(t for t in accounts.list_tokens() if t["name"] == name)


def _names(accounts: Accounts) -> list[str]:
    return [t["name"] for t in accounts.list_tokens()]


# -- expiry ----------------------------------------------------------------------------------


def test_a_token_works_for_its_days_then_gets_401(any_clinic: Clinic) -> None:
    clinic = any_clinic
    made = clinic.clock.now()
    token = clinic.accounts.create_token("feed", role="coordinator", days=30)
    assert _row(clinic.accounts, "feed")["expires_at"] == made + dt.timedelta(days=30)
    assert _get(clinic, token) == 200
    clinic.clock.advance(seconds=30 * DAY - 1)
    assert _get(clinic, token) == 200
    clinic.clock.advance(seconds=1)  # the instant it expires
    assert _get(clinic, token) == 401
    assert clinic.accounts.token(token) is None


def test_a_token_lasts_365_days_unless_told_otherwise(clinic: Clinic) -> None:
    made = clinic.clock.now()
    token = clinic.accounts.create_token("feed", role="coordinator")
    assert _row(clinic.accounts, "feed")["expires_at"] == made + dt.timedelta(days=365)
    clinic.clock.advance(days=364)
    assert _get(clinic, token) == 200
    clinic.clock.advance(days=1)
    assert _get(clinic, token) == 401


def test_a_token_without_expiry_keeps_working(any_clinic: Clinic) -> None:
    clinic = any_clinic
    token = clinic.accounts.create_token("forever", role="coordinator", days=None)
    assert _row(clinic.accounts, "forever")["expires_at"] is None
    clinic.clock.advance(days=10 * 365)
    assert _get(clinic, token) == 200


@pytest.mark.parametrize("days", [0, 1096, -1])
def test_days_out_of_range_are_refused_naming_the_field(clinic: Clinic, days: int) -> None:
    with pytest.raises(AccountError) as refused:
        clinic.accounts.create_token("feed", role="quality", days=days)
    assert refused.value.field == "days"
    assert str(refused.value) == f"--days: {days} is out of range (1 to 1095)"
    assert "feed" not in _names(clinic.accounts)


@pytest.mark.parametrize("days", [1, 1095])
def test_the_bounds_themselves_are_accepted(clinic: Clinic, days: int) -> None:
    clinic.accounts.create_token("feed", role="quality", days=days)
    row = _row(clinic.accounts, "feed")
    assert row["expires_at"] - row["created_at"] == dt.timedelta(days=days)


# -- last use --------------------------------------------------------------------------------


def _last_used(clinic: Clinic, name: str) -> dt.datetime | None:
    found: dt.datetime | None = _row(clinic.accounts, name)["last_used_at"]
    return found


def test_last_use_is_written_on_first_use_then_at_most_once_a_minute(any_clinic: Clinic) -> None:
    clinic = any_clinic
    token = clinic.accounts.create_token("feed", role="coordinator")
    assert _last_used(clinic, "feed") is None
    writes: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKEN"):
            writes.append(statement)

    sa.event.listen(clinic.accounts.engine, "before_cursor_execute", count)
    try:
        first = clinic.clock.now()
        assert _get(clinic, token) == 200
        assert len(writes) == 1 and _last_used(clinic, "feed") == first
        for _ in range(3):  # within a minute of it: read, never written
            clinic.clock.advance(seconds=19)
            assert _get(clinic, token) == 200
        assert len(writes) == 1 and _last_used(clinic, "feed") == first
        clinic.clock.advance(seconds=3)  # a minute since the stored instant
        assert _get(clinic, token) == 200
        assert len(writes) == 2 and _last_used(clinic, "feed") == clinic.clock.now()
    finally:
        sa.event.remove(clinic.accounts.engine, "before_cursor_execute", count)


def test_a_use_written_meanwhile_by_a_parallel_request_is_not_overwritten(
    any_clinic: Clinic,
) -> None:
    """The staleness test is in the UPDATE: a request that read an old instant writes nothing
    if another one has written a fresh instant between its read and its write."""
    clinic = any_clinic
    token = clinic.accounts.create_token("feed", role="coordinator")
    t = clinic.accounts.tokens
    other = clinic.clock.now() - dt.timedelta(seconds=10)  # what the other request wrote

    raced: list[str] = []

    def race(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKEN") and not raced:
            raced.append(statement)
            with clinic.accounts.engine.begin() as c:  # another connection, committed first
                c.execute(t.update().where(t.c.name == "feed").values(last_used_at=other))

    sa.event.listen(clinic.accounts.engine, "before_cursor_execute", race)
    try:
        assert _get(clinic, token) == 200
    finally:
        sa.event.remove(clinic.accounts.engine, "before_cursor_execute", race)
    assert len(raced) == 1
    assert _last_used(clinic, "feed") == other


def test_unknown_and_expired_tokens_write_nothing(clinic: Clinic) -> None:
    token = clinic.accounts.create_token("feed", role="coordinator", days=1)
    clinic.clock.advance(days=1)
    assert _get(clinic, token) == 401
    assert _get(clinic, "pw_unknown") == 401
    assert _last_used(clinic, "feed") is None


# -- the command -----------------------------------------------------------------------------


def _run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def _accounts(url: str) -> Accounts:
    return Accounts(make_engine(url))


@pytest.mark.parametrize("days", ["0", "1096"])
def test_the_command_refuses_days_out_of_range(sqlite_url: str, days: str) -> None:
    code, out, err = _run("token", "create", "feed", "--role", "quality", "--days", days,
                          "--db", sqlite_url)  # fmt: skip
    assert code == 2 and out == ""
    assert f"error: --days: {days} is out of range (1 to 1095)" in err
    assert _names(_accounts(sqlite_url)) == []


@pytest.mark.parametrize("days", [1, 1095])
def test_the_command_takes_the_bounds_and_says_when_it_expires(sqlite_url: str, days: int) -> None:
    code, out, err = _run("token", "create", "feed", "--role", "quality", "--days", str(days),
                          "--db", sqlite_url)  # fmt: skip
    assert code == 0 and out.strip().startswith("pw_")
    row = _row(_accounts(sqlite_url), "feed")
    assert row["expires_at"] - row["created_at"] == dt.timedelta(days=days)
    assert f"created, expires {row['expires_at']:%Y-%m-%d}" in err


def test_the_command_defaults_to_365_days_and_json_gives_the_instant(sqlite_url: str) -> None:
    code, out, _ = _run("token", "create", "feed", "--role", "quality", "--json",
                        "--db", sqlite_url)  # fmt: skip
    assert code == 0
    made = json.loads(out)
    row = _row(_accounts(sqlite_url), "feed")
    assert row["expires_at"] - row["created_at"] == dt.timedelta(days=365)
    assert dt.datetime.fromisoformat(made["expires_at"]) == row["expires_at"]
    assert made["expires_at"] == row["expires_at"].isoformat()


def test_no_expiry_never_expires(sqlite_url: str) -> None:
    code, _, err = _run("token", "create", "feed", "--role", "quality", "--no-expiry",
                        "--db", sqlite_url)  # fmt: skip
    assert code == 0 and "never expires" in err
    assert _row(_accounts(sqlite_url), "feed")["expires_at"] is None
    code, out, _ = _run("token", "create", "feed-2", "--role", "quality", "--no-expiry",
                        "--json", "--db", sqlite_url)  # fmt: skip
    assert code == 0 and json.loads(out)["expires_at"] is None


def test_days_and_no_expiry_together_are_refused(sqlite_url: str) -> None:
    code, out, err = _run("token", "create", "feed", "--role", "quality", "--days", "30",
                          "--no-expiry", "--db", sqlite_url)  # fmt: skip
    assert code == 2 and out == ""
    assert err.count("error:") == 1 and "--days" in err and "--no-expiry" in err
    assert _names(_accounts(sqlite_url)) == []


def _four_tokens(url: str) -> tuple[Accounts, dt.datetime]:
    """live (used), forever (never used), gone (revoked), old (expired a day ago)."""
    accounts = _accounts(url)
    now = accounts.now()
    past = Accounts(accounts.engine, now=lambda: now - dt.timedelta(days=3))
    past.create_token("old", role="quality", days=2)
    used = accounts.create_token("live", role="coordinator", days=10)
    accounts.create_token("forever", role="quality", days=None)
    accounts.create_token("gone", role="quality")
    accounts.revoke_token("gone")
    assert accounts.token(used) is not None
    return accounts, now


def test_token_list_json_shows_expiry_and_last_use(sqlite_url: str) -> None:
    accounts, _ = _four_tokens(sqlite_url)
    stored = {t["name"]: t for t in accounts.list_tokens()}
    code, out, _ = _run("token", "list", "--json", "--db", sqlite_url)
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == {"forever", "gone", "live", "old"}
    for name, row in rows.items():
        for field in ("expires_at", "last_used_at"):
            want = stored[name][field]
            assert row[field] == (None if want is None else want.isoformat()), (name, field)
    assert rows["live"]["last_used_at"] is not None and rows["forever"]["expires_at"] is None
    assert rows["old"]["last_used_at"] is None


def test_token_list_shows_state_expiry_and_last_use(sqlite_url: str) -> None:
    accounts, now = _four_tokens(sqlite_url)
    stored = {t["name"]: t for t in accounts.list_tokens()}
    code, out, _ = _run("token", "list", "--db", sqlite_url)
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    old, live = stored["old"]["expires_at"], stored["live"]
    assert f"expired {old:%Y-%m-%d}  expires {old:%Y-%m-%d}  last used never" in lines["old"]
    assert f"revoked {now:%Y-%m-%d}" in lines["gone"]
    assert "live  expires never  last used never" in lines["forever"]
    assert (
        f"live  expires {live['expires_at']:%Y-%m-%d}  "
        f"last used {live['last_used_at']:%Y-%m-%d %H:%M} UTC"
    ) in lines["live"]


# -- the admin page --------------------------------------------------------------------------


def _csrf(client: TestClient, clinic: Clinic) -> str:
    found = clinic.accounts.session(client.cookies["pathway_session"])
    assert found is not None
    return found[1]


def _create(admin: TestClient, clinic: Clinic, **fields: str) -> Any:
    data = {"csrf_token": _csrf(admin, clinic), "name": "feed", "role": "quality", **fields}
    return admin.post("/admin/tokens", data=data)


@pytest.mark.parametrize(
    ("days", "says"),
    [
        ("0", "Valid for (days): 0 is out of range (1 to 1095)"),
        ("1096", "Valid for (days): 1096 is out of range (1 to 1095)"),
        ("a year", "Valid for (days): 'a year' is not a whole number"),
        ("3_65", "Valid for (days): '3_65' is not a whole number"),
        ("٣٦٥", "Valid for (days): '٣٦٥' is not a whole number"),
    ],
)
def test_the_admin_form_refuses_days_out_of_range(clinic: Clinic, days: str, says: str) -> None:
    admin = clinic.browser(Role.admin)
    before = _names(clinic.accounts)
    r = _create(admin, clinic, days=days)
    assert r.status_code == 422
    alert = re.search(r'<p class="alert" role="alert" id="token-error">([^<]*)</p>', r.text)
    assert alert is not None and html.unescape(alert[1]).startswith(says)
    control = re.search(r'<input id="t-days"[^>]*>', r.text)
    assert control is not None and 'aria-invalid="true"' in control[0]
    assert f'value="{days}"' in control[0]  # kept
    assert _names(clinic.accounts) == before


@pytest.mark.parametrize("days", [1, 1095])
def test_the_admin_form_takes_the_bounds_and_says_when_it_expires(
    clinic: Clinic, days: int
) -> None:
    admin = clinic.browser(Role.admin)
    r = _create(admin, clinic, days=str(days))
    assert r.status_code == 200
    expires = clinic.clock.now() + dt.timedelta(days=days)
    assert _row(clinic.accounts, "feed")["expires_at"] == expires
    assert f"it expires on {expires:%Y-%m-%d %H:%M} UTC" in r.text


def test_the_admin_form_offers_365_days_with_a_label(clinic: Clinic) -> None:
    page = clinic.browser(Role.admin).get("/admin").text
    control = re.search(r'<input id="t-days"[^>]*>', page)
    assert control is not None
    for attr in ('name="days"', 'type="number"', 'min="1"', 'max="1095"', 'value="365"'):
        assert attr in control[0]
    assert '<label for="t-days">Valid for (days)</label>' in page


def test_the_admin_table_shows_expiry_last_use_and_expired_tokens(clinic: Clinic) -> None:
    now = clinic.clock.now()
    past = Accounts(clinic.accounts.engine, now=lambda: now - dt.timedelta(days=3))
    past.create_token("old", role="quality", days=2)
    clinic.accounts.create_token("unused", role="quality", days=10)
    assert _get(clinic, clinic.tokens[Role.coordinator]) == 200  # app-coordinator: used now
    page = clinic.browser(Role.admin).get("/admin").text
    head = re.search(r"<caption>Bearer tokens.*?</thead>", page, re.S)
    assert head is not None
    assert '<th scope="col">Expires</th><th scope="col">Last used</th>' in head[0]

    def cells(name: str) -> list[str]:
        row = re.search(rf'<th scope="row">{name}</th>(.*?)</tr>', page, re.S)
        assert row is not None
        return [html.unescape(c).strip() for c in re.findall(r"<td>(.*?)</td>", row[1], re.S)]

    old_expiry = now - dt.timedelta(days=1)
    old = cells("old")
    assert old[2] == f"expired on {old_expiry:%Y-%m-%d %H:%M}"
    assert old[3] == f"{old_expiry:%Y-%m-%d %H:%M}" and old[4] == "never"
    assert "Revoke old" not in page
    used = cells("app-coordinator")
    assert used[2] == "live" and used[4] == f"{now:%Y-%m-%d %H:%M}"
    unused = cells("unused")
    assert unused[3] == f"{now + dt.timedelta(days=10):%Y-%m-%d %H:%M}" and unused[4] == "never"
    assert "Revoke unused" in page
