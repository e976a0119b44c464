"""Stored worklist items: written with every write, read by an indexed query, checked by verify."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from engine_support import EXAMPLES, TODAY

from engine.clock import FixedClock
from engine.due import backfill
from engine.queries.filters import InvalidFilter
from engine.queries.worklist import worklist
from engine.services import Services
from engine.store.due_store import stored_due
from pathway.due import schedule
from pathway.record import load_record


def _enroll_examples(svc: Services) -> list[str]:
    ids = []
    for path in sorted(EXAMPLES.glob("*.json")):
        record = load_record(path, catalog=svc.definitions.default.catalog)
        svc.enroll(record.id, actor="t", record=record, effective=TODAY - dt.timedelta(days=30))
        ids.append(record.id)
    return ids


def _stored(svc: Services, pid: str) -> list[tuple[str, dt.date]]:
    with svc.uow as uow:
        return [(d.item, d.due_on) for d in stored_due(uow, pid)]


def test_every_write_stores_the_schedule_and_replaces_the_last(svc: Services) -> None:
    ids = _enroll_examples(svc)
    for pid in ids:
        p = svc.load(pid)
        expected = schedule(
            p.record,
            state=p.head.state,
            entered_state_on=p.head.entered_state_on,
            definition=p.definition,
            as_of=TODAY,
            patient=pid,
        )
        assert _stored(svc, pid) == [(i.item, i.due_on) for i in expected]
        assert p.head.next_due_on == min((i.due_on for i in expected), default=None)
    # EX-04 is in a treatment state: a measurement is expected; once in `reassess`, it is not
    before = {item for item, _ in _stored(svc, "EX-04")}
    assert "measurement_overdue" in before
    svc.advance("EX-04", trigger="reassess", actor="t")
    after = {item for item, _ in _stored(svc, "EX-04")}
    assert "measurement_overdue" not in after and "decision_pending" in after
    svc.record(
        "EX-04",
        facts={"fact": "measurement", "date": TODAY.isoformat(), "instrument": "PHQ-9", "score": 9},
        actor="t",
    )
    assert svc.verify(deep=True).ok


def test_worklist_pages_filters_and_counts_from_the_stored_items(
    sqlite_url: str, make_services: Callable[..., Services]
) -> None:
    svc = make_services(sqlite_url)
    _enroll_examples(svc)
    later = TODAY + dt.timedelta(days=60)  # time-driven items come due by date alone
    full = worklist(svc, as_of=later)
    assert full.items and sum(full.counts.values()) == len(full.items)
    keys = [(i.priority, i.due_on, i.patient) for i in full.items]
    assert keys == sorted(keys)
    assert all(i.overdue_days == (later - i.due_on).days for i in full.items)
    n = len(full.items)
    pages = [worklist(svc, as_of=later, limit=3, offset=k).items for k in range(0, n + 3, 3)]
    assert [i for page in pages for i in page] == list(full.items) and pages[-1] == ()
    only = worklist(svc, as_of=later, kinds=["measurement_overdue"])
    assert {i.item for i in only.items} == {"measurement_overdue"}
    assert only.counts == {"measurement_overdue": len(only.items)}
    in_state = worklist(svc, as_of=later, state="initial_trial")
    assert in_state.items and {i.state for i in in_state.items} == {"initial_trial"}
    # a day before the items were worked out would mix that day with later knowledge: refused
    with pytest.raises(InvalidFilter, match="as_of: is before 2026-06-01, the last day items"):
        worklist(svc, as_of=TODAY - dt.timedelta(days=400))


def test_verify_deep_finds_a_stored_item_that_disagrees(
    sqlite_url: str, make_services: Callable[..., Services]
) -> None:
    svc = make_services(sqlite_url)
    _enroll_examples(svc)
    with svc.uow as uow:
        uow.connection.exec_driver_sql(
            "UPDATE due_item SET due_on = '2030-01-01' WHERE patient_id = 'EX-05'"
        )
        uow.connection.commit()
    report = svc.verify(deep=True)
    assert [m.patient_id for m in report.mismatches] == ["EX-05"]
    assert "stored worklist items" in report.mismatches[0].problem


def test_verify_deep_takes_items_worded_by_an_earlier_release(
    sqlite_url: str, make_services: Callable[..., Services]
) -> None:
    """Items stored before a release that words them better are the same items: not flagged
    (their words are written again at the patient's next write); their kind or date is."""
    svc = make_services(sqlite_url)
    _enroll_examples(svc)
    with svc.uow as uow:
        uow.connection.exec_driver_sql(
            "UPDATE due_item SET why = 'older words', label = 'older label', sources = '[]'"
        )
        uow.connection.commit()
    assert svc.verify(deep=True).ok
    with svc.uow as uow:
        uow.connection.exec_driver_sql(
            "UPDATE due_item SET priority = priority + 1 WHERE patient_id = 'EX-05'"
        )
        uow.connection.commit()
    assert [m.patient_id for m in svc.verify(deep=True).mismatches] == ["EX-05"]


def test_backfill_fills_a_database_written_before_due_items_were_stored(
    sqlite_url: str, make_services: Callable[..., Services]
) -> None:
    svc = make_services(sqlite_url)
    ids = _enroll_examples(svc)
    before = {pid: _stored(svc, pid) for pid in ids}
    with svc.uow as uow:
        uow.connection.exec_driver_sql("DELETE FROM due_item")
        uow.connection.commit()
    assert not svc.verify(deep=True).ok
    assert backfill(svc) == len([p for p in ids if before[p]])
    assert {pid: _stored(svc, pid) for pid in ids} == before
    assert svc.verify(deep=True).ok


def test_migrate_recomputes_the_items_it_moves(
    make_services: Callable[..., Services], sqlite_url: str
) -> None:
    from pathway import load_definition
    from pathway.yamlio import definitions_dir

    svc = make_services(sqlite_url, clock=FixedClock(TODAY))
    v1 = load_definition(definitions_dir() / "trd-1.0.0.yaml")
    record = load_record(EXAMPLES / "08-relapse-after-remission.json", catalog=v1.catalog)
    svc.enroll(record.id, actor="t", record=record, definition=v1)
    svc.advance(record.id, trigger="reassess", actor="t")
    # under 1.0 a relapse after remission left `reassess` with nothing enabled
    assert "decision_needed" in {item for item, _ in _stored(svc, record.id)}
    svc.migrate("1.1.0", actor="t")
    assert "decision_needed" not in {item for item, _ in _stored(svc, record.id)}
    assert svc.status(record.id).recommended == "optimize"
    assert svc.verify(deep=True).ok
