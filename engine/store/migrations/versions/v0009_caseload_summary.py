"""The caseload summary on `enrollment` (engine.store.summary): written by every write's UPDATE.

Existing patients get theirs from `pathway init-db`'s backfill (`engine.due.backfill_summary`),
which runs after the migrations.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

COLUMNS: list[tuple[str, sa.types.TypeEngine[Any]]] = [
    ("dose_since", sa.Date()),
    ("score_instrument", sa.String(length=16)),
    ("baseline_score", sa.Integer()),
    ("baseline_on", sa.Date()),
    ("last_score", sa.Integer()),
    ("last_on", sa.Date()),
    ("score_change_pct", sa.Integer()),
    ("flags", sa.Integer()),
    ("not_improving_on", sa.Date()),
    ("next_due_item", sa.String(length=32)),
    ("last_contact_on", sa.Date()),
    ("summary_on", sa.Date()),
]


def upgrade() -> None:
    """Add the summary's columns (nullable: filled by the backfill and every write)."""
    for name, type_ in COLUMNS:  # ALTER TABLE … ADD COLUMN: the board's triggers stay
        op.add_column("enrollment", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    """Drop them (SQLite ≥ 3.35 drops a column in place, keeping the triggers)."""
    for name, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE enrollment DROP COLUMN {name}")
