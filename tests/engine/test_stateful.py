"""A hypothesis state machine over the services: random facts, time, advances and overrides.

Invariants after every step, for every patient: the state is declared; state, version and entry
date equal a replay of the log; versions run 1..n with no gap; every change of state has its
event; no transition passed a guard that was not true (each one is re-evaluated from the facts
known when it was taken); a refused command wrote nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import hypothesis.strategies as st
import pytest
from engine_support import TODAY, registry
from hypothesis import HealthCheck, settings
from hypothesis import event as hyp_event
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from engine.clock import FixedClock
from engine.errors import BeforeEntry, FutureDate, InvalidOverride, UnknownReasonCode
from engine.queries.audit import check_patient, rollup_drift
from engine.queries.overlay_cohort import summary_of
from engine.reasons import REASON_CODES
from engine.services import Services
from engine.store.board_sql import count_drift
from engine.store.db import init_db, make_engine
from engine.store.fake import FakeUnitOfWork
from engine.store.overlay_rollup import install, read_rollup
from engine.store.overlay_sql import CohortQuery, count_cohort
from engine.store.uow import SqlUnitOfWork, UnitOfWork
from pathway.errors import InvalidTrigger, RecordError, StaleVersion, TransitionBlocked

TRD = registry().default
PATIENTS = ("P-1", "P-2", "P-3")
TRIGGERS = [*sorted({t.trigger for t in TRD.transitions}), "bogus"]
STATES = [s.id for s in TRD.states]
DRUGS = ["sertraline", "escitalopram", "venlafaxine", "bupropion", "mirtazapine", "lithium"]

ago = st.integers(min_value=-3, max_value=150)  # days before today; negative = future
fact_kinds: dict[str, Any] = {
    "trial_started": st.fixed_dictionaries(
        {
            "drug": st.sampled_from(DRUGS),
            "start": ago,
            "mg_per_day": st.sampled_from([10.0, 50.0, 100.0, 150.0, 225.0, 300.0, 900.0]),
            "role": st.sampled_from(["antidepressant", "antidepressant", "augmentation"]),
        }
    ),
    "dose_changed": st.fixed_dictionaries(
        {
            "trial": st.integers(0, 3),
            "from": ago,
            "mg_per_day": st.sampled_from([50.0, 100.0, 200.0, 300.0]),
        }
    ),
    "trial_ended": st.fixed_dictionaries(
        {
            "trial": st.integers(0, 3),
            "end": ago,
            "stop_reason": st.sampled_from(
                ["no_response", "partial_response", "side_effects", "remission", None]
            ),
            "adherence": st.sampled_from([None, 0.5, 0.9]),
        }
    ),
    "measurement": st.fixed_dictionaries(
        {
            "date": ago,
            "instrument": st.just("PHQ-9"),
            "score": st.integers(0, 30),
        }
    ),
    "contributor": st.fixed_dictionaries(
        {
            "kind": st.sampled_from(
                ["stressor", "hypothyroidism", "bipolar_disorder", "alcohol_use"]
            ),
            "status": st.sampled_from(
                ["suspected", "active", "confirmed", "addressed", "ruled_out"]
            ),
            "date": ago,
        }
    ),
    "risk": st.fixed_dictionaries(
        {
            "date": ago,
            "suicidality": st.sampled_from(["none", "passive", "active"]),
        }
    ),
    "procedure": st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["rTMS", "ECT"]),
            "start": ago,
            "sessions": st.integers(0, 40),
        }
    ),
    "history": st.fixed_dictionaries({"elevated_mood": st.booleans()}),
}
facts = st.sampled_from(sorted(fact_kinds)).flatmap(
    lambda k: fact_kinds[k].map(lambda body: {"fact": k, **body})
)


def dated(fact: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """Turn 'days ago' integers into ISO dates relative to today."""
    out = dict(fact)
    for key in ("start", "from", "end", "date"):
        if isinstance(out.get(key), int):
            out[key] = (today - dt.timedelta(days=out[key])).isoformat()
    return out


REFUSED = (
    RecordError,
    FutureDate,
    BeforeEntry,
    InvalidTrigger,
    TransitionBlocked,
    InvalidOverride,
    UnknownReasonCode,
    StaleVersion,
)


class EngineMachine(RuleBasedStateMachine):
    """The services driven at random; the log must always explain the state."""

    def make_uow(self) -> UnitOfWork:
        return FakeUnitOfWork()

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(TODAY - dt.timedelta(days=200))
        self.svc = Services(self.make_uow(), clock=self.clock, definitions=registry())

        def day(n: int) -> str:
            return (self.clock.today() - dt.timedelta(days=n)).isoformat()

        def trial(drug: str, start: int, end: int | None = None) -> dict[str, Any]:
            return {
                "drug": drug,
                "start": day(start),
                "end": day(end) if end is not None else None,
                "doses": [{"from": day(start), "mg_per_day": 150}],
                "adherence": 0.9,
                "stop_reason": "no_response" if end is not None else None,
            }

        def phq(*pairs: tuple[int, int]) -> list[dict[str, Any]]:
            return [{"date": day(n), "instrument": "PHQ-9", "score": v} for n, v in pairs]

        seeds: dict[str, dict[str, Any]] = {
            # an ongoing adequate trial without response: reassess, then switch
            "P-1": {"trials": [trial("sertraline", 50)], "measurements": phq((50, 18), (5, 17))},
            # life-threatening: escalate
            "P-2": {"risk": {"date": day(30), "suicidality": "active"}},
            # two failed adequate trials: reassess, then every next-line option
            "P-3": {
                "trials": [trial("sertraline", 190, 100), trial("venlafaxine", 95, 30)],
                "measurements": phq((190, 20), (101, 19), (95, 19), (31, 18)),
            },
        }
        for pid in PATIENTS:
            self.svc.enroll(
                pid,
                actor="init",
                record={"id": pid, **seeds[pid]},
                effective=self.clock.today() - dt.timedelta(days=20),
            )
        self.seen: dict[str, tuple[int, str]] = {p: self.current(p) for p in PATIENTS}
        self.moves = 0

    def teardown(self) -> None:
        self.dispose()

    def dispose(self) -> None:
        pass

    def current(self, pid: str) -> tuple[int, str]:
        with self.svc.uow as uow:
            head = uow.patients.get(pid)
        assert head is not None
        return head.version, head.state

    def expect(self, pid: str, *, changed_by: int, state: str | None = None) -> None:
        version, now = self.current(pid)
        before_version, before_state = self.seen[pid]
        assert version == before_version + changed_by
        if changed_by == 0:
            assert now == before_state
        if state is not None:
            assert now == state
        self.seen[pid] = (version, now)

    @rule(days=st.integers(1, 45))
    def time_passes(self, days: int) -> None:
        self.clock.advance(days=days)

    @rule(pid=st.sampled_from(PATIENTS), batch=st.lists(facts, min_size=1, max_size=3))
    def record_facts(self, pid: str, batch: list[dict[str, Any]]) -> None:
        today = self.clock.today()
        try:
            out = self.svc.record(pid, facts=[dated(f, today) for f in batch], actor="rb")
        except REFUSED:
            self.expect(pid, changed_by=0)
        else:
            assert len(out.entries) == len(batch)
            self.expect(pid, changed_by=len(batch))

    @rule(pid=st.sampled_from(PATIENTS), pick=st.integers(0, 40), back=st.integers(0, 10))
    def advance(self, pid: str, pick: int, back: int) -> None:
        """Mostly a trigger that leaves the current state (its guard decides), sometimes any."""
        allowed = TRD.triggers_from(self.current(pid)[1])
        pool = allowed if allowed and pick < 30 else TRIGGERS
        trigger = pool[pick % len(pool)]
        when = self.clock.today() - dt.timedelta(days=back)
        try:
            moved = self.svc.advance(pid, trigger=trigger, actor="rb", effective=when)
        except REFUSED:
            self.expect(pid, changed_by=0)
        else:
            assert moved.guard is not None and moved.guard.result == "true"
            self.moves += 1
            with contextlib.suppress(InvalidArgument):  # outside hypothesis (the scripted test)
                hyp_event(f"moved by {trigger}")
            self.expect(pid, changed_by=1, state=moved.to_state)

    @rule(
        pid=st.sampled_from(PATIENTS),
        to=st.sampled_from([*STATES, "nowhere"]),
        reason=st.sampled_from([*REASON_CODES, "because"]),
    )
    def override(self, pid: str, to: str, reason: str) -> None:
        try:
            moved = self.svc.override(pid, to=to, reason=reason, note="test", actor="rb")
        except REFUSED:
            self.expect(pid, changed_by=0)
        else:
            assert reason in REASON_CODES and to in STATES
            self.expect(pid, changed_by=1, state=moved.to_state)

    @rule(pid=st.sampled_from(PATIENTS), trigger=st.sampled_from(TRIGGERS))
    def stale_write(self, pid: str, trigger: str) -> None:
        version, _ = self.current(pid)
        with pytest.raises(StaleVersion):
            self.svc.advance(pid, trigger=trigger, actor="rb", expect_version=version - 1)
        self.expect(pid, changed_by=0)

    @invariant()
    def log_explains_state(self) -> None:
        with self.svc.uow as uow:
            patients = list(uow.patients.iter_patients())
        assert [h.patient_id for h, _ in patients] == list(PATIENTS)
        for head, log in patients:
            assert head.state in TRD.state_by_id
            assert [e.version for e in log] == list(range(1, head.version + 1))
            changes = [e for e in log if e.kind in ("transition", "override")]
            state = TRD.initial_state
            for e in changes:  # every change of state has its event, and chains from the last
                assert e.from_state == state and e.to_state != state
                state = e.to_state or ""
            assert state == head.state
            assert check_patient(self.svc, head, log, deep=True) == []

    @invariant()
    def no_silent_dead_end(self) -> None:
        """A patient in a decision state with nothing enabled has an unknown guard, and the
        worklist shows a `decision_needed` item that day naming the missing data (1.1)."""
        for pid in PATIENTS:
            status = self.svc.status(pid)
            if status.state_kind != "decision" or status.enabled:
                continue
            assert any(g.result == "unknown" for g in status.guards), status.guards
            needed = [d for d in status.due if d["item"] == "decision_needed"]
            assert needed and "missing: " in needed[0]["why"]


class SqliteEngineMachine(EngineMachine):
    """The same machine on an in-memory SQLite database (the SQL repository and CAS)."""

    def make_uow(self) -> UnitOfWork:
        self.engine = make_engine("sqlite://")
        init_db(self.engine)  # the migrations: tables and the board's count triggers
        return SqlUnitOfWork(self.engine)

    @invariant()
    def board_counts_are_exact(self) -> None:
        with self.engine.connect() as conn:
            assert count_drift(conn) == []

    def dispose(self) -> None:
        self.engine.dispose()


class RolledSqliteEngineMachine(SqliteEngineMachine):
    """The same on SQLite with the cohort rollup installed before anything is written: its
    counters, kept by triggers through back-dated and same-day moves, stay what the log gives."""

    def make_uow(self) -> UnitOfWork:
        uow = super().make_uow()
        install(self.engine)
        return uow

    @invariant()
    def rollup_is_the_log(self) -> None:
        today = self.clock.today()
        with self.engine.connect() as conn:
            assert rollup_drift(conn, today) == []  # as of today, and over the whole history
            for days in (0, 10, 45):  # recent windows, where the back-dated moves land
                q = CohortQuery(end=today, since=today - dt.timedelta(days=days))
                fast = read_rollup(conn, q)
                assert fast is not None
                assert summary_of(fast, q) == summary_of(count_cohort(conn, q), q)


_fast = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEngine = EngineMachine.TestCase
TestEngine.settings = _fast
TestSqliteEngine = SqliteEngineMachine.TestCase
TestSqliteEngine.settings = settings(_fast, max_examples=25)
TestRolledSqliteEngine = RolledSqliteEngineMachine.TestCase
TestRolledSqliteEngine.settings = settings(_fast, max_examples=25)


def test_the_machine_does_move_patients() -> None:
    """A sanity check that random runs are not all refusals: a scripted run moves."""
    machine = EngineMachine()
    machine.advance("P-1", TRD.triggers_from("initial_trial").index("reassess"), 0)
    assert machine.moves == 1 and machine.current("P-1")[1] == "reassess"
    machine.log_explains_state()
