"""Stored worklist items: every write keeps the patient's due items, each on its date.

The worklist becomes an indexed `due_on <= :as_of` query in priority order instead of a replay
of every due patient's log. Existing patients get their items from `pathway init-db`'s backfill
(`engine.store.due_store.backfill`), which runs after the migrations.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create `due_item` and its worklist index."""
    op.create_table(
        "due_item",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.Column("computed_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["enrollment.patient_id"]),
        sa.PrimaryKeyConstraint("patient_id", "seq"),
        sqlite_with_rowid=False,  # the key is the table: one b-tree less per write
    )
    op.create_index(
        "ix_due_item_priority_due", "due_item", ["priority", "due_on", "patient_id", "seq"]
    )


def downgrade() -> None:
    """Drop `due_item`."""
    op.drop_index("ix_due_item_priority_due", table_name="due_item")
    op.drop_table("due_item")
