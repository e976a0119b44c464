"""Accounts, API tokens, sessions and the access audit of the web app (tables of migration 0008).

Passwords are argon2id hashes (argon2-cffi); tokens and session cookies are random and stored as
their SHA-256 only, so a copy of the database gives no way in. Five failed logins in a row lock
an account for 15 minutes. A session ends 12 hours after login, or sooner after `idle` (30
minutes by default) without a request. A new password has 12 to 128 characters, is not the
user name and is not easy to guess. Nothing here logs a password, a token or a patient id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from engine.store.tables import (
    access_audit_table,
    api_token_table,
    web_session_table,
    web_user_table,
)
from engine.web.password_strength import too_guessable
from pathway.errors import PathwayError, printable

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
SESSION_LIFETIME = dt.timedelta(hours=12)
# Ward PCs are shared: a session nobody uses ends (OWASP ASVS 3.3.2, level 2: 30 minutes)
IDLE_TIMEOUT = dt.timedelta(minutes=30)
MAX_IDLE_MINUTES = 12 * 60  # longer than the absolute lifetime would mean nothing
# a session's last-seen instant is written at most this often, so a page load is not a write;
# the idle timeout may therefore end a session up to this much early, never late
SEEN_EVERY = dt.timedelta(minutes=1)
# an API token works this many days unless made for longer, shorter or for ever (`days=None`)
DEFAULT_TOKEN_DAYS = 365
MAX_TOKEN_DAYS = 3 * 365
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}"
# new passwords (ASVS 2.1.1, 2.1.2, 2.1.7); accounts made with older rules still log in
MIN_PASSWORD = 12
MAX_PASSWORD = 128
# a hash to verify against when the user does not exist, so that an unknown name costs as much
# time as a wrong password (no user enumeration by timing)
_HASHER = PasswordHasher()  # argon2id with the library's current parameters (RFC 9106 low-memory)
_DUMMY: list[str] = []  # made on first use: hashing at import would slow every command


class Role(StrEnum):
    """What a person or an app may do (engine/web/README.md has the table)."""

    coordinator = "coordinator"
    clinician = "clinician"
    quality = "quality"
    admin = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: an account (session cookie) or an API token, with its role."""

    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class SessionCheck:
    """What a session cookie gave: the principal and CSRF token of a live session, or none;
    `idle` when the session was ended just now for having gone unused for the idle timeout."""

    principal: Principal | None = None
    csrf: str | None = None
    idle: bool = False


class AccountError(PathwayError):
    """An account or token command refused: the message names the field and the value;
    `field` is which one ("name", "role", "password", "current_password"), `reason` the message
    without it."""

    def __init__(self, message: str, *, field: str = "name") -> None:
        super().__init__(message)
        self.field = field
        self.reason = message.split(": ", 1)[-1]


def sha256(text: str) -> str:
    """The hex SHA-256 of a secret (how tokens and session cookies are stored)."""
    return hashlib.sha256(text.encode()).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash (`$argon2id$…`)."""
    return _HASHER.hash(password)


def check_role(role: str) -> Role:
    """The Role named, or AccountError naming the value and the allowed ones."""
    try:
        return Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise AccountError(
            f"--role: unknown role {role!r}; allowed: {allowed}", field="role"
        ) from None


def check_new_password(password: str, *, name: str, field: str = "password") -> str:
    """A new password if the policy allows it: 12 to 128 characters (any, spaces included), not
    the user name in any case, not easy to guess (`password_strength`); else AccountError naming
    `field` and the rule (never the password)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"{field}: at least {MIN_PASSWORD} characters are needed", field=field)
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"{field}: at most {MAX_PASSWORD} characters are allowed", field=field)
    if password.casefold() == name.casefold():
        raise AccountError(f"{field}: it must not be the user name", field=field)
    why = too_guessable(password, user_name=name)
    if why is not None:
        raise AccountError(f"{field}: too easy to guess. {why}", field=field)
    return password


def idle_timeout(minutes: int) -> dt.timedelta:
    """The idle timeout of `--idle-minutes` (1 to 720: no longer than a session lasts)."""
    if not 1 <= minutes <= MAX_IDLE_MINUTES:
        raise AccountError(
            f"--idle-minutes: {minutes} is out of range (1 to {MAX_IDLE_MINUTES})",
            field="idle_minutes",
        )
    return dt.timedelta(minutes=minutes)


