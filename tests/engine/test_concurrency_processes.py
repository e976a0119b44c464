"""32 writer processes (not threads) on one database, SQLite and PostgreSQL: one winner per
version, no lost or duplicated event, and every hash chain intact afterwards.

Each process builds its own engine after the fork; a multiprocessing barrier lines them up on the
same version. Bounded in time: every wait has a timeout and the whole test takes seconds.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest
from engine_support import TODAY, registry

from engine.clock import FixedClock
from engine.services import Services
from engine.store.db import make_engine
from engine.store.uow import SqlUnitOfWork
from pathway.errors import StaleVersion

WRITERS = 32
TIMEOUT = 120


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


def _services(url: str) -> Services:
    return Services(
        SqlUnitOfWork(make_engine(url)), clock=FixedClock(TODAY), definitions=registry()
    )


class _Racing(SqlUnitOfWork):
    def __init__(self, engine: Any, barrier: Any) -> None:
        super().__init__(engine)
        self.barrier = barrier

    def commit(self) -> None:
        self.barrier.wait(timeout=TIMEOUT)
        super().commit()


def _override(url: str, n: int, version: int, barrier: Any, out: Any) -> None:
    svc = Services(
        _Racing(make_engine(url), barrier), clock=FixedClock(TODAY), definitions=registry()
    )
    try:
        svc.override(
            "P-0042",
            to="augment",
            reason="safety",
            note=f"writer {n}",
            actor=f"w{n}",
            expect_version=version,
        )
        out.put(("won", n))
    except StaleVersion:
        out.put(("stale", n))
    except BaseException as exc:  # reported to the parent, never a hang
        out.put(("error", repr(exc)))
    finally:
        svc.close()


def _record(url: str, n: int, out: Any) -> None:
    svc = _services(url)
    written = 0
    try:
        for k in range(3):
            fact = {
                "fact": "measurement",
                "date": TODAY.isoformat(),
                "instrument": "PHQ-9",
                "score": (n + k) % 27,
            }
            for _ in range(200):
                try:
                    svc.record("P-0042", facts=[fact], actor=f"w{n}")
                    written += 1
                    break
                except StaleVersion:
                    continue
        out.put(("ok", written))
    except BaseException as exc:
        out.put(("error", repr(exc)))
    finally:
        svc.close()


def _run(target: Any, args_of: Any) -> list[Any]:
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_of(n, ctx), out)) for n in range(WRITERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=TIMEOUT) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    return results


def _enroll(url: str) -> int:
    svc = _services(url)
    version = svc.enroll("P-0042", actor="setup").version
    svc.close()
    svc.uow.engine.dispose()  # type: ignore[attr-defined]
    return version


def test_of_32_writer_processes_on_one_version_exactly_one_wins(db_url: str) -> None:
    version = _enroll(db_url)
    barrier = multiprocessing.get_context("fork").Barrier(WRITERS)
    results = _run(_override, lambda n, ctx: (db_url, n, version, barrier))
    assert [r for r in results if r[0] == "error"] == []
    assert sum(r[0] == "won" for r in results) == 1
    svc = _services(db_url)
    report = svc.verify(deep=True)
    assert report.ok, report.mismatches
    assert report.events == version + 1
    svc.close()


def test_32_writer_processes_that_retry_lose_no_event_and_keep_the_chain(db_url: str) -> None:
    version = _enroll(db_url)
    results = _run(_record, lambda n, ctx: (db_url, n))
    assert [r for r in results if r[0] == "error"] == []
    assert sum(r[1] for r in results) == WRITERS * 3
    svc = _services(db_url)
    report = svc.verify()
    assert report.ok, report.mismatches
    assert report.events == version + WRITERS * 3
    assert svc.status("P-0042").version == version + WRITERS * 3
    svc.close()
