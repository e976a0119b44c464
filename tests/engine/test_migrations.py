"""Alembic migrations: `init-db` reaches head, the migrated schema equals the models, and the
migrations run down and up again."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from engine.store.db import alembic_config, current_revision, head_revision, init_db, make_engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated(request: pytest.FixtureRequest) -> sa.Engine:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = make_engine(url)
    request.addfinalizer(engine.dispose)
    return engine


def test_init_db_reaches_the_single_head(migrated: sa.Engine) -> None:
    assert head_revision() == "0011"
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
    assert init_db(migrated) == head_revision()
    assert {"enrollment", "event"} <= set(sa.inspect(migrated).get_table_names())


def test_sqlite_runs_in_wal_mode_with_full_sync(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 4000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def _indexes(engine: sa.Engine) -> dict[str, list[str | None]]:
    return {
        ix["name"]: ix["column_names"]
        for ix in sa.inspect(engine).get_indexes("enrollment")
        if ix["name"] is not None
    }


def test_0002_replaces_the_enrollment_indexes_with_the_boards(migrated: sa.Engine) -> None:
    with migrated.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    assert set(_indexes(migrated)) == {
        "ix_enrollment_state",
        "ix_enrollment_next_due_on",
        "ix_enrollment_definition",
    }
    with migrated.begin() as conn:
        command.upgrade(alembic_config(conn), "0002")
    assert _indexes(migrated) == {
        "ix_enrollment_state_entered": [
            "state",
            "entered_state_on",
            "definition_id",
            "definition_version",
        ],
        "ix_enrollment_state_due": ["state", "next_due_on", "definition_id", "definition_version"],
    }


def test_0003_fills_board_count_from_the_enrollments_and_keeps_it(migrated: sa.Engine) -> None:
    """Enrollments written before 0003 are counted by its backfill; later writes by triggers."""
    from engine.store.board_sql import count_drift

    with migrated.begin() as conn:
        command.downgrade(alembic_config(conn), "0002")
    assert "board_count" not in sa.inspect(migrated).get_table_names()
    enr = sa.table(
        "enrollment",
        *(sa.column(c) for c in ("patient_id", "definition_id", "definition_version", "state")),
        *(sa.column(c) for c in ("version", "created_at", "updated_at")),
        sa.column("entered_state_on", sa.Date),
        sa.column("next_due_on", sa.Date),
    )
    now = dt.datetime(2026, 6, 1, 12)
    rows = [
        ("M-1", "reassess", dt.date(2026, 5, 1), dt.date(2026, 5, 15)),
        ("M-2", "reassess", dt.date(2026, 5, 1), None),
        ("M-3", "augment", dt.date(2026, 4, 2), dt.date(2026, 6, 3)),
    ]
    with migrated.begin() as conn:
        conn.execute(
            sa.insert(enr),
            [
                {
                    "patient_id": pid,
                    "definition_id": "trd",
                    "definition_version": "1.0.0",
                    "state": state,
                    "version": 1,
                    "entered_state_on": entered,
                    "next_due_on": due,
                    "created_at": now,
                    "updated_at": now,
                }
                for pid, state, entered, due in rows
            ],
        )
    assert init_db(migrated) == head_revision()
    assert _indexes(migrated) == {}
    with migrated.begin() as conn:
        counts = conn.exec_driver_sql(
            "SELECT state, day_kind, patients FROM board_count ORDER BY state, day_kind, day"
        ).all()
        assert [tuple(r) for r in counts] == [
            ("augment", "d", 1),
            ("augment", "e", 1),
            ("reassess", "d", 1),
            ("reassess", "e", 2),
        ]
        conn.execute(sa.update(enr).where(enr.c.patient_id == "M-2").values(state="switch"))
        assert count_drift(conn) == []


def test_0004_stores_definitions_and_allows_migrated_events(migrated: sa.Engine) -> None:
    tables = set(sa.inspect(migrated).get_table_names())
    assert "definition_version" in tables
    checks = sa.inspect(migrated).get_check_constraints("event")
    assert [c["name"] for c in checks] == ["ck_event_kind"]
    assert "'migrated'" in checks[0]["sqltext"]
    with migrated.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
    assert "definition_version" not in set(sa.inspect(migrated).get_table_names())
    assert "'migrated'" not in sa.inspect(migrated).get_check_constraints("event")[0]["sqltext"]
    assert init_db(migrated) == head_revision()


def test_0005_hashes_the_existing_log_and_makes_it_append_only(migrated: sa.Engine) -> None:
    """Events written before 0005 are chained by its backfill; afterwards the database refuses
    UPDATE and DELETE on the event table, whoever asks."""
    from engine.clock import FixedClock
    from engine.services import Services
    from engine.store.uow import SqlUnitOfWork

    with migrated.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
    with migrated.begin() as conn:  # a log as 0003 wrote it: no hash column
        conn.exec_driver_sql(
            "INSERT INTO enrollment VALUES ('M-1', 'trd', '1.0.0', 'initial_trial', 1, "
            "'2026-05-01', NULL, '2026-05-01 10:00:00', '2026-05-01 10:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO event (patient_id, version, kind, actor, effective_on, recorded_at, "
            "payload, to_state) VALUES ('M-1', 1, 'enrolled', 'a', '2026-05-01', "
            "'2026-05-01 10:00:00', "
            """'{"definition":{"id":"trd","version":"1.0.0"},"profile":{"sex":"unknown"},"""
            """"history":{}}', 'initial_trial')"""
        )
    init_db(migrated)
    svc = Services(SqlUnitOfWork(migrated), clock=FixedClock(dt.date(2026, 6, 1)))
    report = svc.verify()
    assert report.ok, report
    for sql in ("UPDATE event SET actor = 'x'", "DELETE FROM event"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), migrated.begin() as conn:
            conn.exec_driver_sql(sql)
    svc.close()


