"""Alembic environment: runs migrations on the connection `engine.store.db.init_db` hands over."""

from alembic import context
from sqlmodel import SQLModel

import engine.store.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `pathway init-db` (engine.store.db.init_db)")
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
