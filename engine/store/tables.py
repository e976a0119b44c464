"""All database tables, in one module: enrollments and the append-only event log (SQLModel).

Schema changes go through the alembic migrations in `engine/store/migrations`; a test checks that
the migrations and these models agree.
"""

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

EVENT_KINDS = ("enrolled", "fact", "transition", "override", "migrated")


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """An aware UTC instant on every backend (SQLite keeps naive text, so we re-attach UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Enrollment(SQLModel, table=True):
    """One patient on one pathway: the definition pinned at enrollment and where they are now.

    `next_due_on` is the first date with a worklist item if nothing new is recorded
    (`pathway.due.next_due_on`), recomputed on every write so the board counts in SQL.
    No secondary index: the board reads `board_count`, which triggers keep.
    """

    __tablename__ = "enrollment"

    patient_id: str = Field(primary_key=True, max_length=64)
    definition_id: str = Field(max_length=64)
    definition_version: str = Field(max_length=32)
    state: str = Field(max_length=64)
    version: int
    entered_state_on: dt.date
    next_due_on: dt.date | None = Field(default=None)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)
    # the caseload summary (engine.store.summary, migration 0009), written by every write's UPDATE
    dose_since: dt.date | None = Field(default=None)
    score_instrument: str | None = Field(default=None, max_length=16)
    baseline_score: int | None = Field(default=None)
    baseline_on: dt.date | None = Field(default=None)
    last_score: int | None = Field(default=None)
    last_on: dt.date | None = Field(default=None)
    score_change_pct: int | None = Field(default=None)
    flags: int | None = Field(default=None)
    not_improving_on: dt.date | None = Field(default=None)
    next_due_item: str | None = Field(default=None, max_length=32)
    last_contact_on: dt.date | None = Field(default=None)
    summary_on: dt.date | None = Field(default=None)


class Event(SQLModel, table=True):
    """One entry of a patient's append-only log; `version` is the patient's version after it.

    Triggers (migration 0005) refuse UPDATE and DELETE on both databases; `hash` chains the
    events of a patient so that `verify` finds any edit made around them."""

    __tablename__ = "event"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('enrolled', 'fact', 'transition', 'override', 'migrated')",
            name="ck_event_kind",
        ),
    )

    patient_id: str = Field(primary_key=True, foreign_key="enrollment.patient_id", max_length=64)
    version: int = Field(primary_key=True)
    kind: str = Field(max_length=16)
    fact_kind: str | None = Field(default=None, max_length=32)
    trigger: str | None = Field(default=None, max_length=64)
    from_state: str | None = Field(default=None, max_length=64)
    to_state: str | None = Field(default=None, max_length=64)
    reason_code: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, sa_type=sa.Text)
    actor: str = Field(max_length=128)
    effective_on: dt.date
    recorded_at: dt.datetime = Field(sa_type=UTCDateTime)
    payload: str = Field(sa_type=sa.Text)
    # sha256 chaining this event to the patient's previous one (engine.store.chain; migration 0005)
    hash: str | None = Field(default=None, max_length=64)


class BoardCount(SQLModel, table=True):
    """Patients per (definition version, state) who entered it on `day` (`day_kind` 'e') or
    have their next due date on `day` ('d'). Kept by triggers on `enrollment` (migration 0003)
    in the transaction of every write; the board reads it instead of scanning enrollments."""

    __tablename__ = "board_count"
    __table_args__ = (
        sa.CheckConstraint("day_kind IN ('e', 'd')", name="ck_board_count_day_kind"),
        {"sqlite_with_rowid": False},
    )

    definition_id: str = Field(primary_key=True, max_length=64)
    definition_version: str = Field(primary_key=True, max_length=32)
    state: str = Field(primary_key=True, max_length=64)
    day_kind: str = Field(primary_key=True, max_length=1)
    day: dt.date = Field(primary_key=True)
    patients: int


class DefinitionVersion(SQLModel, table=True):
    """Every definition version the engine has used, by content: its canonical JSON (the
    definition and its catalogs) and that text's SHA-256, so a patient is always evaluated with
    the version they are pinned to, from any machine, and a different file claiming the same id
    and version is refused (migration 0004)."""

    __tablename__ = "definition_version"

    definition_id: str = Field(primary_key=True, max_length=64)
    version: str = Field(primary_key=True, max_length=32)
    sha256: str = Field(max_length=64)
    content: str = Field(sa_type=sa.Text)
    first_seen: dt.datetime = Field(sa_type=UTCDateTime)


class DueItemRecord(SQLModel, table=True):
    """A patient's worklist items, due now or later if nothing new is recorded, written with
    every write to the patient (`pathway.due.schedule`, migration 0007). The worklist reads
    `due_on <= :as_of` in priority order through `ix_due_item_priority_due`."""

    __tablename__ = "due_item"
    __table_args__ = (
        sa.Index("ix_due_item_priority_due", "priority", "due_on", "patient_id", "seq"),
        {"sqlite_with_rowid": False},  # the key is the table: one b-tree less per write
    )

    patient_id: str = Field(primary_key=True, foreign_key="enrollment.patient_id", max_length=64)
    seq: int = Field(primary_key=True)
    item: str = Field(max_length=32)
    priority: int
    due_on: dt.date
    state: str = Field(max_length=64)
    label: str = Field(sa_type=sa.Text)
    why: str = Field(sa_type=sa.Text)
    sources: str = Field(sa_type=sa.Text)  # JSON list
    computed_on: dt.date


def due_item_table() -> sa.Table:
    """The stored worklist items (typed access for Core statements)."""
    return SQLModel.metadata.tables["due_item"]


def definition_version_table() -> sa.Table:
    """The stored definition versions (typed access for Core statements)."""
    return SQLModel.metadata.tables["definition_version"]


def enrollment_table() -> sa.Table:
    """The enrollment table (typed access for Core statements)."""
    return SQLModel.metadata.tables["enrollment"]


def board_count_table() -> sa.Table:
    """The board's counts (typed access for Core statements)."""
    return SQLModel.metadata.tables["board_count"]


