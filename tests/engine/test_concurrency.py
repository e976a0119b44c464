"""Concurrent writers on one patient: compare-and-swap on the version, on SQLite and PostgreSQL.

Each thread has its own Services and connection. A barrier inside `commit()` lines every writer
up after it has read the patient and decided, so they really race on the same version.
"""

from __future__ import annotations

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
