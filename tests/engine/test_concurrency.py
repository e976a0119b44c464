"""Concurrent writers on one patient: compare-and-swap on the version, on SQLite and PostgreSQL.

Each thread has its own Services and connection. A barrier inside `commit()` lines every writer
up after it has read the patient and decided, so they really race on the same version.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from engine_support import TODAY, registry

from engine.clock import FixedClock
from engine.services import Services
from engine.store.db import make_engine
from engine.store.uow import SqlUnitOfWork
from pathway.errors import StaleVersion

N = 8


class RacingUnitOfWork(SqlUnitOfWork):
    """Waits for every other writer before applying its writes."""

    def __init__(self, engine: Any, barrier: threading.Barrier) -> None:
        super().__init__(engine)
        self.barrier = barrier

    def commit(self) -> None:
        self.barrier.wait(timeout=30)
        super().commit()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


def services(url: str, barrier: threading.Barrier | None = None) -> Services:
    engine = make_engine(url)
    uow = RacingUnitOfWork(engine, barrier) if barrier else SqlUnitOfWork(engine)
    return Services(uow, clock=FixedClock(TODAY), definitions=registry())


def enroll_at_risk(url: str) -> int:
    svc = services(url)
    record = {"id": "P-0042", "risk": {"date": TODAY.isoformat(), "suicidality": "active"}}
    version = svc.enroll("P-0042", actor="setup", record=record).version
    svc.uow.engine.dispose()  # type: ignore[attr-defined]
    return version


def test_of_n_writers_on_one_version_exactly_one_wins(db_url: str) -> None:
    version = enroll_at_risk(db_url)
    barrier = threading.Barrier(N)

    def move(i: int) -> Any:
        svc = services(db_url, barrier)
        try:
            return svc.advance(
                "P-0042", trigger="escalate", actor=f"coordinator-{i}", expect_version=version
            )
        except StaleVersion as exc:
            return exc
        finally:
            svc.uow.engine.dispose()  # type: ignore[attr-defined]

    with ThreadPoolExecutor(N) as pool:
        results = list(pool.map(move, range(N)))
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, StaleVersion)]
    assert len(wins) == 1 and len(losses) == N - 1
    assert wins[0].version == version + 1
    for loss in losses:
        assert (loss.expected, loss.actual) == (version, version + 1)
        assert str(loss) == (
            f"patient P-0042 changed since you read it (version {version} → "
            f"{version + 1}); reload and retry"
        )
    check = services(db_url)
    history = check.history("P-0042")
    assert [e.kind for e in history.entries].count("transition") == 1
    assert history.version == version + 1 and check.status("P-0042").state == "neurostimulation"
    assert check.verify(deep=True).ok


def test_no_event_is_lost_or_duplicated_when_writers_retry(db_url: str) -> None:
    version = enroll_at_risk(db_url)
    barrier = threading.Barrier(N)
    stale = threading.Semaphore(0)

    def record(i: int) -> int:
        svc = services(db_url)
        first = True
        fact = {"fact": "measurement", "date": TODAY.isoformat(), "instrument": "PHQ-9", "score": i}
        try:
            while True:  # reload and retry, as the message says
                try:
                    if first:
                        first = False
                        racing = services(db_url, barrier)
                        try:
                            return racing.record("P-0042", facts=fact, actor=f"c{i}").version
                        finally:
                            racing.uow.engine.dispose()  # type: ignore[attr-defined]
                    return svc.record("P-0042", facts=fact, actor=f"c{i}").version
                except StaleVersion:
                    stale.release()
        finally:
            svc.uow.engine.dispose()  # type: ignore[attr-defined]

    with ThreadPoolExecutor(N) as pool:
        versions = sorted(pool.map(record, range(N)))
    assert versions == list(range(version + 1, version + N + 1))
    assert stale.acquire(blocking=False)  # the race did happen
    check = services(db_url)
    scores = [m.score for m in check.record_of("P-0042").measurements]
    assert sorted(scores) == list(range(N))
    assert check.verify().ok


def test_a_writer_that_read_an_old_version_is_told_before_anything_is_written(
    make_services: Callable[..., Services], sqlite_url: str
) -> None:
    version = enroll_at_risk(sqlite_url)
    svc = make_services(sqlite_url)
    svc.advance("P-0042", trigger="escalate", actor="first")
    with pytest.raises(StaleVersion, match=rf"version {version} → {version + 1}"):
        svc.override(
            "P-0042",
            to="reassess",
            reason="correction",
            note="n",
            actor="second",
            expect_version=version,
        )


def test_writers_moving_different_patients_crosswise_keep_the_board_counts(db_url: str) -> None:
    """Moves in opposite directions at once (A: reassess → augment, B: augment → reassess, …)
    touch the same counter rows; all succeed, none deadlocks, and the counts stay exact."""
    from engine.store.board_sql import count_drift

    setup = services(db_url)
    for i in range(N):
        setup.enroll(f"X-{i}", actor="setup")
    setup.uow.engine.dispose()  # type: ignore[attr-defined]
    states = ["reassess", "augment"]

    def shuttle(i: int) -> int:
        svc = services(db_url)
        try:
            for k in range(6):  # half the threads start on the other foot
                to = states[(k + i) % 2]
                svc.override(f"X-{i}", to=to, reason="clinical_judgement", note="test", actor="c")
            return 6
        finally:
            svc.uow.engine.dispose()  # type: ignore[attr-defined]

    with ThreadPoolExecutor(N) as pool:
        assert sum(pool.map(shuttle, range(N))) == 6 * N
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert count_drift(conn) == []
    engine.dispose()


# -- writes decided on the record cache ------------------------------------------------------


def counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Patient ids whose log `SqlRepository.load_facts` read, in order."""
    from engine.store.repository import SqlRepository

    seen: list[str] = []
    real = SqlRepository.load_facts

    def load_facts(self: SqlRepository, patient_id: str, known: int | None = None) -> Any:
        seen.append(patient_id)
        return real(self, patient_id, known)

    monkeypatch.setattr(SqlRepository, "load_facts", load_facts)
    return seen