def event_table() -> sa.Table:
    """The event table (typed access for Core statements)."""
    return SQLModel.metadata.tables["event"]


# -- the web app's accounts and access audit (migration 0008, engine/web) -----------------------


class WebUser(SQLModel, table=True):
    """A person who logs in to the web app: role, argon2id password hash, lockout counters."""

    __tablename__ = "web_user"

    name: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=256)
    failed_count: int = Field(default=0)
    locked_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled: bool = Field(default=False)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A bearer token for another app, scoped to a role; only its SHA-256 is stored. It works
    until `expires_at` (none: never, as every token made before migration 0011); `last_used_at`
    is written at most once a minute."""

    __tablename__ = "api_token"

    name: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16)
    sha256: str = Field(max_length=64, unique=True)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A logged-in browser: the SHA-256 of its cookie, who, its CSRF token, when it expires
    (12 hours after login), and when it was last used (written at most once a minute: the idle
    timeout counts from it; none means its creation, migration 0010)."""

    __tablename__ = "web_session"

    sha256: str = Field(primary_key=True, max_length=64)
    user_name: str = Field(foreign_key="web_user.name", max_length=64)
    csrf: str = Field(max_length=64)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    last_seen_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class AccessAudit(SQLModel, table=True):
    """Append-only: who read, wrote or exported what, when, with which outcome (triggers refuse
    UPDATE and DELETE, as on `event`)."""

    __tablename__ = "access_audit"
    __table_args__ = (
        sa.Index("ix_access_audit_at", "at"),
        sa.Index("ix_access_audit_patient", "patient_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=128)
    role: str = Field(max_length=16)
    action: str = Field(max_length=64)
    patient_id: str | None = Field(default=None, max_length=64)
    cohort: str | None = Field(default=None, sa_type=sa.Text)  # the filter, as JSON
    outcome: str = Field(max_length=32)


def access_audit_table() -> sa.Table:
    """The access audit (typed access for Core statements)."""
    return SQLModel.metadata.tables["access_audit"]


def web_user_table() -> sa.Table:
    """The web app's accounts."""
    return SQLModel.metadata.tables["web_user"]


def api_token_table() -> sa.Table:
    """The API's bearer tokens (hashed)."""
    return SQLModel.metadata.tables["api_token"]


def web_session_table() -> sa.Table:
    """The web app's sessions (hashed cookie values)."""
    return SQLModel.metadata.tables["web_session"]
