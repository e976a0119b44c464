"""Stored definition versions (by content), and the `migrated` event of `pathway migrate`.

Every definition version the engine has used is kept with its canonical JSON and its SHA-256,
so a patient pinned to a version is evaluated with exactly that content from any machine, and a
different file with the same id and version is refused. A move to another version is an event
of its own kind, `migrated`, in the patient's log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

KINDS = "'enrolled', 'fact', 'transition', 'override'"


def _event_kinds(kinds: str) -> None:
    with op.batch_alter_table("event", recreate="auto") as batch:
        batch.drop_constraint("ck_event_kind", type_="check")
        batch.create_check_constraint("ck_event_kind", f"kind IN ({kinds})")


def upgrade() -> None:
    """Create `definition_version`; allow `migrated` events."""
    op.create_table(
        "definition_version",
        sa.Column("definition_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("definition_id", "version"),
    )
    _event_kinds(KINDS + ", 'migrated'")


def downgrade() -> None:
    """Back to 0003 (a log with `migrated` events cannot go back: the constraint refuses)."""
    _event_kinds(KINDS)
    op.drop_table("definition_version")
