"""The web app's accounts, API tokens, sessions and the append-only access audit.

Passwords are argon2id hashes; tokens and session cookies are stored as their SHA-256 only.
`access_audit` is append-only like `event`: triggers refuse UPDATE and DELETE on both databases
(and TRUNCATE on PostgreSQL).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

REFUSAL = "access_audit is append-only"
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER access_audit_no_{op_} BEFORE {op_.upper()} ON access_audit "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}: {op_.upper()} refused'); END"
    for op_ in ("update", "delete")
]
PG_TRIGGERS = [
    "CREATE FUNCTION access_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"RAISE EXCEPTION '{REFUSAL}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege'; "
    "END $$",
    "CREATE TRIGGER access_audit_append_only BEFORE UPDATE OR DELETE ON access_audit "
    "FOR EACH ROW EXECUTE FUNCTION access_audit_append_only()",
    "CREATE TRIGGER access_audit_no_truncate BEFORE TRUNCATE ON access_audit "
    "FOR EACH STATEMENT EXECUTE FUNCTION access_audit_append_only()",
]


def upgrade() -> None:
    """Create the four tables and the audit's append-only triggers."""
    op.create_table(
        "web_user",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "api_token",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("sha256"),
    )
    op.create_table(
        "web_session",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_name"], ["web_user.name"]),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "access_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("cohort", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_access_audit_at", "access_audit", ["at"])
    op.create_index("ix_access_audit_patient", "access_audit", ["patient_id"])
    for sql in PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(sql)


def downgrade() -> None:
    """Drop the four tables (the triggers go with the audit table)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE access_audit")
        op.execute("DROP FUNCTION access_audit_append_only()")
    else:
        op.drop_index("ix_access_audit_patient", table_name="access_audit")
        op.drop_index("ix_access_audit_at", table_name="access_audit")
        op.drop_table("access_audit")
    op.drop_table("web_session")
    op.drop_table("api_token")
    op.drop_table("web_user")
