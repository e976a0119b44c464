"""The API's bearer tokens: made, revoked, listed and looked up (a mixin of `Accounts`); only a
token's SHA-256 is stored, and it expires after `DEFAULT_TOKEN_DAYS` unless made otherwise.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from engine.web.identity import (
    SEEN_EVERY,
    AccountError,
    Principal,
    Role,
    check_name,
    check_role,
    sha256,
)

# an API token works this many days unless made for longer, shorter or for ever (`days=None`)
DEFAULT_TOKEN_DAYS = 365
MAX_TOKEN_DAYS = 3 * 365


class ApiTokens:
    """The token methods of `Accounts`, on its `engine`, `tokens` table and clock `now`."""

    engine: sa.Engine
    tokens: sa.Table
    now: Callable[[], dt.datetime]

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
