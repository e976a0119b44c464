"""When each API token expires and when it was last used (`api_token.expires_at`,
`api_token.last_used_at`): a token no longer works forever unless made so on purpose, and an
admin can see whether an app still uses it (engine.web.accounts). Both nullable; tokens made
before this revision never expire and have no recorded use.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add both columns, empty (no expiry, never used)."""
    op.add_column("api_token", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_token", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop them (SQLite ≥ 3.35 drops a column in place)."""
    op.execute("ALTER TABLE api_token DROP COLUMN last_used_at")
    op.execute("ALTER TABLE api_token DROP COLUMN expires_at")
