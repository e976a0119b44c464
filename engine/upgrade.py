"""Upgrading a database: the schema to alembic head, then the data later schemas store."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.db import current_revision, init_db


def upgrade(engine: sa.Engine, *, grant: str | None = None) -> str | None:
    """Bring the schema to head (`init_db`) and fill what a database written before a revision
    lacks: the stored due items (0007) and the caseload summary (0009). Returns the revision."""
    before = current_revision(engine)
    revision = init_db(engine, grant=grant)
    if before is not None and before < "0009":
        from engine.due import backfill, backfill_summary
        from engine.services import Services
        from engine.store.uow import SqlUnitOfWork

        svc = Services(SqlUnitOfWork(engine))
        if before < "0007":  # written before due items were stored
            backfill(svc)
        backfill_summary(svc)  # written before the caseload summary
    return revision
