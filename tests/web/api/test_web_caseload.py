"""The caseload summary is written with every write and backfilled on upgrade; the caseload
list sorts, filters and pages it."""

from __future__ import annotations

import datetime as dt

import pytest

from engine import FixedClock, Services, SqlUnitOfWork, make_engine
from engine.due import backfill_summary as backfill
from engine.web.caseload import caseload
from tests.web.api.conftest import PATIENT, TODAY, Clinic


def _svc(clinic: Clinic) -> Services:
    return Services(SqlUnitOfWork(make_engine(clinic.url)), clock=FixedClock(TODAY))


def test_a_write_updates_the_summary_in_its_transaction(any_clinic: Clinic) -> None:
    svc = _svc(any_clinic)
    before = {r.patient_id: r for r in caseload(svc, limit=100).rows}[PATIENT]
    svc.record(
        PATIENT,
        facts={"fact": "measurement", "date": "2026-05-31", "instrument": "PHQ-9", "score": 5},
        actor="t",
    )
    after = {r.patient_id: r for r in caseload(svc, limit=100).rows}[PATIENT]
    assert after.last_score == 5 and after.last_on == dt.date(2026, 5, 31)
    assert after.baseline_score == before.baseline_score
    assert after.change_pct == round(100 * (5 - after.baseline_score) / after.baseline_score)
    assert after.last_contact_on == dt.date(2026, 5, 31)
    svc.advance(PATIENT, trigger="reassess", actor="t")
    moved = {r.patient_id: r for r in caseload(svc, limit=100).rows}[PATIENT]
    assert moved.state == "reassess" and moved.days_in_state == 0
    svc.close()


def test_days_and_weeks_are_counted_at_read_time(clinic: Clinic) -> None:
    svc = _svc(clinic)
    now = {r.patient_id: r for r in caseload(svc, limit=100).rows}
    later = {
        r.patient_id: r for r in caseload(svc, limit=100, as_of=TODAY + dt.timedelta(days=14)).rows
    }
    for pid, row in now.items():
        assert later[pid].days_in_state == row.days_in_state + 14
        if row.weeks_at_dose is not None:
            assert later[pid].weeks_at_dose == pytest.approx(row.weeks_at_dose + 2, abs=0.1)
    svc.close()


def test_sort_filter_and_page(clinic: Clinic) -> None:
    svc = _svc(clinic)
    everyone = caseload(svc, limit=500)
    assert everyone.total == len(everyone.rows) >= 5
    ids = [r.patient_id for r in everyone.rows]
    assert ids == sorted(ids)
    pages = [r.patient_id for o in range(0, everyone.total, 2) for r in caseload(
        svc, limit=2, offset=o).rows]  # fmt: skip
    assert pages == ids
    by_change = caseload(svc, sort="change", limit=500).rows
    changes = [r.change_pct for r in by_change if r.change_pct is not None]
    assert changes == sorted(changes)
    assert all(r.change_pct is None for r in by_change[len(changes) :])  # nulls last
    state = everyone.rows[0].state
    assert {r.state for r in caseload(svc, state=state, limit=500).rows} == {state}
    flagged = caseload(svc, flag="risk", limit=500)
    assert all("risk" in r.flags for r in flagged.rows)
    assert flagged.total == sum("risk" in r.flags for r in everyone.rows)
    due = caseload(svc, due="now", limit=500).rows
    assert all(r.next_due_on is not None and r.next_due_on <= TODAY for r in due)
    svc.close()


def test_init_db_backfills_the_summary_of_older_databases(clinic: Clinic) -> None:
    from alembic import command
    from typer.testing import CliRunner

    from engine.cli import app
    from engine.store.db import alembic_config

    query = "SELECT patient_id, last_score, flags, next_due_item FROM enrollment ORDER BY 1"
    engine = make_engine(clinic.url)
    with engine.begin() as conn:
        expected = conn.exec_driver_sql(query).all()
        command.downgrade(alembic_config(conn), "0008")  # the columns go
    result = CliRunner().invoke(app, ["init-db", "--db", clinic.url])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        assert conn.exec_driver_sql(query).all() == expected
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM enrollment WHERE summary_on IS NULL"
            ).scalar()
            == 0
        )
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY))
    assert backfill(svc) == 0  # nothing left to fill
    svc.close()
    engine.dispose()


def test_the_bulk_import_writes_the_summary_too(sqlite_url: str) -> None:
    import json
    from pathlib import Path

    svc = Services(SqlUnitOfWork(make_engine(sqlite_url)), clock=FixedClock(TODAY))
    examples = sorted(Path(__file__).resolve().parents[3].joinpath("examples").glob("*.json"))
    records = [json.loads(p.read_text(encoding="utf-8")) for p in examples]
    report = svc.bulk_enroll(records, actor="import", batch_size=3)
    assert report.enrolled == len(records) and not report.problems
    with svc.uow as uow:
        missing = uow.connection.exec_driver_sql(  # type: ignore[attr-defined]
            "SELECT count(*) FROM enrollment WHERE summary_on IS NULL OR flags IS NULL"
        ).scalar()
    assert missing == 0
    rows = caseload(svc, limit=100).rows
    assert any(r.last_score is not None for r in rows)
    svc.close()


def test_verify_deep_checks_the_stored_summary(clinic: Clinic) -> None:
    svc = _svc(clinic)
    assert svc.verify(deep=True).ok
    with svc.uow as uow:
        uow.connection.exec_driver_sql(  # type: ignore[attr-defined]
            f"UPDATE enrollment SET score_change_pct = 999 WHERE patient_id = '{PATIENT}'"
        )
        uow.connection.commit()  # type: ignore[attr-defined]
    report = svc.verify(deep=True)
    assert [(m.patient_id, "score_change_pct 999" in m.problem) for m in report.mismatches] == [
        (PATIENT, True)
    ]
    svc.close()
