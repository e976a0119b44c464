"""Bulk enrollment: every patient atomic, bad records reported, the log rebuilds each record."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import pytest
from engine_support import example_records

from engine.factlog import facts_of
from engine.services import Services
from pathway.record import parse_record


@pytest.mark.parametrize("batch_size", [1, 3, 100])
def test_bulk_enroll_writes_every_record_whole(svc: Services, batch_size: int) -> None:
    records = example_records()
    report = svc.bulk_enroll([(r["id"], r) for r in records], actor="import", batch_size=batch_size)
    assert (report.read, report.enrolled, report.problems) == (len(records), len(records), [])
    expected_events = sum(1 + len(facts_of(parse_record(r))) for r in records)
    assert report.events == expected_events
    for r in records:
        assert svc.record_of(r["id"]) == parse_record(r)
    assert svc.verify(deep=True).ok
    assert gc.isenabled()


def test_bad_duplicate_and_existing_records_are_reported_and_the_rest_written(
    svc: Services, record_factory: Callable[..., dict[str, Any]]
) -> None:
    svc.enroll("P-1", actor="a")
    items = [
        ("a.json", record_factory("P-1")),  # enrolled already
        ("b.json", record_factory("P-2")),
        ("c.json", record_factory("P-2")),  # twice in this import
        (
            "d.json",
            {
                "id": "P-3",
                "trials": [
                    {
                        "drug": "sertralin",
                        "start": "2026-01-01",
                        "doses": [{"from": "2026-01-01", "mg_per_day": 50}],
                    }
                ],
            },
        ),
        (
            "e.json",
            {
                "id": "P-4",
                "measurements": [{"date": "2099-01-01", "instrument": "PHQ-9", "score": 3}],
            },
        ),
        ("f.json", record_factory("P-5")),
    ]
    report = svc.bulk_enroll(items, actor="import", batch_size=10)
    assert report.enrolled == 2
    problems = {p.source: p.message for p in report.problems}
    assert problems["a.json"] == "patient P-1 is already enrolled"
    assert problems["c.json"] == "patient P-2 appears twice in this import"
    assert "did you mean 'sertraline'" in problems["d.json"]
    assert "is in the future" in problems["e.json"]
    assert svc.verify().patients == 3
    skipped = svc.bulk_enroll(items[:2], actor="import", skip_existing=True)
    assert (skipped.enrolled, skipped.skipped_existing, skipped.problems) == (0, 2, [])


def test_bare_records_are_accepted_and_a_future_enrollment_date_refused(svc: Services) -> None:
    import datetime as dt

    from engine.errors import FutureDate

    report = svc.bulk_enroll([{"id": "P-1"}, parse_record({"id": "P-2"})], actor="a")
    assert report.enrolled == 2
    with pytest.raises(FutureDate):
        svc.bulk_enroll([{"id": "P-3"}], actor="a", effective=dt.date(2099, 1, 1))
    assert svc.verify().patients == 2