def check_name(name: str, what: str = "NAME") -> str:
    """A user or token name: letters, digits and . _ @ - (at most 64)."""
    import re

    if not re.fullmatch(NAME_PATTERN, name):
        raise AccountError(
            f"{what}: {name[:80]!r} is not a valid name (letters, digits, . _ @ -; at most 64)"
        )
    return name


def relaxed_commits(engine: sa.Engine) -> sa.Engine:
    """Make an engine's commits skip the fsync (for the access audit's own engine).

    An audit row is written on every read, and a durable commit costs an fsync (SQLite with
    `synchronous=FULL`: ~0.2–0.8 ms, more than the read it records). On this engine SQLite runs
    with `synchronous=NORMAL` and PostgreSQL with `synchronous_commit=off`: a row survives the
    app crashing, and is made durable by the next fsync (every clinical write's FULL commit
    fsyncs the shared WAL, and PostgreSQL's WAL writer within ~0.2 s); only an OS crash or power
    cut in that window can lose the newest audit rows, never a clinical event.
    """
    from sqlalchemy import event

    def relax(dbapi_connection: Any, _record: Any) -> None:
        cur = dbapi_connection.cursor()
        try:
            if engine.dialect.name == "sqlite":
                cur.execute("PRAGMA synchronous=NORMAL")
            else:
                cur.execute("SET synchronous_commit = off")
        finally:
            cur.close()
        if engine.dialect.name != "sqlite":
            dbapi_connection.commit()

    event.listen(engine, "connect", relax)
    return engine


