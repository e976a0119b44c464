"""`pathway serve`, `pathway user add|list|passwd|disable|enable|unlock`, `pathway token
create|revoke|list`, `pathway audit`.

Refused input (an unknown user, a password the policy refuses) prints one message naming the
field and value on stderr, exits 2 and writes nothing. Passwords are read from a prompt (twice)
or from stdin, never from the command line; a token is printed once and only its hash is kept.
A change to an account or a token is an access-audit row, as the web admin's are, by
`shell:<the shell's user>` in the admin role.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from engine.cli import common
from engine.cli.common import EXIT_INVALID, dump_json, handle_errors
from engine.cli.patients import DbOpt, JsonOpt, parse_date

if TYPE_CHECKING:
    from engine.web.accounts import Accounts

user_app = typer.Typer(no_args_is_help=True, help="Web app accounts.")
token_app = typer.Typer(no_args_is_help=True, help="API bearer tokens.")
# the roles of engine.web.accounts.Role (not imported here: `pathway` starts without SQLAlchemy)
RoleOpt = Annotated[str, typer.Option("--role", help="coordinator, clinician, quality or admin.")]


@contextlib.contextmanager
def accounts(db: str | None) -> Iterator[Accounts]:
    """The account store on the chosen database (schema checked; disposed at the end)."""
    from engine import database_url, make_engine
    from engine.store.db import check_revision
    from engine.web.accounts import Accounts

    engine = make_engine(database_url(db), create=False)
    try:
        check_revision(engine)
        yield Accounts(engine)
    finally:
        engine.dispose()


def _audited(store: Accounts, action: str, **what: str) -> None:
    """The access-audit row of a change made here (the web admin page writes the same actions):
    the actor is the shell's user, marked as such, in the admin role."""
    import getpass

    from engine.web.accounts import Principal, Role

    who = os.environ.get("USER") or getpass.getuser()
    store.audit(Principal(f"shell:{who}", Role.admin), action, cohort=what)


def register(app: typer.Typer) -> None:
    """Add the web app's commands to `pathway`."""
    app.command("serve")(handle_errors(serve))
    app.command("audit")(handle_errors(audit_command))
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")


def _root_path(value: str) -> str:
    """`--root-path` as the app keeps it ("/pathway/" is "/pathway", "/" is none); a value that
    is no path prefix is refused before anything starts (exit 2)."""
    from engine.web.app import check_root_path

    try:
        return check_root_path(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def serve(
    db: DbOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (use PostgreSQL for > 1).")
    ] = 1,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Mark cookies Secure (behind HTTPS).")
    ] = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="Proxies whose X-Forwarded-For/-Proto are trusted: comma-separated addresses "
            "or networks, or * (default: $FORWARDED_ALLOW_IPS, else 127.0.0.1).",
        ),
    ] = None,
    graceful_timeout: Annotated[
        int | None,
        typer.Option(
            "--graceful-timeout",
            min=1,
            help="On SIGTERM, seconds to let requests finish before closing (default: wait).",
        ),
    ] = None,
    idle_minutes: Annotated[
        int,
        typer.Option(
            "--idle-minutes",
            min=1,
            max=720,
            help="End a session after this many minutes without a request (the 12-hour limit "
            "from login stays).",
        ),
    ] = 30,
    root_path: Annotated[
        str,
        typer.Option(
            "--root-path",
            callback=_root_path,
            help="The path prefix a reverse proxy publishes the app under and strips before "
            "passing requests on (/pathway for https://intranet.example/pathway/); every link, "
            "redirect and cookie carries it.",
        ),
    ] = "",
    max_body_mb: Annotated[
        int,
        typer.Option(
            "--max-body-mb",
            min=1,
            max=100,
            help="Refuse request bodies larger than this many MiB with 413 (a patient record "
            "is a few kB).",
        ),
    ] = 1,
) -> None:
    """Serve the web app and the REST API (uvicorn)."""
    import uvicorn

    from engine import database_url, make_engine
    from engine.store.db import check_revision, redact
    from engine.web.app import ENV_IDLE, ENV_MAX_BODY, ENV_ROOT, ENV_SECURE

    url = database_url(db)
    engine = make_engine(url, create=False)
    try:
        check_revision(engine)  # refuse before starting workers: one clear message
        sqlite = engine.dialect.name == "sqlite"
    finally:
        engine.dispose()
    if sqlite and workers > 1:
        common.err.print(
            f"note: {workers} workers on SQLite serialise their writes; PostgreSQL scales better",
            markup=False,
        )
    os.environ["PATHWAY_DATABASE_URL"] = url
    os.environ[ENV_SECURE] = "1" if secure_cookies else "0"
    os.environ[ENV_IDLE] = str(idle_minutes)
    os.environ[ENV_MAX_BODY] = str(max_body_mb)
    os.environ[ENV_ROOT] = root_path  # the app sets each request's ASGI root_path from it
    under = f"; published under {root_path}/" if root_path else ""
    common.out.print(
        f"serving {redact(url)} on http://{host}:{port}/ ({workers} worker(s); sessions end "
        f"after {idle_minutes} minutes without a request{under})",
        markup=False,
    )
    uvicorn.run(
        "engine.web.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # request lines carry patient ids in their paths: none in the logs
        log_level="warning",
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        timeout_graceful_shutdown=graceful_timeout,
    )


