"""The event log is tamper-evident (hash chain, `verify`) and append-only (triggers, roles).

Each direct edit below went unnoticed by `verify --deep` before migration 0005, or crashed it.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from engine_support import TODAY, tamper
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.services import Services
from engine.store.db import (
    SCHEMA_REVISION,
    SchemaMismatch,
    check_revision,
    head_revision,
    make_engine,
)
from engine.store.fastsql import EVENT_COLUMNS


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def clinic(
    make_services: Callable[..., Services],
    db_url: str,
    record_factory: Callable[..., dict[str, Any]],
) -> Services:
    """P-1: enrolled, a measurement and a risk recorded, moved, overridden; P-2: enrolled."""
    svc = make_services(db_url)
    rec = record_factory("P-1", risk={"date": "2026-04-01", "suicidality": "none"})
    svc.enroll("P-1", actor="dr-a", record=rec, effective=TODAY - dt.timedelta(days=10))
    svc.advance("P-1", trigger="reassess", actor="dr-a")
    svc.override("P-1", to="augment", reason="case_review", note="MDT decision", actor="dr-b")
    svc.enroll("P-2", actor="dr-a")
    assert svc.verify(deep=True).ok
    return svc


ATTACKS = [
    (
        "score in a payload",
        "UPDATE event SET payload = replace(payload, '\"score\":18', '\"score\":3') "
        "WHERE patient_id = 'P-1'",
    ),
    (
        "risk in a payload",
        "UPDATE event SET payload = replace(payload, '\"none\"', '\"active\"') "
        "WHERE patient_id = 'P-1' AND fact_kind = 'risk'",
    ),
    (
        "override rewritten with the state column",
        "UPDATE event SET to_state = 'switch' WHERE patient_id = 'P-1' AND kind = 'override'; "
        "UPDATE enrollment SET state = 'switch' WHERE patient_id = 'P-1'",
    ),
    (
        "middle event deleted, later ones renumbered",
        "DELETE FROM event WHERE patient_id = 'P-1' AND version = 2; "
        "UPDATE event SET version = version - 1 WHERE patient_id = 'P-1' AND version > 2",
    ),
    ("deleted patient", "DELETE FROM enrollment WHERE patient_id = 'P-2'"),
    ("actor", "UPDATE event SET actor = 'dr-x' WHERE patient_id = 'P-1' AND version = 1"),
    ("note", "UPDATE event SET note = 'nothing' WHERE patient_id = 'P-1' AND kind = 'override'"),
    (
        "reason",
        "UPDATE event SET reason_code = 'safety' WHERE patient_id = 'P-1' AND kind = 'override'",
    ),
    (
        "recorded_at",
        "UPDATE event SET recorded_at = recorded_at + interval '1 day' WHERE patient_id = 'P-1'",
    ),
    (
        "effective_on",
        "UPDATE event SET effective_on = effective_on - 1 WHERE patient_id = 'P-1' "
        "AND kind = 'transition'",
    ),
    ("hash erased", "UPDATE event SET hash = NULL WHERE patient_id = 'P-2'"),
]
SQLITE_SPELLING = {
    "recorded_at + interval '1 day'": "datetime(recorded_at, '+1 day')",
    "effective_on - 1": "date(effective_on, '-1 day')",
}


def _sql(engine: sa.Engine, sql: str) -> list[str]:
    if engine.dialect.name == "sqlite":
        for pg, lite in SQLITE_SPELLING.items():
            sql = sql.replace(pg, lite)
    return [s.strip() for s in sql.split(";") if s.strip()]


@pytest.mark.parametrize("sql", [a[1] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_verify_names_the_patient_of_every_direct_edit(clinic: Services, sql: str) -> None:
    engine = clinic.uow.engine  # type: ignore[attr-defined]
    tamper(engine, *_sql(engine, sql))
    report = clinic.verify()
    assert not report.ok
    bad = {m.patient_id for m in report.mismatches}
    assert bad & {"P-1", "P-2"}, report.mismatches


def test_an_orphaned_event_is_reported_by_its_patient_id(clinic: Services) -> None:
    engine = clinic.uow.engine  # type: ignore[attr-defined]
    tamper(
        engine,
        "INSERT INTO event (patient_id, version, kind, actor, effective_on, recorded_at, "
        "payload) VALUES ('P-9', 1, 'fact', 'x', '2026-01-01', '2026-01-01 00:00:00', '{}')",
    )
    report = clinic.verify()
    assert {m.patient_id for m in report.mismatches} == {"P-9"}
    assert "no enrollment" in report.mismatches[0].problem


CORRUPT = [
    ("date", "UPDATE event SET effective_on = 'yesterday' WHERE patient_id = 'P-1'"),
    ("payload", "UPDATE event SET payload = '{not json' WHERE patient_id = 'P-1'"),
    ("payload type", "UPDATE event SET payload = '[1, 2]' WHERE patient_id = 'P-1'"),
    ("version", "UPDATE event SET version = 'x' WHERE patient_id = 'P-1' AND version = 2"),
    ("enrollment", "UPDATE enrollment SET entered_state_on = '20xx' WHERE patient_id = 'P-1'"),
    ("bytes", "UPDATE event SET actor = X'FFFE00' WHERE patient_id = 'P-1'"),
]


@pytest.mark.parametrize("sql", [c[1] for c in CORRUPT], ids=[c[0] for c in CORRUPT])
def test_verify_reports_corrupt_rows_and_goes_on(
    make_services: Callable[..., Services],
    sqlite_url: str,
    record_factory: Callable[..., dict[str, Any]],
    sql: str,
) -> None:
    svc = make_services(sqlite_url)
    for pid in ("P-0", "P-1", "P-2"):
        svc.enroll(pid, actor="a", record=record_factory(pid))
    tamper(svc.uow.engine, sql)  # type: ignore[attr-defined]
    report = svc.verify(deep=True)
    assert report.patients == 3
    assert {m.patient_id for m in report.mismatches} == {"P-1"}
    assert svc.verify(deep=True, workers=2) == report  # what workers read and send back too


def test_the_database_refuses_update_delete_and_truncate_on_the_log(clinic: Services) -> None:
    engine = clinic.uow.engine  # type: ignore[attr-defined]
    statements = ["UPDATE event SET actor = 'x'", "DELETE FROM event WHERE version = 1"]
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE event")
    for sql in statements:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as c:
            c.exec_driver_sql(sql)
    assert clinic.verify().ok


# -- any byte of any stored event --------------------------------------------------------------

COLUMNS = EVENT_COLUMNS  # every stored column of an event, the hash included


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database with two patients' logs, copied for each example."""
    from engine_support import registry

    from engine.clock import FixedClock
    from engine.store.db import init_db
    from engine.store.uow import SqlUnitOfWork

    path = tmp_path_factory.mktemp("flip") / "pristine.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY), definitions=registry())
    start = (TODAY - dt.timedelta(days=60)).isoformat()
    rec = {
        "id": "P-1",
        "trials": [
            {"drug": "sertraline", "start": start, "doses": [{"from": start, "mg_per_day": 100}]}
        ],
        "measurements": [{"date": start, "instrument": "PHQ-9", "score": 18}],
    }
    svc.enroll("P-1", actor="dr-a", record=rec)
    svc.override("P-1", to="augment", reason="safety", note="seen today", actor="dr-b")
    svc.enroll("P-2", actor="dr-a")
    svc.close()
    with engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_flipping_any_byte_of_any_stored_event_is_caught_and_names_its_patient(
    pristine: Path, tmp_path: Path, data: st.DataObject
) -> None:
    from engine_support import registry

    from engine.clock import FixedClock
    from engine.store.uow import SqlUnitOfWork

    path = tmp_path / f"{uuid.uuid4().hex}.db"
    path.write_bytes(pristine.read_bytes())
    with sqlite3.connect(path) as c:
        c.text_factory = bytes
        rows = c.execute(f"SELECT rowid, {', '.join(map(_quoted, COLUMNS))} FROM event").fetchall()
        row = data.draw(st.sampled_from(rows), label="event")
        col = data.draw(
            st.sampled_from([i for i, v in enumerate(row[1:]) if v is not None]), label="column"
        )
        value = row[1 + col]
        raw = bytearray(value if isinstance(value, bytes) else str(value).encode())
        at = data.draw(st.integers(0, len(raw) - 1), label="byte")
        raw[at] ^= data.draw(st.integers(1, 255), label="xor")
        try:
            new: Any = raw.decode("utf-8")
        except UnicodeDecodeError:
            new = bytes(raw)
        c.execute("DROP TRIGGER event_no_update")
        try:
            c.execute(
                f"UPDATE event SET {_quoted(COLUMNS[col])} = ? WHERE rowid = ?", (new, row[0])
            )
        except sqlite3.IntegrityError:
            assume(False)  # a constraint refused the edit: nothing changed
    patient = row[1].decode("utf-8")
    engine = make_engine(f"sqlite:///{path}")
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY), definitions=registry())
    try:
        report = svc.verify()
    finally:
        svc.close()
        engine.dispose()
    assert patient in {m.patient_id for m in report.mismatches}, (COLUMNS[col], report)