class Accounts:
    """The account tables on an engine; each call is its own short transaction. Audit rows go
    through `audit_engine` when given (`relaxed_commits`), else the same engine; a session
    unused for `idle` ends."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        now: Callable[[], dt.datetime] | None = None,
        audit_engine: sa.Engine | None = None,
        idle: dt.timedelta = IDLE_TIMEOUT,
    ) -> None:
        self.engine = engine
        self.audit_engine = audit_engine or engine
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self.idle = idle
        self.users, self.tokens = web_user_table(), api_token_table()
        self.sessions, self.audit_rows = web_session_table(), access_audit_table()
        self._insert_audit = self.audit_rows.insert()

    # -- users ----------------------------------------------------------------------------

    def add_user(self, name: str, *, role: str, password: str) -> None:
        """Create an account (AccountError if the name is taken or the input is invalid)."""
        check_name(name)
        r = check_role(role)
        check_new_password(password, name=name)
        row = {
            "name": name,
            "role": r.value,
            "password_hash": hash_password(password),
            "failed_count": 0,
            "locked_until": None,
            "disabled": False,
            "created_at": self.now(),
        }
        with self.engine.begin() as conn:
            taken = conn.execute(
                sa.select(self.users.c.name).where(self.users.c.name == name)
            ).first()
            if taken is not None:
                raise AccountError(f"NAME: a user {name!r} exists already")
            conn.execute(self.users.insert().values(**row))

    def list_users(self) -> list[dict[str, Any]]:
        """Every account (no hashes), by name."""
        u = self.users
        cols = (
            u.c.name,
            u.c.role,
            u.c.failed_count,
            u.c.locked_until,
            u.c.disabled,
            u.c.created_at,
        )
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*cols).order_by(u.c.name)).all()
        return [dict(r._mapping) for r in rows]

    def has_user(self, name: str) -> bool:
        """Whether an account of that name exists (disabled or not)."""
        u = self.users
        with self.engine.connect() as conn:
            return conn.execute(sa.select(u.c.name).where(u.c.name == name)).first() is not None

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable (or enable again) an account; its sessions end."""
        with self.engine.begin() as conn:
            n = conn.execute(
                self.users.update().where(self.users.c.name == name).values(disabled=disabled)
            ).rowcount
            if n == 0:
                raise AccountError(f"NAME: no user {name!r}")
            if disabled:
                conn.execute(self.sessions.delete().where(self.sessions.c.user_name == name))

    def unlock(self, name: str) -> None:
        """End an account's lockout and forget its failed logins (AccountError if unknown)."""
        u = self.users
        with self.engine.begin() as conn:
            n = conn.execute(
                u.update().where(u.c.name == name).values(failed_count=0, locked_until=None)
            ).rowcount
        if n == 0:
            raise AccountError(f"NAME: no user {name!r}")

    def set_password(self, name: str, *, password: str) -> None:
        """An administrator's reset: a new password (by the policy) for an account, which is
        unlocked; every session of that account ends. AccountError for an unknown name."""
        check_new_password(password, name=name)
        u = self.users
        with self.engine.begin() as conn:
            n = conn.execute(
                u.update()
                .where(u.c.name == name)
                .values(password_hash=hash_password(password), failed_count=0, locked_until=None)
            ).rowcount
            if n == 0:
                raise AccountError(f"NAME: no user {name!r}")
            conn.execute(self.sessions.delete().where(self.sessions.c.user_name == name))

    def change_password(self, name: str, *, current: str, new: str, csrf: str | None = None) -> str:
        """A user's own change: `current` is checked like a login's password (a wrong one counts
        toward the lockout); on success every session of the account ends and the cookie of a
        new one is returned, for the browser that made the change.

        AccountError on `new_password` (the policy) or `current_password` (wrong, or the
        account is locked); nothing is written then but the failed attempt's count. `csrf`: the
        changing session's form token, kept by the new session, so that a form open in another
        tab of the same browser still goes through."""
        check_new_password(new, name=name, field="new_password")
        if self._password_ok(name, current) is None:
            if self.is_locked(name):
                minutes = int(LOCKOUT.total_seconds() // 60)
                raise AccountError(
                    f"current_password: the account is locked after {MAX_FAILED_LOGINS} wrong "
                    f"passwords in a row; try again in {minutes} minutes",
                    field="current_password",
                )
            raise AccountError(
                "current_password: this is not your current password", field="current_password"
            )
        u, now = self.users, self.now()
        cookie = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                u.update()
                .where(u.c.name == name)
                .values(password_hash=hash_password(new), failed_count=0, locked_until=None)
            )
            conn.execute(self.sessions.delete().where(self.sessions.c.user_name == name))
            session = self._new_session(cookie, name, now)
            if csrf is not None:
                session["csrf"] = csrf
            conn.execute(self.sessions.insert().values(**session))
        return cookie

    def login(self, name: str, password: str) -> tuple[str, Principal] | None:
        """Check a password (`_password_ok`); on success a new session (cookie value,
        principal), else None. Expired sessions of anyone are deleted then."""
        role = self._password_ok(name, password)
        if role is None:
            return None
        now = self.now()
        cookie = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            # expired sessions go when someone logs in (idle ones when they are next used, so
            # that their browser can be told why; or here once past their 12 hours)
            conn.execute(self.sessions.delete().where(self.sessions.c.expires_at <= now))
            conn.execute(self.sessions.insert().values(**self._new_session(cookie, name, now)))
        return cookie, Principal(name, Role(role))

    def _new_session(self, cookie: str, name: str, now: dt.datetime) -> dict[str, Any]:
        return {
            "sha256": sha256(cookie),
            "user_name": name,
            "csrf": secrets.token_urlsafe(32),
            "created_at": now,
            "expires_at": now + SESSION_LIFETIME,
            "last_seen_at": now,
        }

    def _password_ok(self, name: str, password: str) -> str | None:
        """The account's role if `password` is its password, else None; a success resets the
        failure count (and rehashes a hash made with older parameters).

        A locked or disabled account is refused even with the right password; every failure
        counts, and the fifth in a row locks the account for `LOCKOUT`.

        Each attempt is counted (one atomic UPDATE) before its password is checked, so guesses
        sent in parallel cannot all read the same count and each write it back plus one (which
        let any number of parallel guesses through as one failure); an attempt past the fifth
        locks the account without being checked. An unknown, disabled or locked name costs one
        password check all the same (no user enumeration by timing)."""
        u, now = self.users, self.now()
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(u.c.role, u.c.password_hash, u.c.locked_until, u.c.disabled).where(
                    u.c.name == name
                )
            ).first()
        if row is None or row[3] or (row[2] is not None and row[2] > now):
            _verify(_dummy_hash(), password)
            return None
        role, stored = row[0], row[1]
        open_now = sa.or_(u.c.locked_until.is_(None), u.c.locked_until <= now)
        with self.engine.begin() as conn:
            counted = conn.execute(
                u.update()
                .where(u.c.name == name, ~u.c.disabled, open_now)
                .values(failed_count=u.c.failed_count + 1)
            ).rowcount
            attempt = (
                conn.execute(sa.select(u.c.failed_count).where(u.c.name == name)).scalar() or 0
            )
            if counted and attempt > MAX_FAILED_LOGINS:  # past the limit in parallel: lock now
                conn.execute(
                    u.update()
                    .where(u.c.name == name)
                    .values(failed_count=0, locked_until=now + LOCKOUT)
                )
        if not counted or attempt > MAX_FAILED_LOGINS:  # locked or disabled meanwhile
            _verify(_dummy_hash(), password)
            return None
        if not _verify(stored, password):
            if attempt >= MAX_FAILED_LOGINS:
                with self.engine.begin() as conn:
                    conn.execute(
                        u.update()
                        .where(u.c.name == name)
                        .values(failed_count=0, locked_until=now + LOCKOUT)
                    )
            return None
        values: dict[str, Any] = {"failed_count": 0, "locked_until": None}
        if _HASHER.check_needs_rehash(stored):
            values["password_hash"] = hash_password(password)
        with self.engine.begin() as conn:
            conn.execute(u.update().where(u.c.name == name).values(**values))
        return str(role)

    def is_locked(self, name: str) -> bool:
        """Whether the account is locked out now."""
        u = self.users
        with self.engine.connect() as conn:
            until = conn.execute(sa.select(u.c.locked_until).where(u.c.name == name)).scalar()
        return until is not None and until > self.now()

    def session(self, cookie: str) -> tuple[Principal, str] | None:
        """The principal and CSRF token of a live session cookie (None if unknown, expired or
        idle: `check_session`)."""
        found = self.check_session(cookie)
        if found.principal is None or found.csrf is None:
            return None
        return found.principal, found.csrf

    def check_session(self, cookie: str) -> SessionCheck:
        """Look a session cookie up, and count this as its use.

        Live: within 12 hours of its login and less than `idle` since it was last used (its
        creation, for a session that has no last-seen instant). One unused for `idle` is
        deleted and reported as such (`idle`), so that its page can say why it ended. The
        last-seen instant is written only when the stored one is `SEEN_EVERY` old: most
        requests read and write nothing else."""
        s, u, now = self.sessions, self.users, self.now()
        key = sha256(cookie)
        stmt = (
            sa.select(u.c.name, u.c.role, s.c.csrf, s.c.created_at, s.c.last_seen_at)
            .select_from(s.join(u, u.c.name == s.c.user_name))
            .where(s.c.sha256 == key, s.c.expires_at > now, ~u.c.disabled)
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return SessionCheck()
        seen: dt.datetime = row[4] or row[3]
        if now - seen >= self.idle and self._end_if_idle(key, now):
            return SessionCheck(idle=True)
        if now - seen >= SEEN_EVERY:
            # only if no parallel request of the same browser wrote it meanwhile
            stale = sa.or_(s.c.last_seen_at.is_(None), s.c.last_seen_at <= now - SEEN_EVERY)
            with self.engine.begin() as conn:
                conn.execute(s.update().where(s.c.sha256 == key, stale).values(last_seen_at=now))
        return SessionCheck(Principal(row[0], Role(row[1])), row[2])

    def _end_if_idle(self, key: str, now: dt.datetime) -> bool:
        """Delete the session if it is still unused for `idle` (a parallel request of the same
        browser may have just written its use: then it stays); whether it was deleted."""
        s = self.sessions
        last = sa.func.coalesce(s.c.last_seen_at, s.c.created_at)
        with self.engine.begin() as conn:
            gone = conn.execute(s.delete().where(s.c.sha256 == key, last <= now - self.idle))
        return bool(gone.rowcount)

    def logout(self, cookie: str) -> None:
        """End a session."""
        with self.engine.begin() as conn:
            conn.execute(self.sessions.delete().where(self.sessions.c.sha256 == sha256(cookie)))

    # -- tokens ---------------------------------------------------------------------------

    def create_token(self, name: str, *, role: str, days: int | None = DEFAULT_TOKEN_DAYS) -> str:
        """A new bearer token for an app (printed once; only its hash is kept), working for
        `days` (1 to 1095) from now, or for ever if None."""
        check_name(name)
        r = check_role(role)
        if days is not None and not 1 <= days <= MAX_TOKEN_DAYS:
            raise AccountError(
                f"--days: {days} is out of range (1 to {MAX_TOKEN_DAYS})", field="days"
            )
        token, now = "pw_" + secrets.token_urlsafe(32), self.now()
        expires = None if days is None else now + dt.timedelta(days=days)
        with self.engine.begin() as conn:
            taken = conn.execute(
                sa.select(self.tokens.c.name).where(self.tokens.c.name == name)
            ).first()
            if taken is not None:
                raise AccountError(f"NAME: a token {name!r} exists already")
            conn.execute(
                self.tokens.insert().values(
                    name=name,
                    role=r.value,
                    sha256=sha256(token),
                    created_at=now,
                    expires_at=expires,
                )
            )
        return token

    def revoke_token(self, name: str) -> None:
        """Revoke a token by name (AccountError if there is none, or it is revoked already)."""
        t = self.tokens
        with self.engine.begin() as conn:
            n = conn.execute(
                t.update()
                .where(t.c.name == name, t.c.revoked_at.is_(None))
                .values(revoked_at=self.now())
            ).rowcount
        if n == 0:
            raise AccountError(f"NAME: no live token {name!r}")

    def list_tokens(self) -> list[dict[str, Any]]:
        """Every token (no hashes), by name, with when it expires and was last used (or None)."""
        t = self.tokens
        columns = (t.c.name, t.c.role, t.c.created_at, t.c.revoked_at)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*columns, t.c.expires_at, t.c.last_used_at).order_by(t.c.name)
            ).all()
        return [dict(r._mapping) for r in rows]

    def token(self, token: str) -> Principal | None:
        """The principal of a live bearer token (None if unknown, revoked or expired), and count
        this as its use: the last-used instant is written only when the stored one is
        `SEEN_EVERY` old, as a session's last-seen one."""
        t, now = self.tokens, self.now()
        key = sha256(token)
        live = sa.or_(t.c.expires_at.is_(None), t.c.expires_at > now)
        stmt = sa.select(t.c.name, t.c.role, t.c.last_used_at).where(
            t.c.sha256 == key, t.c.revoked_at.is_(None), live
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        if row[2] is None or now - row[2] >= SEEN_EVERY:
            # only if no parallel request with the same token wrote it meanwhile
            stale = sa.or_(t.c.last_used_at.is_(None), t.c.last_used_at <= now - SEEN_EVERY)
            with self.engine.begin() as conn:
                conn.execute(t.update().where(t.c.sha256 == key, stale).values(last_used_at=now))
        return Principal(row[0], Role(row[1]))

    # -- audit ----------------------------------------------------------------------------

    def audit(
        self,
        principal: Principal | None,
        action: str,
        *,
        patient_id: str | None = None,
        cohort: dict[str, Any] | None = None,
        outcome: str = "ok",
        actor: str | None = None,
    ) -> None:
        """Append one access audit row (its own transaction); `actor` names someone who is not
        logged in (a failed login)."""
        # What a request can put here (a name typed at login, a patient id in a page's path)
        # is stored with control and bidi characters escaped, so that a row printed by
        # `pathway audit` can neither forge another line nor move the terminal's cursor, and
        # cut to its column's width, so that PostgreSQL (which enforces it) does not refuse
        # the row and leave the request unaudited.
        row = {
            "at": self.now(),
            "actor": _fit(principal.name if principal else (actor or "(anonymous)"), 128),
            "role": principal.role.value if principal else "",
            "action": _fit(action, 64),
            "patient_id": None if patient_id is None else _fit(patient_id, 64),
            "cohort": None if cohort is None else json.dumps(cohort, sort_keys=True, default=str),
            "outcome": outcome,
        }
        with self.audit_engine.begin() as conn:
            conn.execute(self._insert_audit, row)

    def audit_log(
        self,
        *,
        user: str | None = None,
        patient: str | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        upto: int | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Audit rows, newest first, filtered; `upto`: only rows up to that id, so that pages
        read while the log grows (each read adds a row) neither shift nor repeat."""
        a = self.audit_rows
        stmt = sa.select(
            a.c.id, a.c.at, a.c.actor, a.c.role, a.c.action, a.c.patient_id, a.c.cohort, a.c.outcome
        )
        if user is not None:
            stmt = stmt.where(a.c.actor == user)
        if patient is not None:
            stmt = stmt.where(a.c.patient_id == patient)
        if action is not None:
            stmt = stmt.where(a.c.action == action)
        if since is not None:
            stmt = stmt.where(a.c.at >= since)
        if until is not None:
            stmt = stmt.where(a.c.at < until)
        if upto is not None:
            stmt = stmt.where(a.c.id <= upto)
        stmt = stmt.order_by(a.c.id.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        out = []
        for r in rows:
            d = dict(r._mapping)
            d["cohort"] = None if d["cohort"] is None else json.loads(d["cohort"])
            out.append(d)
        return out


def _fit(text: str, width: int) -> str:
    """Text for an audit column: control and bidi characters escaped, at most `width`
    characters (a longer one ends in "…")."""
    safe = printable(text)
    return safe if len(safe) <= width else safe[: width - 1] + "…"


def _dummy_hash() -> str:
    """The hash an unknown, disabled or locked name's password is checked against."""
    if not _DUMMY:
        _DUMMY.append(_HASHER.hash("not a password of anyone"))
    return _DUMMY[0]


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
