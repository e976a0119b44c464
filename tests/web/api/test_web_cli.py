"""`pathway user add|passwd|disable|enable|unlock`, `pathway token create|revoke`, `pathway
audit`: refused input (an unknown user, a password the policy refuses) exits 2 naming the field
and value, and writes nothing."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from engine import make_engine
from engine.cli import app
from engine.web.accounts import Accounts

runner = CliRunner()


def _run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args), input=stdin)
    return r.exit_code, r.stdout, r.stderr


def test_user_add_and_refusals(sqlite_url: str) -> None:
    code, _, _ = _run("user", "add", "ann", "--role", "coordinator", "--password-stdin",
                      "--db", sqlite_url, stdin="long enough password\n")  # fmt: skip
    assert code == 0
    code, _, err = _run("user", "add", "bob", "--role", "nurse", "--password-stdin",
                        "--db", sqlite_url, stdin="long enough password\n")  # fmt: skip
    assert code == 2 and "--role" in err and "'nurse'" in err
    code, _, err = _run("user", "add", "bob", "--role", "admin", "--password-stdin",
                        "--db", sqlite_url, stdin="short\n")  # fmt: skip
    assert code == 2 and "password" in err
    code, _, err = _run("user", "add", "ann", "--role", "admin", "--password-stdin",
                        "--db", sqlite_url, stdin="long enough password\n")  # fmt: skip
    assert code == 2 and "'ann'" in err
    names = [u["name"] for u in Accounts(make_engine(sqlite_url)).list_users()]
    assert names == ["ann"]


def test_token_create_prints_once_and_revoke(sqlite_url: str) -> None:
    code, out, _ = _run("token", "create", "lab-app", "--role", "quality", "--db", sqlite_url)
    token = out.strip()
    assert code == 0 and token.startswith("pw_")
    accounts = Accounts(make_engine(sqlite_url))
    assert accounts.token(token) is not None
    assert token not in json.dumps(accounts.list_tokens(), default=str)
    code, out, _ = _run("token", "revoke", "lab-app", "--json", "--db", sqlite_url)
    assert code == 0 and json.loads(out) == {"name": "lab-app", "revoked": True}
    assert accounts.token(token) is None
    code, _, err = _run("token", "revoke", "lab-app", "--db", sqlite_url)
    assert code == 2 and "'lab-app'" in err


def test_audit_json_filters(sqlite_url: str) -> None:
    accounts = Accounts(make_engine(sqlite_url))
    from engine.web.accounts import Principal, Role

    accounts.audit(Principal("ann", Role.coordinator), "api.status", patient_id="P-1")
    accounts.audit(Principal("bob", Role.quality), "api.board", cohort={"state": "augment"})
    code, out, _ = _run("audit", "--user", "ann", "--json", "--db", sqlite_url)
    rows = json.loads(out)
    assert code == 0 and [(r["actor"], r["patient_id"]) for r in rows] == [("ann", "P-1")]
    code, out, _ = _run("audit", "--patient", "P-1", "--since", "2000-01-01", "--json",
                        "--db", sqlite_url)  # fmt: skip
    assert len(json.loads(out)) == 1
    code, _, err = _run("audit", "--since", "yesterday", "--db", sqlite_url)
    assert code == 2 and "--since" in err


def _users(url: str) -> list[dict[str, object]]:
    engine = make_engine(url)
    try:
        return Accounts(engine).list_users()
    finally:
        engine.dispose()


def _hash(url: str, name: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT password_hash FROM web_user WHERE name = ?", (name,)
            ).scalar()
        return None if found is None else str(found)
    finally:
        engine.dispose()


def _add(url: str, name: str, password: str = "long enough password") -> None:
    code, _, err = _run("user", "add", name, "--role", "coordinator", "--password-stdin",
                        "--db", url, stdin=password + "\n")  # fmt: skip
    assert code == 0, err


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("eleven char", "password: at least 12 characters are needed"),
        ("z" * 129, "password: at most 128 characters are allowed"),
        ("CAROL-NURSE1", "password: it must not be the user name"),
        ("iloveyou1234", "password: too easy to guess. This is similar to a commonly used"),
    ],
    ids=["short", "long", "name", "common"],
)
def test_user_add_refuses_a_password_the_policy_does_not_allow(
    sqlite_url: str, password: str, says: str
) -> None:
    code, _, err = _run("user", "add", "carol-nurse1", "--role", "clinician", "--password-stdin",
                        "--db", sqlite_url, stdin=password + "\n")  # fmt: skip
    assert code == 2 and says in err and "Traceback" not in err
    assert _users(sqlite_url) == []


def test_user_passwd_sets_a_new_password_and_ends_the_sessions(sqlite_url: str) -> None:
    _add(sqlite_url, "ann")
    engine = make_engine(sqlite_url)
    accounts = Accounts(engine)
    session = accounts.login("ann", "long enough password")
    assert session is not None
    code, out, err = _run("user", "passwd", "ann", "--password-stdin", "--db", sqlite_url,
                          stdin="another fine password\n")  # fmt: skip
    assert code == 0, err
    assert "ann" in out
    assert accounts.session(session[0]) is None
    assert accounts.login("ann", "long enough password") is None
    assert accounts.login("ann", "another fine password") is not None
    # from a hidden prompt, twice
    code, _, err = _run("user", "passwd", "ann", "--db", sqlite_url,
                        stdin="third good password\nthird good password\n")  # fmt: skip
    assert code == 0, err
    assert accounts.login("ann", "third good password") is not None
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["--password-stdin"], "too short\n", "password: at least 12 characters"),
        (["--password-stdin"], "\n", "--password-stdin: no password on standard input"),
        ([], "first password 1\nsecond password 2\n", "password: the two entries differ"),
    ],
    ids=["short", "empty", "differ"],
)
def test_user_passwd_refuses_and_writes_nothing(
    sqlite_url: str, args: list[str], stdin: str, says: str
) -> None:
    _add(sqlite_url, "ann-smith")
    before = _hash(sqlite_url, "ann-smith")
    code, _, err = _run("user", "passwd", "ann-smith", *args, "--db", sqlite_url, stdin=stdin)
    assert code == 2 and says in err and "Traceback" not in err
    assert _hash(sqlite_url, "ann-smith") == before


def test_user_passwd_refuses_the_name_itself_as_the_password(sqlite_url: str) -> None:
    _add(sqlite_url, "dr.jones-2026")
    before = _hash(sqlite_url, "dr.jones-2026")
    code, _, err = _run("user", "passwd", "dr.jones-2026", "--password-stdin",
                        "--db", sqlite_url, stdin="DR.JONES-2026\n")  # fmt: skip
    assert code == 2 and "password: it must not be the user name" in err
    assert _hash(sqlite_url, "dr.jones-2026") == before


def test_user_disable_enable_and_unlock(sqlite_url: str) -> None:
    _add(sqlite_url, "ann")
    engine = make_engine(sqlite_url)
    accounts = Accounts(engine)
    session = accounts.login("ann", "long enough password")
    assert session is not None
    code, out, _ = _run("user", "disable", "ann", "--json", "--db", sqlite_url)
    assert code == 0 and json.loads(out) == {"name": "ann", "disabled": True}
    assert accounts.session(session[0]) is None
    assert accounts.login("ann", "long enough password") is None
    code, out, _ = _run("user", "list", "--db", sqlite_url)
    assert "ann  coordinator  disabled" in out
    code, _, _ = _run("user", "enable", "ann", "--db", sqlite_url)
    assert code == 0 and accounts.login("ann", "long enough password") is not None
    for _ in range(5):
        accounts.login("ann", "a wrong guess")
    assert accounts.is_locked("ann")
    code, out, _ = _run("user", "list", "--db", sqlite_url)
    assert "ann  coordinator  locked until" in out
    code, out, _ = _run("user", "unlock", "ann", "--db", sqlite_url)
    assert code == 0 and "unlocked user ann" in out
    assert not accounts.is_locked("ann")
    assert accounts.login("ann", "long enough password") is not None
    engine.dispose()


@pytest.mark.parametrize(
    ("command", "stdin"),
    [
        (["passwd", "ghost", "--password-stdin"], "a perfectly good password\n"),
        (["passwd", "ghost"], None),  # refused before anything is asked
        (["disable", "ghost"], None),
        (["enable", "ghost"], None),
        (["unlock", "ghost"], None),
    ],
    ids=["passwd-stdin", "passwd-prompt", "disable", "enable", "unlock"],
)
def test_an_unknown_user_exits_2_and_writes_nothing(
    sqlite_url: str, command: list[str], stdin: str | None
) -> None:
    _add(sqlite_url, "ann")
    before = (_users(sqlite_url), _hash(sqlite_url, "ann"))
    r = runner.invoke(app, ["user", *command, "--db", sqlite_url], input=stdin)
    assert r.exit_code == 2, r.output
    assert "no user 'ghost'" in r.stderr and "Traceback" not in r.output
    assert "Password" not in r.stdout  # no prompt for an account that is not there
    assert (_users(sqlite_url), _hash(sqlite_url, "ann")) == before


def test_every_account_and_token_change_is_audited_as_the_shell_user(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the web admin's changes are: who (`shell:$USER`, admin), what, on whom; a refused
    command writes no row."""
    monkeypatch.setenv("USER", "it-ops")
    pw = "long enough password\n"
    for args, stdin in (
        (["user", "add", "ann", "--role", "coordinator", "--password-stdin"], pw),
        (["user", "passwd", "ann", "--password-stdin"], "another long password\n"),
        (["user", "disable", "ann"], None),
        (["user", "enable", "ann"], None),
        (["user", "unlock", "ann"], None),
        (["token", "create", "lab-app", "--role", "quality"], None),
        (["token", "revoke", "lab-app"], None),
        (["user", "disable", "ghost"], None),  # refused: no row
        (["user", "passwd", "ann", "--password-stdin"], "short\n"),  # refused: no row
    ):
        _run(*args, "--db", sqlite_url, stdin=stdin)
    code, out, _ = _run("audit", "--json", "--db", sqlite_url)
    rows = [(r["actor"], r["role"], r["action"], r["cohort"]) for r in reversed(json.loads(out))]
    assert code == 0 and rows == [
        ("shell:it-ops", "admin", "user_add", {"user": "ann"}),
        ("shell:it-ops", "admin", "user_password", {"user": "ann"}),
        ("shell:it-ops", "admin", "user_disable", {"user": "ann"}),
        ("shell:it-ops", "admin", "user_enable", {"user": "ann"}),
        ("shell:it-ops", "admin", "user_unlock", {"user": "ann"}),
        ("shell:it-ops", "admin", "token_create", {"token": "lab-app"}),
        ("shell:it-ops", "admin", "token_revoke", {"token": "lab-app"}),
    ]
    assert "long" not in out  # never a password
