"""Initial schema: enrollment and the append-only event log.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the enrollment and event tables with their indexes."""
    op.create_table(
        "enrollment",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("definition_id", sa.String(length=64), nullable=False),
        sa.Column("definition_version", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("entered_state_on", sa.Date(), nullable=False),
        sa.Column("next_due_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("patient_id"),
    )
    op.create_index("ix_enrollment_state", "enrollment", ["state"])
    op.create_index("ix_enrollment_next_due_on", "enrollment", ["next_due_on"])
    op.create_index(
        "ix_enrollment_definition",
        "enrollment",
        ["definition_id", "definition_version", "state"],
    )
    op.create_table(
        "event",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("fact_kind", sa.String(length=32), nullable=True),
        sa.Column("trigger", sa.String(length=64), nullable=True),
        sa.Column("from_state", sa.String(length=64), nullable=True),
        sa.Column("to_state", sa.String(length=64), nullable=True),
        sa.Column("reason_code", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('enrolled', 'fact', 'transition', 'override')", name="ck_event_kind"
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["enrollment.patient_id"]),
        sa.PrimaryKeyConstraint("patient_id", "version"),
    )


def downgrade() -> None:
    """Drop everything the upgrade created."""
    op.drop_table("event")
    op.drop_index("ix_enrollment_definition", table_name="enrollment")
    op.drop_index("ix_enrollment_next_due_on", table_name="enrollment")
    op.drop_index("ix_enrollment_state", table_name="enrollment")
    op.drop_table("enrollment")
