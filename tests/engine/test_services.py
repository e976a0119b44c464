"""The services on every backend: enroll, record, status, advance, override, history, and every
refusal (which must write nothing)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from engine_support import TODAY, example_records, snapshot

from engine.clock import FixedClock
from engine.errors import (
    AlreadyEnrolled,
    BeforeEntry,
    FutureDate,
    InvalidOverride,
    UnknownReasonCode,
)
from engine.services import Services
from pathway.errors import (
    InvalidTrigger,
    RecordError,
    StaleVersion,
    TransitionBlocked,
    UnknownPatient,
)
from pathway.record import parse_record

Record = dict[str, Any]


def days_ago(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


def test_enroll_starts_at_the_initial_state_with_the_record_as_facts(
    svc: Services, record_factory: Callable[..., Record]
) -> None:
    result = svc.enroll("P-0001", actor="dr-a", record=record_factory())
    assert (result.state, result.version, result.facts) == ("initial_trial", 3, 2)
    assert result.definition.id == "trd"
    assert svc.record_of("P-0001") == parse_record(record_factory())
    status = svc.status("P-0001")
    assert status.state == "initial_trial" and status.days_in_state == 0
    assert status.enabled == ["reassess"] and status.recommended == "reassess"


@pytest.mark.parametrize("record", example_records(), ids=lambda r: r["id"])
def test_an_enrolled_record_is_rebuilt_exactly_from_its_facts(
    svc: Services, record: Record
) -> None:
    svc.enroll(record["id"], actor="import", record=record, effective=dt.date(2026, 1, 31))
    assert svc.record_of(record["id"]) == parse_record(record)


def test_a_full_course_advance_override_and_history(
    svc: Services, record_factory: Callable[..., Record], clock: FixedClock
) -> None:
    svc.enroll("P-0001", actor="dr-a", record=record_factory(), effective=dt.date(2026, 4, 1))
    moved = svc.advance("P-0001", trigger="reassess", actor="dr-a")
    assert (moved.from_state, moved.to_state, moved.version) == ("initial_trial", "reassess", 4)
    assert moved.guard is not None and moved.guard.result == "true"
    clock.advance(days=3)
    rec = svc.record(
        "P-0001",
        facts=[
            {"fact": "measurement", "date": days_ago(-2), "instrument": "PHQ-9", "score": 17},
            {"fact": "trial_ended", "trial": 0, "end": days_ago(-1), "stop_reason": "no_response"},
        ],
        actor="dr-b",
    )
    assert rec.version == 6 and [e.fact for e in rec.entries] == ["measurement", "trial_ended"]
    status = svc.status("P-0001")
    assert status.state == "reassess" and status.days_in_state == 3
    assert status.recommended == "switch"
    over = svc.override(
        "P-0001", to="augment", reason="case_review", note="MDT prefers augmentation", actor="dr-c"
    )
    assert (over.kind, over.from_state, over.to_state, over.version) == (
        "override",
        "reassess",
        "augment",
        7,
    )
    history = svc.history("P-0001")
    assert [e.version for e in history.entries if e.kind != "fact"] == [1, 4, 7]
    moves = [e for e in history.entries if e.kind in ("transition", "override")]
    assert "because" in moves[0].summary and moves[0].guard is not None
    assert moves[1].reason_code == "case_review" and moves[1].note == "MDT prefers augmentation"
    assert moves[1].actor == "dr-c"
    assert svc.verify(deep=True).ok


def test_back_dated_moves_are_evaluated_as_of_their_date(
    svc: Services, record_factory: Callable[..., Record]
) -> None:
    svc.enroll(
        "P-0001", actor="a", record=record_factory(), effective=TODAY - dt.timedelta(days=70)
    )
    # 60 days ago the trial had just started: its evaluation window was not reached yet
    with pytest.raises(TransitionBlocked) as blocked:
        svc.advance(
            "P-0001", trigger="reassess", actor="a", effective=TODAY - dt.timedelta(days=50)
        )
    assert blocked.value.reasons[0].predicate == "evaluation_window_reached"
    moved = svc.advance(
        "P-0001", trigger="reassess", actor="a", effective=TODAY - dt.timedelta(days=10)
    )
    assert moved.effective_on == TODAY - dt.timedelta(days=10)
    assert svc.status("P-0001").days_in_state == 10


def test_drug_aliases_are_stored_under_their_generic_name(
    svc: Services, record_factory: Callable[..., Record]
) -> None:
    svc.enroll("P-0001", actor="a", record=record_factory())
    out = svc.record(
        "P-0001",
        facts={
            "fact": "trial_started",
            "drug": "Wellbutrin",
            "start": days_ago(1),
            "mg_per_day": 150,
        },
        actor="a",
    )
    assert out.entries[0].data is not None and out.entries[0].data["drug"] == "bupropion"


# -- every refusal writes nothing ---------------------------------------------------------

REFUSALS: list[tuple[str, Callable[[Services], Any], type[Exception], str]] = [
    (
        "unknown patient",
        lambda s: s.advance("P-404", trigger="reassess", actor="a"),
        UnknownPatient,
        "unknown patient 'P-404'",
    ),
    (
        "unknown patient (record)",
        lambda s: s.record("P-404", facts={"fact": "history", "impulsivity": True}, actor="a"),
        UnknownPatient,
        "P-404",
    ),
    (
        "unknown trigger",
        lambda s: s.advance("P-0001", trigger="switch", actor="a"),
        InvalidTrigger,
        "allowed: escalate, reassess",
    ),
    (
        "blocked guard",
        lambda s: s.advance("P-0001", trigger="escalate", actor="a"),
        TransitionBlocked,
        "'escalate' from 'initial_trial' is blocked (guard is false)",
    ),
    (
        "stale version",
        lambda s: s.advance("P-0001", trigger="reassess", actor="a", expect_version=2),
        StaleVersion,
        "patient P-0001 changed since you read it (version 2 → 3); reload and retry",
    ),
    (
        "invalid fact",
        lambda s: s.record(
            "P-0001",
            facts={"fact": "measurement", "date": days_ago(1), "instrument": "PHQ-9", "score": 99},
            actor="a",
        ),
        RecordError,
        "PHQ-9 score must be",
    ),
    (
        "fact making the record invalid",
        lambda s: s.record(
            "P-0001",
            facts={"fact": "dose_changed", "trial": 0, "from": days_ago(90), "mg_per_day": 50},
            actor="a",
        ),
        RecordError,
        "trials[0].doses",
    ),
    (
        "fact naming a missing trial",
        lambda s: s.record(
            "P-0001", facts={"fact": "trial_ended", "trial": 3, "end": days_ago(1)}, actor="a"
        ),
        RecordError,
        "no trial #3",
    ),
    (
        "unknown fact kind",
        lambda s: s.record("P-0001", facts={"fact": "measurment"}, actor="a"),
        RecordError,
        "did you mean 'measurement'",
    ),
    (
        "future fact",
        lambda s: s.record(
            "P-0001",
            facts={"fact": "measurement", "date": days_ago(-1), "instrument": "PHQ-9", "score": 9},
            actor="a",
        ),
        FutureDate,
        "measurement date 2026-06-02 is in the future",
    ),
    (
        "future move",
        lambda s: s.advance(
            "P-0001", trigger="reassess", actor="a", effective=TODAY + dt.timedelta(days=1)
        ),
        FutureDate,
        "effective date 2026-06-02 is in the future",
    ),
    (
        "move before entering the state",
        lambda s: s.advance(
            "P-0001", trigger="reassess", actor="a", effective=TODAY - dt.timedelta(days=1)
        ),
        BeforeEntry,
        "before patient P-0001 entered 'initial_trial'",
    ),
    (
        "move dated before 1900",
        lambda s: s.advance(
            "P-0001", trigger="reassess", actor="a", effective=dt.date(1899, 12, 31)
        ),
        RecordError,
        "a date before 1900-01-01 is not plausible",
    ),
    (
        "fact dated otherwise than the effective date",
        lambda s: s.record(
            "P-0001",
            facts={"fact": "measurement", "date": days_ago(1), "instrument": "PHQ-9", "score": 9},
            actor="a",
            effective=TODAY - dt.timedelta(days=2),
        ),
        RecordError,
        "the measurement is dated '2026-05-31' but effective is 2026-05-30",
    ),
    (
        "status as of a day before the state was entered",
        lambda s: s.status("P-0001", as_of=TODAY - dt.timedelta(days=1)),
        BeforeEntry,
        "as-of date 2026-05-31 is before patient P-0001 entered 'initial_trial' on 2026-06-01: "
        "the status judges the current state",
    ),
    (
        "unknown reason code",
        lambda s: s.override("P-0001", to="augment", reason="cas_review", note="n", actor="a"),
        UnknownReasonCode,
        "did you mean 'case_review'",
    ),
    (
        "override to an unknown state",
        lambda s: s.override("P-0001", to="augmnt", reason="case_review", note="n", actor="a"),
        InvalidOverride,
        "did you mean 'augment'",
    ),
    (
        "override to the same state",
        lambda s: s.override(
            "P-0001", to="initial_trial", reason="case_review", note="n", actor="a"
        ),
        InvalidOverride,
        "already in 'initial_trial'",
    ),
    (
        "override without a note",
        lambda s: s.override("P-0001", to="augment", reason="case_review", note="  ", actor="a"),
        InvalidOverride,
        "needs a note",
    ),
    (
        "already enrolled",
        lambda s: s.enroll("P-0001", actor="a"),
        AlreadyEnrolled,
        "patient P-0001 is already enrolled",
    ),
    ("bad patient id", lambda s: s.enroll("Jane Doe", actor="a"), RecordError, "a patient id is"),
    ("dot patient id", lambda s: s.enroll(".", actor="a"), RecordError, "not . or .."),
    (
        "record for another patient",
        lambda s: s.enroll("P-0002", actor="a", record={"id": "P-0003"}),
        RecordError,
        "the record is for 'P-0003'",
    ),
    (
        "future-dated record",
        lambda s: s.enroll(
            "P-0002",
            actor="a",
            record={
                "id": "P-0002",
                "measurements": [{"date": days_ago(-3), "instrument": "PHQ-9", "score": 3}],
            },
        ),
        FutureDate,
        "is in the future",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_every_refusal_is_clear_and_writes_nothing(
    svc: Services,
    record_factory: Callable[..., Record],
    call: Callable[[Services], Any],
    error: type[Exception],
    message: str,
) -> None:
    svc.enroll("P-0001", actor="a", record=record_factory())
    before = snapshot(svc)
    with pytest.raises(error) as raised:
        call(svc)
    assert message in str(raised.value)
    assert snapshot(svc) == before


def test_a_blocked_move_carries_its_reasons(
    svc: Services, record_factory: Callable[..., Record]
) -> None:
    svc.enroll("P-0001", actor="a", record=record_factory(), effective=TODAY - dt.timedelta(days=5))
    svc.advance("P-0001", trigger="reassess", actor="a")
    with pytest.raises(TransitionBlocked) as blocked:
        svc.advance("P-0001", trigger="refer_neurostimulation", actor="a")
    err = blocked.value
    assert err.trigger == "refer_neurostimulation" and err.result == "false"
    assert [r.predicate for r in err.reasons] == ["treatment_resistant"]
    assert "0 failed adequate trials" in str(err)


def test_unknown_guard_results_block_too(
    svc: Services, record_factory: Callable[..., Record]
) -> None:
    svc.enroll(
        "P-0001",
        actor="a",
        record=record_factory(trials=[], measurements=[]),
        effective=TODAY - dt.timedelta(days=5),
    )
    svc.override("P-0001", to="maintenance", reason="correction", note="remitted", actor="a")
    with pytest.raises(TransitionBlocked) as blocked:  # relapse needs a score: unknown
        svc.advance("P-0001", trigger="relapse", actor="a")
    assert blocked.value.result == "unknown"


def test_the_record_cache_keeps_one_version_per_patient_and_never_serves_a_stale_one(
    svc: Services, record_factory: Callable[..., Record], clock: FixedClock
) -> None:
    svc.enroll("P-0001", actor="dr-a", record=record_factory())
    enrolled = svc.load("P-0001")
    assert svc.cache.get("P-0001", enrolled.head.version) is not None
    clock.advance(days=60)
    svc.record(
        "P-0001",
        facts={
            "fact": "measurement",
            "date": clock.today().isoformat(),
            "instrument": "PHQ-9",
            "score": 17,
        },
        actor="a",
    )
    newer = svc.load("P-0001")
    assert newer.head.version == enrolled.head.version + 1
    assert svc.cache.get("P-0001", enrolled.head.version) is None  # replaced, not kept beside
    assert svc.cache.get("P-0001", newer.head.version) is not None
    assert len(newer.record.measurements) == len(enrolled.record.measurements) + 1


def test_a_move_held_by_a_negation_says_why_in_the_history(
    svc: Services, record_factory: Callable[..., dict[str, Any]]
) -> None:
    """`review` holds when the differential is *not* clear: none of its conditions is true, so
    the history names the open finding rather than an empty "because"."""
    rec = record_factory(
        "P-0009",
        labs=[{"date": days_ago(10), "test": "TSH", "value": 7.8, "unit": "mIU/L"}],
    )
    svc.enroll("P-0009", actor="dr-a", record=rec, effective=TODAY - dt.timedelta(days=5))
    svc.advance("P-0009", trigger="reassess", actor="dr-a")
    svc.advance("P-0009", trigger="review", actor="dr-a")
    (review,) = [e for e in svc.history("P-0009").entries if e.trigger == "review"]
    assert "review: reassess → differential_review because " in review.summary
    assert "TSH 7.8" in review.summary