def test_0006_deletes_board_counts_at_zero_and_keeps_none_after(migrated: sa.Engine) -> None:
    """0005's triggers kept a count that fell to zero; 0006 deletes those kept so far, and its
    triggers delete each one as it falls; the counts stay equal to a recount throughout."""
    from engine.store.board_sql import count_drift

    def move(to: str, on: str) -> None:
        with migrated.begin() as conn:
            conn.exec_driver_sql(f"UPDATE enrollment SET state = '{to}', entered_state_on = '{on}'")

    def zeros() -> int:
        with migrated.connect() as conn:
            return int(
                conn.exec_driver_sql(
                    "SELECT count(*) FROM board_count WHERE patients = 0"
                ).scalar_one()
            )

    with migrated.begin() as conn:
        command.downgrade(alembic_config(conn), "0005")
        conn.exec_driver_sql(
            "INSERT INTO enrollment VALUES ('M-1', 'trd', '1.0.0', 'initial_trial', 1, "
            "'2026-05-01', NULL, '2026-05-01 10:00:00', '2026-05-01 10:00:00')"
        )
    move("reassess", "2026-05-08")
    assert zeros() == 1  # 0005: the count of initial_trial on 2026-05-01 stays, at zero
    init_db(migrated)
    assert zeros() == 0
    move("augment", "2026-05-20")
    assert zeros() == 0
    with migrated.connect() as conn:
        assert count_drift(conn) == []
        assert conn.exec_driver_sql("SELECT count(*) FROM board_count").scalar_one() == 1


def test_0010_counts_an_open_session_as_last_seen_at_its_creation(migrated: sa.Engine) -> None:
    """A session opened before 0010 has no last-seen instant: the upgrade gives it its creation,
    so the idle timeout counts from there; the downgrade drops the column again."""
    from engine.store.tables import UTCDateTime
    from engine.web.accounts import Accounts, hash_password, sha256

    with migrated.begin() as conn:
        command.downgrade(alembic_config(conn), "0009")
    columns = {c["name"] for c in sa.inspect(migrated).get_columns("web_session")}
    assert "last_seen_at" not in columns
    created = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    stamp = ("created_at", "expires_at")
    user = sa.table(
        "web_user",
        *(sa.column(c) for c in ("name", "role", "password_hash", "failed_count", "disabled")),
        sa.column("created_at", UTCDateTime),
    )
    session = sa.table(
        "web_session",
        *(sa.column(c) for c in ("sha256", "user_name", "csrf")),
        *(sa.column(c, UTCDateTime) for c in stamp),
    )
    ann = {"name": "ann", "role": "coordinator", "password_hash": hash_password("x" * 12)}
    with migrated.begin() as conn:
        conn.execute(
            sa.insert(user).values(**ann, failed_count=0, disabled=False, created_at=created)
        )
        conn.execute(
            sa.insert(session).values(
                sha256=sha256("cookie-1"),
                user_name="ann",
                csrf="c",
                created_at=created,
                expires_at=created + dt.timedelta(hours=12),
            )
        )
    assert init_db(migrated) == head_revision()
    seen = sa.select(sa.column("last_seen_at", UTCDateTime)).select_from(sa.table("web_session"))
    with migrated.connect() as conn:
        assert conn.execute(seen).scalar_one() == created
    late = Accounts(migrated, now=lambda: created + dt.timedelta(minutes=30))
    assert late.check_session("cookie-1").idle  # 30 minutes after its creation


def test_0011_leaves_older_tokens_without_expiry(migrated: sa.Engine) -> None:
    """A token made before 0011 has no expiry and no recorded use: it keeps working years later,
    and its first use is written; the downgrade drops both columns again."""
    from engine.store.tables import UTCDateTime
    from engine.web.accounts import Accounts, sha256

    with migrated.begin() as conn:
        command.downgrade(alembic_config(conn), "0010")
    columns = {c["name"] for c in sa.inspect(migrated).get_columns("api_token")}
    assert columns == {"name", "role", "sha256", "created_at", "revoked_at"}
    created = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    token = sa.table(
        "api_token", *(sa.column(c) for c in ("name", "role", "sha256")),
        sa.column("created_at", UTCDateTime),
    )  # fmt: skip
    with migrated.begin() as conn:
        conn.execute(
            sa.insert(token).values(
                name="lab-app", role="quality", sha256=sha256("pw_old"), created_at=created
            )
        )
    assert init_db(migrated) == head_revision()
    later = created + dt.timedelta(days=5 * 365)
    accounts = Accounts(migrated, now=lambda: later)
    [row] = accounts.list_tokens()
    assert row["expires_at"] is None and row["last_used_at"] is None
    assert accounts.token("pw_old") is not None
    assert accounts.list_tokens()[0]["last_used_at"] == later
