"""Accounts, API tokens, sessions and the access audit of the web app (tables of migration 0008).

Passwords are argon2id hashes (argon2-cffi); tokens and session cookies are random and stored as
their SHA-256 only, so a copy of the database gives no way in. Five failed logins in a row lock
an account for 15 minutes. A session ends 12 hours after login, or sooner after `idle` (30
minutes by default) without a request. A new password has 12 to 128 characters, is not the
user name and is not easy to guess. Nothing here logs a password, a token or a patient id.

Here: `Accounts` (users, logins, sessions); its token and audit methods are in `api_tokens` and
`access_audit`, the roles, input rules and hashing in `identity`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from engine.store.tables import (
    access_audit_table,
    api_token_table,
    web_session_table,
    web_user_table,
)
from engine.web.access_audit import AccessAudit, relaxed_commits
from engine.web.api_tokens import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS, ApiTokens
from engine.web.identity import (
    IDLE_TIMEOUT,
    MAX_PASSWORD,
    MIN_PASSWORD,
    SEEN_EVERY,
    AccountError,
    Principal,
    Role,
    SessionCheck,
    check_name,
    check_new_password,
    check_role,
    dummy_hash,
    hash_password,
    idle_timeout,
    needs_rehash,
    sha256,
    verify_password,
)

# and what other modules import from here, though defined in identity, api_tokens, access_audit
__all__ = [
    "DEFAULT_TOKEN_DAYS",
    "IDLE_TIMEOUT",
    "LOCKOUT",
    "MAX_FAILED_LOGINS",
    "MAX_PASSWORD",
    "MAX_TOKEN_DAYS",
    "MIN_PASSWORD",
    "SESSION_LIFETIME",
    "AccountError",
    "Accounts",
    "Principal",
    "Role",
    "check_name",
    "check_new_password",
    "check_role",
    "hash_password",
    "idle_timeout",
    "relaxed_commits",
    "sha256",
]

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
SESSION_LIFETIME = dt.timedelta(hours=12)


class Accounts(ApiTokens, AccessAudit):
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
            verify_password(dummy_hash(), password)
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
            verify_password(dummy_hash(), password)
            return None
        if not verify_password(stored, password):
            if attempt >= MAX_FAILED_LOGINS:
                with self.engine.begin() as conn:
                    conn.execute(
                        u.update()
                        .where(u.c.name == name)
                        .values(failed_count=0, locked_until=now + LOCKOUT)
                    )
            return None
        values: dict[str, Any] = {"failed_count": 0, "locked_until": None}
        if needs_rehash(stored):
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
