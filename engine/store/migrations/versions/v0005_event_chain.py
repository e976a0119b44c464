"""The event log becomes tamper-evident and append-only.

Each event gets `hash`: a sha256 over its columns chained to the patient's previous event
(`engine.store.chain`); existing events are hashed here, in log order. Triggers then refuse UPDATE
and DELETE on `event` on both databases (and TRUNCATE on PostgreSQL), whoever connects: a correction
is a new event, never an edit. A database owner can still drop the triggers; the chain is what
makes such an edit visible to `pathway verify`. On PostgreSQL, run the application under a role
given INSERT and SELECT only (`pathway init-db --grant ROLE`, README).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

REFUSAL = "the event log is append-only"
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER event_no_{op_} BEFORE {op_.upper()} ON event "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}: {op_.upper()} refused'); END"
    for op_ in ("update", "delete")
]
PG_TRIGGERS = [
    "CREATE FUNCTION event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"RAISE EXCEPTION '{REFUSAL}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege'; "
    "END $$",
    "CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON event FOR EACH ROW "
    "EXECUTE FUNCTION event_append_only()",
    "CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON event FOR EACH STATEMENT "
    "EXECUTE FUNCTION event_append_only()",
]


def _backfill(conn: sa.Connection) -> None:
    from engine.store.chain import HASHED, link

    cols = ", ".join(f'"{c}"' if c == "trigger" else c for c in HASHED)
    rows = conn.exec_driver_sql(f"SELECT {cols} FROM event ORDER BY patient_id, version")
    update = sa.text("UPDATE event SET hash = :h WHERE patient_id = :p AND version = :v")
    prev: tuple[str, str | None] = ("", None)
    batch: list[dict[str, object]] = []
    for row in rows.all():
        chained_to = prev[1] if prev[0] == row[0] else None
        h = link(chained_to, tuple(row))
        prev = (row[0], h)
        batch.append({"h": h, "p": row[0], "v": row[1]})
        if len(batch) >= 1000:
            conn.execute(update, batch)
            batch = []
    if batch:
        conn.execute(update, batch)


def upgrade() -> None:
    """Add and fill `event.hash`; install the append-only triggers."""
    op.add_column("event", sa.Column("hash", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.execute("LOCK TABLE event IN SHARE ROW EXCLUSIVE MODE")
    _backfill(conn)
    for statement in PG_TRIGGERS if conn.dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    """Drop the triggers and the hashes."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER event_no_truncate ON event")
        op.execute("DROP TRIGGER event_append_only ON event")
        op.execute("DROP FUNCTION event_append_only()")
    else:
        op.execute("DROP TRIGGER event_no_update")
        op.execute("DROP TRIGGER event_no_delete")
    with op.batch_alter_table("event") as batch:
        batch.drop_column("hash")