def test_a_move_on_a_cached_patient_reads_nothing_and_commits_what_a_fresh_read_decides(
    db_url: str, record_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = services(db_url)
    svc.enroll("P-0001", actor="a", record=record_factory())
    assert svc.status("P-0001").state == "initial_trial"  # a read: the record is cached
    reads = counting_reads(monkeypatch)
    moved = svc.advance("P-0001", trigger="reassess", actor="a")
    assert reads == [] and moved.to_state == "reassess"
    fresh = services(db_url)  # another process: nothing cached
    assert fresh.status("P-0001").state == "reassess"
    assert fresh.status("P-0001").version == moved.version
    assert fresh.verify(deep=True).ok


def test_a_cache_another_writer_made_stale_is_found_out_and_the_move_decided_afresh(
    db_url: str, record_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = services(db_url), services(db_url)
    start = (TODAY - dt.timedelta(days=60)).isoformat()
    failed = [  # PHQ-9 18 → 16 after 8 weeks at an effective dose: a failed trial
        {"date": start, "instrument": "PHQ-9", "score": 18},
        {"date": (TODAY - dt.timedelta(days=3)).isoformat(), "instrument": "PHQ-9", "score": 16},
    ]
    ours.enroll("P-0001", actor="a", record=record_factory(measurements=failed))
    assert ours.status("P-0001").state == "initial_trial"  # cached here
    theirs.advance("P-0001", trigger="reassess", actor="b")
    reads = counting_reads(monkeypatch)
    # `switch` leaves reassess, not initial_trial: decided on the cache it would be refused
    moved = ours.advance("P-0001", trigger="switch", actor="a")
    assert (moved.from_state, moved.to_state) == ("reassess", "switch")
    assert reads == ["P-0001"]  # one fresh read, after the cache's refusal
    history = services(db_url).history("P-0001")
    assert [e.kind for e in history.entries].count("transition") == 2


def test_a_stale_expected_version_is_refused_even_when_the_cache_holds_it(
    db_url: str, record_factory: Callable[..., Any]
) -> None:
    ours, theirs = services(db_url), services(db_url)
    version = ours.enroll("P-0001", actor="a", record=record_factory()).version
    assert ours.status("P-0001").version == version  # cached here
    theirs.advance("P-0001", trigger="reassess", actor="b")
    with pytest.raises(StaleVersion, match=rf"version {version} → {version + 1}"):
        ours.override(
            "P-0001",
            to="maintenance",
            reason="correction",
            note="n",
            actor="a",
            expect_version=version,
        )
    assert services(db_url).status("P-0001").state == "reassess"


def test_a_refusal_that_holds_is_raised_after_a_fresh_read(
    db_url: str, record_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathway.errors import InvalidTrigger

    svc = services(db_url)
    svc.enroll("P-0001", actor="a", record=record_factory())
    svc.status("P-0001")  # cached
    reads = counting_reads(monkeypatch)
    with pytest.raises(InvalidTrigger):
        svc.advance("P-0001", trigger="switch", actor="a")
    assert reads == ["P-0001"]
    assert svc.status("P-0001").state == "initial_trial"


def test_facts_recorded_on_a_stale_cache_go_after_the_other_writers(
    db_url: str, record_factory: Callable[..., Any]
) -> None:
    ours, theirs = services(db_url), services(db_url)
    ours.enroll("P-0001", actor="a", record=record_factory())
    version = ours.status("P-0001").version  # cached here
    day = TODAY.isoformat()
    theirs.record(
        "P-0001",
        facts={"fact": "measurement", "date": day, "instrument": "PHQ-9", "score": 11},
        actor="b",
    )
    done = ours.record(
        "P-0001",
        facts={"fact": "trial_started", "drug": "Lexapro", "start": day, "mg_per_day": 10},
        actor="a",
    )
    assert done.version == version + 2
    fresh = services(db_url)
    record = fresh.record_of("P-0001")
    assert [m.score for m in record.measurements][-1] == 11
    assert record.trials[-1].drug == "escitalopram"  # the brand resolved, stored once
    assert fresh.verify(deep=True).ok
