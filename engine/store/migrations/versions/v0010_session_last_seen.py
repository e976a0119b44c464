"""When each web session was last used (`web_session.last_seen_at`): the idle timeout counts
from it (engine.web.accounts). Nullable; sessions opened before this revision count as last
seen when they were created, which the upgrade writes into the new column.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the column and fill it with each live session's creation instant."""
    op.add_column(
        "web_session", sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute("UPDATE web_session SET last_seen_at = created_at")


def downgrade() -> None:
    """Drop it (SQLite ≥ 3.35 drops a column in place)."""
    op.execute("ALTER TABLE web_session DROP COLUMN last_seen_at")
