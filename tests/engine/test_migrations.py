"""Alembic migrations: `init-db` reaches head, the migrated schema equals the models, and the
migrations run down and up again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from engine.db import alembic_config, current_revision, head_revision, init_db, make_engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated(request: pytest.FixtureRequest) -> sa.Engine:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = make_engine(url)
    request.addfinalizer(engine.dispose)
    return engine


def test_init_db_reaches_the_single_head(migrated: sa.Engine) -> None:
    assert head_revision() == "0002"
    assert current_revision(migrated) == head_revision()
    assert init_db(migrated) == head_revision()  # idempotent


def test_the_migrated_schema_equals_the_models(migrated: sa.Engine) -> None:
    with migrated.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diff == []


def test_migrations_run_down_and_up(migrated: sa.Engine) -> None:
    with migrated.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(sa.inspect(migrated).get_table_names()) <= {"alembic_version"}
    assert init_db(migrated) == "0002"
    assert {"enrollment", "event"} <= set(sa.inspect(migrated).get_table_names())


def test_sqlite_runs_in_wal_mode_with_full_sync(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 4000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_0002_replaces_the_enrollment_indexes_with_the_boards(migrated: sa.Engine) -> None:
    def indexes() -> dict[str, list[str | None]]:
        return {
            ix["name"]: ix["column_names"]
            for ix in sa.inspect(migrated).get_indexes("enrollment")
            if ix["name"] is not None
        }

    with migrated.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    assert set(indexes()) == {
        "ix_enrollment_state",
        "ix_enrollment_next_due_on",
        "ix_enrollment_definition",
    }
    assert init_db(migrated) == "0002"
    assert indexes() == {
        "ix_enrollment_state_entered": [
            "state",
            "entered_state_on",
            "definition_id",
            "definition_version",
        ],
        "ix_enrollment_state_due": ["state", "next_due_on", "definition_id", "definition_version"],
    }
