"""The engine's public surface: a pinned, sorted `__all__`, lazy imports, nothing connects at
import, frozen results, and logs without clinical content."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import engine
from engine.services import Services

EXPECTED = [
    "REASON_CODES",
    "AlreadyEnrolled",
    "BeforeEntry",
    "Clock",
    "DatabaseNotReady",
    "DefinitionRegistry",
    "DefinitionUnavailable",
    "Enrolled",
    "Fact",
    "FakeUnitOfWork",
    "FixedClock",
    "FutureDate",
    "HistoryEntry",
    "ImportReport",
    "InvalidOverride",
    "MigrationReport",
    "Moved",
    "PatientHistory",
    "PatientStatus",
    "Recorded",
    "Services",
    "SqlUnitOfWork",
    "Step",
    "SystemClock",
    "UnitOfWork",
    "UnknownReasonCode",
    "VerifyReport",
    "database_url",
    "enabled_triggers",
    "evaluate_state",
    "init_db",
    "make_engine",
    "parse_facts",
    "step",
]


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert engine.__all__ == EXPECTED
    for name in engine.__all__:
        assert getattr(engine, name) is not None
    with pytest.raises(AttributeError):
        engine.nothing  # noqa: B018


def test_importing_the_engine_and_its_cli_loads_no_database_or_machine() -> None:
    # nor the core, pydantic or rich's console: `pathway --help` needs none of them
    heavy = ("sqlalchemy", "transitions", "sqlmodel", "alembic", "pathway", "pydantic", "viz")
    code = (
        "import sys, engine, engine.cli; "
        f"print(sorted(m for m in {heavy!r} + ('rich.console',) if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_nothing_connects_at_import(tmp_path: Any) -> None:
    code = (
        "import engine.services, engine.store.uow, engine.store.db, engine.store.tables, "
        "engine.store.repository; "
        "import os; print(os.listdir('.'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PATHWAY_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "PATH": "/usr/bin"},
    )
    assert out.stdout.strip() == "[]"


def test_results_are_frozen(svc: Services) -> None:
    result = svc.enroll("P-1", actor="a")
    with pytest.raises(ValidationError):
        result.state = "augment"  # type: ignore[misc]


def test_logs_carry_no_notes_actors_or_record_content(
    svc: Services, record_factory: Callable[..., dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    note = "spoke with Jane Example at 12 Hill Road"
    rec = record_factory(
        "P-9",
        contributors=[
            {"kind": "stressor", "status": "active", "date": "2026-05-01", "note": "divorce"}
        ],
    )
    svc.enroll("P-9", actor="dr-house", record=rec)
    svc.override("P-9", to="reassess", reason="case_review", note=note, actor="dr-house")
    text = caplog.text
    assert "P-9" in text  # pseudonymous ids are fine
    for secret in (note, "divorce", "dr-house", "sertraline", "1980"):
        assert secret not in text


def test_database_errors_and_sql_logs_leave_the_parameters_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlalchemy as sa

    from engine.store.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}", echo=True)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    try:
        with engine.begin() as c:
            c.execute(sa.text("CREATE TABLE t (id TEXT PRIMARY KEY)"))
            c.execute(sa.text("INSERT INTO t VALUES (:id)"), {"id": "note: Jane Example"})
        with pytest.raises(sa.exc.IntegrityError) as exc, engine.begin() as c:
            c.execute(sa.text("INSERT INTO t VALUES (:id)"), {"id": "note: Jane Example"})
    finally:
        engine.dispose()
    assert "UNIQUE constraint failed" in str(exc.value)
    assert "Jane" not in str(exc.value) and "Jane" not in caplog.text
    assert "INSERT INTO t" in caplog.text  # the statements are still logged, without values