def _quoted(name: str) -> str:
    return f'"{name}"' if name == "trigger" else name


# -- schema revision, file mode, init-db under concurrency, roles ----------------------------


def test_the_known_schema_revision_is_the_newest_migration() -> None:
    assert head_revision() == SCHEMA_REVISION


def test_a_database_at_another_revision_is_refused_with_the_command_to_run(db_url: str) -> None:
    engine = make_engine(db_url)
    check_revision(engine)
    with engine.begin() as c:
        c.exec_driver_sql("UPDATE alembic_version SET version_num = '0003'")
    with pytest.raises(SchemaMismatch, match="run `pathway init-db"):
        check_revision(engine)
    engine.dispose()


def test_a_new_sqlite_database_is_readable_by_its_owner_only(sqlite_url: str) -> None:
    path = Path(sa.make_url(sqlite_url).database or "")
    assert path.stat().st_mode & 0o777 == 0o600


def _init(url: str, q: Any) -> None:
    from engine.store.db import init_db

    engine = make_engine(url)
    try:
        q.put(init_db(engine))
    except BaseException as exc:  # report, do not hang the parent
        q.put(repr(exc))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_concurrent_init_db_wait_for_each_other_and_all_succeed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'new.db'}"
    else:
        base = request.getfixturevalue("pg_base")
        schema = "pw_" + uuid.uuid4().hex[:12]
        admin = sa.create_engine(base)
        with admin.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
        request.addfinalizer(lambda: _drop_schema(admin, schema))
        from urllib.parse import quote

        url = f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_init, args=(url, q)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert results == [SCHEMA_REVISION] * 4


