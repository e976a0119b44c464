"""The enrollment indexes the board and the worklist read, instead of three they did not.

Every move changes `state` (and usually `next_due_on`), so each enrollment index costs page
writes on every commit: keep two, each covering a query. The board groups by (state,
entered_state_on) for its histogram and counts due patients by a range of (state, next_due_on)
per state; the worklist reads the same ranges. The definition columns at the end let a board
filtered by definition version answer from the indexes alone.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

DEFINITION = ["definition_id", "definition_version"]


def upgrade() -> None:
    """Replace the three per-column enrollment indexes by two covering ones."""
    op.drop_index("ix_enrollment_definition", table_name="enrollment")
    op.drop_index("ix_enrollment_next_due_on", table_name="enrollment")
    op.drop_index("ix_enrollment_state", table_name="enrollment")
    op.create_index(
        "ix_enrollment_state_entered", "enrollment", ["state", "entered_state_on", *DEFINITION]
    )
    op.create_index("ix_enrollment_state_due", "enrollment", ["state", "next_due_on", *DEFINITION])


def downgrade() -> None:
    """Back to the three indexes of 0001."""
    op.drop_index("ix_enrollment_state_due", table_name="enrollment")
    op.drop_index("ix_enrollment_state_entered", table_name="enrollment")
    op.create_index("ix_enrollment_state", "enrollment", ["state"])
    op.create_index("ix_enrollment_next_due_on", "enrollment", ["next_due_on"])
    op.create_index(
        "ix_enrollment_definition", "enrollment", ["definition_id", "definition_version", "state"]
    )