def _password(stdin: bool, name: str) -> str:
    """A new password for `name`: one line of standard input, or a hidden prompt twice; the
    policy (`check_new_password`) is checked before anything is written."""
    from engine.web.accounts import AccountError, check_new_password

    if stdin:
        text = sys.stdin.readline().rstrip("\r\n")
        if not text:
            raise AccountError("--password-stdin: no password on standard input", field="password")
        return check_new_password(text, name=name)
    first = typer.prompt("Password", hide_input=True)
    again = typer.prompt("Repeat the password", hide_input=True)
    if first != again:
        raise AccountError("password: the two entries differ", field="password")
    return check_new_password(str(first), name=name)


PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


@user_app.command("add")
@handle_errors
def user_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: RoleOpt,
    db: DbOpt = None,
    password_stdin: PasswordStdinOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Create an account (argon2id password hash; 12 to 128 characters, not the name, not easy
    to guess)."""
    from engine.web.accounts import check_name, check_role

    check_name(name)
    check_role(role)
    password = _password(password_stdin, name)
    with accounts(db) as store:
        store.add_user(name, role=role, password=password)
        _audited(store, "user_add", user=name)
    if json_out:
        dump_json({"name": name, "role": role})
    else:
        common.out.print(f"added user {name} ({role})", markup=False)


@user_app.command("list")
@handle_errors
def user_list(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """The accounts (no hashes)."""
    with accounts(db) as store:
        rows, now = store.list_users(), store.now()
    if json_out:
        dump_json(rows)
        return
    for r in rows:
        state = "disabled" if r["disabled"] else "active"
        if not r["disabled"] and r["locked_until"] is not None and r["locked_until"] > now:
            state = f"locked until {r['locked_until']:%Y-%m-%d %H:%M} UTC"
        common.out.print(f"{r['name']}  {r['role']}  {state}", markup=False)


def _known(store: Accounts, name: str) -> None:
    """Refuse an unknown user before anything is asked or written."""
    from engine.web.accounts import AccountError

    if not store.has_user(name):
        raise AccountError(f"NAME: no user {name[:80]!r}")


@user_app.command("passwd")
@handle_errors
def user_passwd(
    name: Annotated[str, typer.Argument(help="Login name.")],
    db: DbOpt = None,
    password_stdin: PasswordStdinOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Set a new password for an account: its sessions end and a lockout is lifted."""
    with accounts(db) as store:
        _known(store, name)
        store.set_password(name, password=_password(password_stdin, name))
        _audited(store, "user_password", user=name)
    if json_out:
        dump_json({"name": name, "password_set": True})
    else:
        common.out.print(f"new password set for {name}; their sessions have ended", markup=False)


def _set_disabled(name: str, db: str | None, json_out: bool, *, disabled: bool) -> None:
    with accounts(db) as store:
        store.set_disabled(name, disabled)
        _audited(store, "user_disable" if disabled else "user_enable", user=name)
    if json_out:
        dump_json({"name": name, "disabled": disabled})
    elif disabled:
        common.out.print(f"disabled user {name}; their sessions have ended", markup=False)
    else:
        common.out.print(f"enabled user {name}", markup=False)


