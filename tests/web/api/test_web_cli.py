"""`pathway user add`, `pathway token create|revoke`, `pathway audit`: refused input exits 2
naming the field and value, and writes nothing."""

from __future__ import annotations

import json

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
