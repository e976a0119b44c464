"""The board's counters no longer grow with time: a count that falls to zero is deleted.

0003's triggers kept every `board_count` row whose count fell to zero, so the rows the board
reads grew with the deployment's age (one per state and day ever entered or due), not with what
is on the board now. The triggers now delete a row in the statement that brings it to zero, and
the zero rows kept so far are deleted here. An insert only adds, so its triggers are unchanged.
On PostgreSQL the delete follows the upsert in the same function, on rows it already holds
locked, so the lock order of 0003 (key order) still holds; a concurrent upsert of a deleted key
inserts it again (ON CONFLICT retries). The application role needs DELETE on `board_count`
(`pathway init-db --grant`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from alembic import op

from engine.store.migrations.versions import v0003_board_counts as v3

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

KEY = v3.KEY


def _sqlite_prune(row: str, kind: str, column: str) -> str:
    """Delete the row's (state, day) count of a kind if it is now zero."""
    return (
        f"DELETE FROM board_count WHERE definition_id = {row}.definition_id "
        f"AND definition_version = {row}.definition_version AND state = {row}.state "
        f"AND day_kind = '{kind}' AND day = {row}.{column} AND patients = 0;"
    )


def _sqlite_move(name: str, kind: str, column: str) -> str:
    watched = ["definition_id", "definition_version", "state", column]
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in watched)
    return (
        f"CREATE TRIGGER {name} AFTER UPDATE OF {', '.join(watched)} ON enrollment "
        f"WHEN {changed} BEGIN "
        + v3._sqlite_add("OLD", kind, column, -1)
        + v3._sqlite_add("NEW", kind, column, 1)
        + _sqlite_prune("OLD", kind, column)
        + " END"
    )


SQLITE_TRIGGERS = [
    _sqlite_move("board_count_entered", "e", "entered_state_on"),
    _sqlite_move("board_count_due", "d", "next_due_on"),
    "CREATE TRIGGER board_count_delete AFTER DELETE ON enrollment BEGIN "
    + v3._sqlite_add("OLD", "e", "entered_state_on", -1)
    + v3._sqlite_add("OLD", "d", "next_due_on", -1)
    + _sqlite_prune("OLD", "e", "entered_state_on")
    + _sqlite_prune("OLD", "d", "next_due_on")
    + " END",
]
SQLITE_REPLACED = ("board_count_entered", "board_count_due", "board_count_delete")


def _pg_function(name: str, rows: str) -> str:
    """0003's upsert, then a delete of the keys it touched that are now zero."""
    same = " AND ".join(f"b.{c} = d.{c}" for c in KEY.split(", "))
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"INSERT INTO board_count AS b ({KEY}, patients) "
        f"SELECT {KEY}, sum(n) FROM ({rows}) AS d "
        f"GROUP BY {KEY} HAVING sum(n) <> 0 ORDER BY {KEY} "
        f"ON CONFLICT ({KEY}) DO UPDATE SET patients = b.patients + excluded.patients; "
        f"DELETE FROM board_count AS b USING ({rows}) AS d "
        f"WHERE d.n < 0 AND {same} AND b.patients = 0; "
        "RETURN NULL; END $$"
    )


PG_FUNCTIONS = [
    _pg_function("board_count_update", v3._PG_MOVE),
    _pg_function("board_count_delete", v3._pg_rows("old_rows", -1)),
]


def upgrade() -> None:
    """Replace the triggers that subtract; delete the zero counts kept so far."""
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_FUNCTIONS:
            op.execute(statement)
    else:
        for name in SQLITE_REPLACED:
            op.execute(f"DROP TRIGGER {name}")
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    op.execute("DELETE FROM board_count WHERE patients = 0")


def downgrade() -> None:
    """0003's triggers again (zero counts are kept from now on; none come back)."""
    if op.get_bind().dialect.name == "postgresql":
        for statement in v3.PG_TRIGGERS[:3]:
            if "board_count_insert" not in statement:
                op.execute(statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
        return
    for name in SQLITE_REPLACED:
        op.execute(f"DROP TRIGGER {name}")
    for statement in v3.SQLITE_TRIGGERS:
        if any(f"TRIGGER {name} " in statement for name in SQLITE_REPLACED):
            op.execute(statement)
