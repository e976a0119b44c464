"""Who is asking and what may be typed: roles, principals, `AccountError`, the rules for new
names, passwords and the idle timeout, and the hashes secrets are stored as.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from engine.web.password_strength import too_guessable
from pathway.errors import PathwayError

# Ward PCs are shared: a session nobody uses ends (OWASP ASVS 3.3.2, level 2: 30 minutes)
IDLE_TIMEOUT = dt.timedelta(minutes=30)
MAX_IDLE_MINUTES = 12 * 60  # longer than the absolute lifetime would mean nothing
# a session's last-seen instant is written at most this often, so a page load is not a write;
# the idle timeout may therefore end a session up to this much early, never late
SEEN_EVERY = dt.timedelta(minutes=1)
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


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash was made with older parameters than the library's current ones."""
    return _HASHER.check_needs_rehash(stored)


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


def dummy_hash() -> str:
    """The hash an unknown, disabled or locked name's password is checked against."""
    if not _DUMMY:
        _DUMMY.append(_HASHER.hash("not a password of anyone"))
    return _DUMMY[0]


def verify_password(stored: str, password: str) -> bool:
    """Whether `password` matches the stored argon2 hash (False for a malformed hash too)."""
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