def _drop_schema(admin: sa.Engine, schema: str) -> None:
    with admin.begin() as c:
        c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@pytest.mark.postgres
def test_init_db_grant_gives_the_application_role_insert_and_select_on_the_log(
    pg_base: str,
    pg_url: str,
    record_factory: Callable[..., dict[str, Any]],
    make_services: Callable[..., Services],
) -> None:
    from engine.store.db import init_db

    role = "pw_app_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(pg_base)
    with admin.begin() as c:
        c.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    try:
        owner = make_engine(pg_url)
        init_db(owner, grant=role)
        owner.dispose()
        app_url = pg_url.replace("postgres@", f"{role}@", 1)
        svc = make_services(app_url)
        svc.enroll("P-1", actor="app", record=record_factory("P-1"))
        svc.advance("P-1", trigger="reassess", actor="app")
        assert svc.verify().ok
        engine = svc.uow.engine  # type: ignore[attr-defined]
        for sql in ("UPDATE event SET actor = 'x'", "DELETE FROM event", "TRUNCATE event"):
            with pytest.raises(sa.exc.DBAPIError, match="permission denied"), engine.begin() as c:
                c.exec_driver_sql(sql)
        for sql in (
            "ALTER TABLE event DISABLE TRIGGER USER",
            "DROP TRIGGER event_append_only ON event",
        ):
            with pytest.raises(sa.exc.DBAPIError, match=r"owner|permission"), engine.begin() as c:
                c.exec_driver_sql(sql)
        svc.close()
        engine.dispose()
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP OWNED BY {role}")
            c.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


@pytest.mark.postgres
def test_init_db_grant_covers_the_cohort_rollup_installed_with_it(
    pg_base: str, pg_url: str, record_factory: Callable[..., dict[str, Any]]
) -> None:
    """`init-db --cohort-rollup --grant ROLE`: the rollup's tables are made after the grant, and
    its triggers write them on every move, so the role gets them too (else it cannot write)."""
    from typer.testing import CliRunner

    from engine.cli import app

    role = "pw_app_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(pg_base)
    with admin.begin() as c:
        c.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    try:
        got = CliRunner().invoke(
            app, ["init-db", "--db", pg_url, "--cohort-rollup", "--grant", role]
        )
        assert got.exit_code == 0, got.stderr
        svc = Services.from_url(pg_url.replace("postgres@", f"{role}@", 1))
        try:
            svc.enroll("P-1", actor="app", record=record_factory("P-1"))
            svc.advance("P-1", trigger="reassess", actor="app")
            assert svc.verify().ok
        finally:
            svc.close()
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP OWNED BY {role}")
            c.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def test_json_of_the_tamper_cases_is_well_formed() -> None:
    """The payload edits above assume compact JSON in the log (`"score":18`)."""
    from engine.enrolling import event_row

    e = event_row(
        "P",
        1,
        "fact",
        actor="a",
        effective_on=TODAY,
        recorded_at=dt.datetime.now(dt.UTC),
        payload={"score": 18},
    )
    assert '"score":18' in e.payload and json.loads(e.payload) == {"score": 18}