@user_app.command("disable")
@handle_errors
def user_disable(
    name: Annotated[str, typer.Argument(help="Login name.")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Disable an account: it cannot log in and its sessions end."""
    _set_disabled(name, db, json_out, disabled=True)


@user_app.command("enable")
@handle_errors
def user_enable(
    name: Annotated[str, typer.Argument(help="Login name.")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Enable a disabled account again."""
    _set_disabled(name, db, json_out, disabled=False)


@user_app.command("unlock")
@handle_errors
def user_unlock(
    name: Annotated[str, typer.Argument(help="Login name.")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Lift a lockout after failed logins (the count starts again)."""
    with accounts(db) as store:
        store.unlock(name)
        _audited(store, "user_unlock", user=name)
    if json_out:
        dump_json({"name": name, "unlocked": True})
    else:
        common.out.print(f"unlocked user {name}", markup=False)


@token_app.command("create")
@handle_errors
def token_create(
    name: Annotated[str, typer.Argument(help="The app the token is for.")],
    role: RoleOpt,
    days: Annotated[
        int | None,
        typer.Option("--days", help="Days it works, 1 to 1095 (default 365).", show_default=False),
    ] = None,
    no_expiry: Annotated[
        bool, typer.Option("--no-expiry", help="It works until revoked (not with --days).")
    ] = False,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a bearer token and print it once (only its SHA-256 is stored)."""
    from engine.web.accounts import DEFAULT_TOKEN_DAYS, AccountError, check_name, check_role

    check_name(name)
    check_role(role)
    if days is not None and no_expiry:
        raise AccountError("--days, --no-expiry: give one or the other, not both", field="days")
    with accounts(db) as store:
        lifetime = DEFAULT_TOKEN_DAYS if days is None else days
        token = store.create_token(name, role=role, days=None if no_expiry else lifetime)
        _audited(store, "token_create", token=name)
        expires = next(t["expires_at"] for t in store.list_tokens() if t["name"] == name)
    if json_out:
        dump_json({"name": name, "role": role, "token": token, "expires_at": _iso(expires)})
    else:
        sys.stdout.write(token + "\n")
        until = "never expires" if expires is None else f"expires {expires:%Y-%m-%d}"
        common.err.print(
            f"token {name} ({role}) created, {until}: it is shown only this once", markup=False
        )


def _iso(at: dt.datetime | None) -> str | None:
    """An instant as ISO 8601 (UTC offset included), or None."""
    return None if at is None else at.isoformat()


@token_app.command("revoke")
@handle_errors
def token_revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke a token: it stops working at once."""
    with accounts(db) as store:
        store.revoke_token(name)
        _audited(store, "token_revoke", token=name)
    if json_out:
        dump_json({"name": name, "revoked": True})
    else:
        common.out.print(f"revoked token {name}", markup=False)


@token_app.command("list")
@handle_errors
def token_list(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """The tokens (names, roles, state, when they expire and were last used, UTC; never the
    tokens)."""
    with accounts(db) as store:
        rows, now = store.list_tokens(), store.now()
    if json_out:
        iso = [
            {k: _iso(v) if isinstance(v, dt.datetime) else v for k, v in r.items()} for r in rows
        ]
        dump_json(iso)
        return
    for r in rows:
        revoked, expires, used = r["revoked_at"], r["expires_at"], r["last_used_at"]
        if revoked is not None:
            state = f"revoked {revoked:%Y-%m-%d}"
        elif expires is not None and expires <= now:
            state = f"expired {expires:%Y-%m-%d}"
        else:
            state = "live"
        until = "never" if expires is None else f"{expires:%Y-%m-%d}"
        last = "never" if used is None else f"{used:%Y-%m-%d %H:%M} UTC"
        common.out.print(
            f"{r['name']}  {r['role']}  {state}  expires {until}  last used {last}", markup=False
        )


def audit_command(
    db: DbOpt = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this account or token.")] = None,
    patient: Annotated[str | None, typer.Option("--patient", help="Only this patient.")] = None,
    action: Annotated[str | None, typer.Option("--action", help="Only this action.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this date (YYYY-MM-DD, UTC).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most N rows.")] = 1000,
    json_out: JsonOpt = False,
) -> None:
    """The access audit, newest first: who read, wrote or exported what, and the outcome."""
    day = parse_date(since, "--since")
    start = dt.datetime.combine(day, dt.time(), dt.UTC) if day else None
    with accounts(db) as store:
        rows = store.audit_log(user=user, patient=patient, action=action, since=start, limit=limit)
    if json_out:
        dump_json(rows)
        return
    if not rows:
        common.out.print("no audit rows match", markup=False)
    from pathway.errors import printable

    for r in rows:  # each field escaped: a stored row can neither forge a line nor move the cursor
        what = r["patient_id"] or ("" if r["cohort"] is None else str(r["cohort"]))
        line = f"{r['actor']} ({r['role']})  {r['action']}  {what}  {r['outcome']}"
        common.out.print(f"{r['at']:%Y-%m-%d %H:%M:%S}  {printable(line)}", markup=False)


__all__ = ["EXIT_INVALID", "register"]