def test_verify_merges_orphans_and_stray_rows_wherever_they_fall(clinic: Services) -> None:
    """One ordered pass merges the log with the enrollments: orphaned logs before, between and
    after the patients, a patient whose log was emptied and stray due items are each reported
    once, by their own id, and nobody else is."""
    engine = clinic.uow.engine  # type: ignore[attr-defined]
    orphan = (
        "INSERT INTO event (patient_id, version, kind, actor, effective_on, recorded_at, "
        "payload) VALUES ('{}', {}, 'fact', 'x', '2026-01-01', '2026-01-01 00:00:00', '{{}}')"
    )
    stray = (
        "INSERT INTO due_item (patient_id, seq, item, priority, due_on, state, label, why, "
        "sources, computed_on) VALUES ('P-15', 0, 'x', 1, '2026-01-01', 's', 'l', 'w', '[]', "
        "'2026-01-01')"
    )
    tamper(
        engine,
        orphan.format("P-0", 1),
        orphan.format("P-15", 1),
        orphan.format("P-15", 2),
        orphan.format("P-3", 1),
        stray,
    )
    report = clinic.verify(deep=True)
    assert report.patients == 2
    by_patient: dict[str, list[str]] = {}
    for m in report.mismatches:
        by_patient.setdefault(m.patient_id, []).append(m.problem)
    assert set(by_patient) == {"P-0", "P-15", "P-3"}, report.mismatches
    assert "2 event(s) for a patient with no enrollment" in by_patient["P-15"][0]


def test_verify_in_worker_processes_gives_the_report_of_one_pass(
    clinic: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--workers`: ranges of ids checked in processes of their own, merged in id order: the
    same patients, events, mismatches (orphans and corrupt rows in any range included) and
    board counts as one pass, and the same exit from the command line."""
    from typer.testing import CliRunner

    from engine.cli import app
    from engine.queries import verify_workers

    ranges: list[list[Any]] = []
    real_run = verify_workers.run

    def run(url: str, today: dt.date, deep: bool, parts: list[Any], *rest: Any) -> Any:
        ranges.append(parts)
        return real_run(url, today, deep, parts, *rest)

    monkeypatch.setattr(verify_workers, "run", run)

    for n in range(4, 9):
        clinic.enroll(f"P-{n}", actor="dr-a")
    engine = clinic.uow.engine  # type: ignore[attr-defined]
    orphan = (
        "INSERT INTO event (patient_id, version, kind, actor, effective_on, recorded_at, "
        "payload) VALUES ('{}', 1, 'fact', 'x', '2026-01-01', '2026-01-01 00:00:00', '{{}}')"
    )
    tamper(
        engine,
        *_sql(engine, ATTACKS[0][1]),  # P-1: a score in a payload
        "UPDATE event SET hash = NULL WHERE patient_id = 'P-6'",
        "UPDATE enrollment SET state = 'switch' WHERE patient_id = 'P-8'",
        orphan.format("P-0"),
        orphan.format("P-55"),
        orphan.format("P-99"),
    )
    one = clinic.verify(deep=True)
    assert {m.patient_id for m in one.mismatches} >= {"P-0", "P-1", "P-55", "P-6", "P-8", "P-99"}
    for workers in (2, 3):
        assert clinic.verify(deep=True, workers=workers) == one
    assert [len(parts) for parts in ranges] == [2, 3]  # each in that many processes
    assert ranges[1][0][0] is None and ranges[1][-1][1] is None  # every id in a range
    url = engine.url.render_as_string(hide_password=False)
    runs = [
        CliRunner().invoke(app, ["verify", "--deep", "--json", "--db", url, "--workers", w])
        for w in ("1", "3")
    ]
    assert runs[0].exit_code == runs[1].exit_code == 1
    assert json.loads(runs[0].stdout) == json.loads(runs[1].stdout)


@pytest.mark.postgres
def test_verify_workers_find_the_schema_an_engine_set_outside_its_url(
    pg_base: str, record_factory: Callable[..., dict[str, Any]]
) -> None:
    """`make_engine(url, schema=…)` sets the search path in connect arguments: the workers
    connect to that schema too, not to the server's default one."""
    from engine.clock import FixedClock
    from engine.store.db import init_db
    from engine.store.uow import SqlUnitOfWork

    schema = "pw_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(pg_base)
    with admin.begin() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = make_engine(pg_base, schema=schema)
    try:
        init_db(engine)
        svc = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY))
        for n in range(1, 5):
            svc.enroll(f"P-{n}", actor="dr-a", record=record_factory(f"P-{n}"))
        tamper(engine, "UPDATE enrollment SET state = 'switch' WHERE patient_id = 'P-3'")
        one = svc.verify(deep=True)
        assert {m.patient_id for m in one.mismatches} == {"P-3"}
        assert svc.verify(deep=True, workers=2) == one
        svc.close()
    finally:
        engine.dispose()
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
