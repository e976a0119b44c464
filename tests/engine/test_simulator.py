"""The simulator: STAR*D's cumulative remission, determinism, valid records, guard-driven walks,
and persistence that replays cleanly."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable

import pytest
from engine_support import TODAY

from engine.clock import FixedClock
from engine.factlog import rebuild
from engine.services import Services
from engine.simulator import (
    SimParams,
    SimulatedPatient,
    cumulative_remission,
    simulate,
    simulate_cohort,
    simulate_patient,
    summarize,
)
from pathway import Definition, derive, guard_results
from pathway.record import parse_record

STAR_D_STEPS = (0.368, 0.306, 0.137, 0.130)  # reference.md §4.3


def test_the_star_d_preset_meets_star_d_per_step_and_cumulative(trd: Definition) -> None:
    # 1 − (1 − .368)(1 − .306)(1 − .137)(1 − .130) = 67.1% (reference.md §4.3)
    params = SimParams.star_d(end=dt.date(2026, 12, 1))
    summary = summarize(simulate_cohort(params, definition=trd, validate=False))
    assert summary.patients == 10_000 and summary.pseudo_resistance == 0
    for got, expected in zip(summary.step_remission[:4], STAR_D_STEPS, strict=True):
        assert got == pytest.approx(expected, abs=0.02)
    assert summary.cumulative_remission[3] == pytest.approx(0.67, abs=0.02)
    assert set(summary.ended) <= {"follow_up_done", "max_steps"}  # everyone finished
    assert cumulative_remission([], steps=4) == 0.0


def cohort(trd: Definition, n: int = 300, seed: int = 5, **kw: object) -> list[SimulatedPatient]:
    params = SimParams(patients=n, seed=seed, end=TODAY, **kw)  # type: ignore[arg-type]
    return list(simulate_cohort(params, definition=trd))


def test_same_seed_same_cohort_other_seed_another(trd: Definition) -> None:
    params = SimParams(patients=5, seed=9, end=TODAY)
    a = [simulate_patient(i, params=params, definition=trd) for i in range(5)]
    b = [simulate_patient(i, params=params, definition=trd) for i in range(5)]
    assert a == b
    other = SimParams(patients=5, seed=10, end=TODAY)
    assert [simulate_patient(i, params=other, definition=trd) for i in range(5)] != a
    # a patient's story does not depend on how many others are simulated
    bigger = params.model_copy(update={"patients": 50})
    assert list(simulate_cohort(bigger, definition=trd))[:5] == a


def test_records_are_valid_and_rebuilt_exactly_from_the_facts(trd: Definition) -> None:
    for sp in cohort(trd, 200):
        facts = [e.fact for e in sp.events if e.fact is not None]
        rebuilt = parse_record(rebuild(sp.patient_id, sp.header, facts), catalog=trd.catalog)
        assert rebuilt == sp.record
        assert all(e.on <= TODAY for e in sp.events)  # nothing future-dated
        assert [e.on for e in sp.events] == sorted(e.on for e in sp.events)


def test_every_move_is_one_the_guards_allowed_on_its_day(trd: Definition) -> None:
    """Replay each story: at each transition, the facts known then make its guard true."""
    moves = overrides = 0
    for sp in cohort(trd, 150, seed=8):
        known: list[dict[str, object]] = []
        state = trd.initial_state
        for e in sp.events:
            if e.fact is not None:
                known.append(e.fact)
                continue
            assert e.from_state == state
            if e.kind == "override":  # lost to follow-up: closed with a reason, not a guard
                assert e.reason_code == "patient_preference" and e.note
                overrides += 1
            else:
                record = parse_record(rebuild(sp.patient_id, sp.header, known))
                facts = derive(record, as_of=e.on, params=trd.parameters, catalog=trd.catalog)
                taken = next(g for g in guard_results(trd, facts, state) if g.trigger == e.trigger)
                assert taken.result == "true" and taken.to == e.to_state
                assert taken == e.guard
                moves += 1
            state = e.to_state or state
        assert state == sp.state
    assert moves > 500 and overrides > 0


def test_pseudo_resistance_shows_up_in_the_walks(trd: Definition) -> None:
    triggers = Counter(
        e.trigger for sp in cohort(trd, 400, seed=1) for e in sp.events if e.kind == "transition"
    )
    for trigger in (
        "reassess",
        "complete",
        "review",
        "resolve",
        "remit",
        "augment",
        "switch",
        "exit",
        "relapse",
    ):
        assert triggers[trigger] > 0, trigger


def test_without_pseudo_resistance_no_detours(trd: Definition) -> None:
    params = dict(dropout=0.0, intolerance=0.0, life_threatening=0.0)
    clean = SimParams(patients=300, seed=2, end=TODAY, **params).without_pseudo_resistance()  # type: ignore[arg-type]
    triggers = Counter(
        e.trigger for sp in simulate_cohort(clean, definition=trd) for e in sp.events
    )
    assert triggers["complete"] == triggers["review"] == triggers["escalate"] == 0


def test_incomplete_first_trials_are_completed(trd: Definition) -> None:
    firsts = Counter()
    for sp in cohort(
        trd,
        150,
        seed=4,
        incomplete_trial=1.0,
        bipolar_features=0.0,
        medical_contributor=0.0,
        substance_use=0.0,
        active_stressor=0.0,
    ):
        moves = [e.trigger for e in sp.events if e.kind == "transition"]
        if len(moves) >= 2:
            firsts[moves[1]] += 1
    assert set(firsts) <= {"complete", "escalate"} and firsts["complete"] > 50


def test_summary_counts(trd: Definition) -> None:
    patients = cohort(trd, 120)
    s = summarize(patients)
    assert s.patients == 120 and sum(s.by_state.values()) == 120
    assert s.events == sum(len(p.events) + 1 for p in patients)
    assert list(s.cumulative_remission) == sorted(s.cumulative_remission)


def test_persisted_cohort_replays_cleanly(
    sqlite_url: str, make_services: Callable[..., Services], trd: Definition
) -> None:
    svc = make_services(sqlite_url, clock=FixedClock(TODAY))
    report = simulate(svc, SimParams(patients=120, seed=3, end=TODAY), progress=False)
    assert report.patients == 120 and report.summary is not None
    assert report.events == report.summary.events
    check = svc.verify(deep=True)
    assert check.patients == 120 and check.events == report.events
    assert check.mismatches == []
    one = next(iter(simulate_cohort(SimParams(patients=1, seed=3, end=TODAY), definition=trd)))
    assert svc.record_of(one.patient_id) == one.record
    assert svc.load(one.patient_id).head.state == one.state


def test_simulation_end_cannot_be_in_the_future(
    sqlite_url: str, make_services: Callable[..., Services]
) -> None:
    from engine.errors import FutureDate

    svc = make_services(sqlite_url, clock=FixedClock(TODAY))
    with pytest.raises(FutureDate):
        simulate(svc, SimParams(patients=2, end=TODAY + dt.timedelta(days=1)), progress=False)


def test_stored_guards_are_what_the_services_write(
    sqlite_url: str, make_services: Callable[..., Services]
) -> None:
    import json

    import sqlalchemy as sa

    from engine.enrolling import dumps
    from engine.store.tables import event_table

    svc = make_services(sqlite_url, clock=FixedClock(TODAY))
    simulate(svc, SimParams(patients=20, seed=4, end=TODAY), progress=False)
    ev = event_table()
    with svc.uow as uow:
        rows = uow.connection.execute(  # type: ignore[attr-defined]
            sa.select(ev.c.payload).where(ev.c.kind == "transition").limit(50)
        ).all()
    assert rows
    for (payload,) in rows:
        data = json.loads(payload)
        assert dumps(data) == payload  # byte for byte what `advance` would have stored


def test_simulate_command(sqlite_url: str, tmp_path: object) -> None:
    import typer
    from typer.testing import CliRunner

    from engine.cli import simulate

    app = typer.Typer()
    simulate.register(app)
    app.command("noop")(lambda: None)  # a group, so the command is addressed by name
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--patients",
            "30",
            "--seed",
            "1",
            "--db",
            sqlite_url,
            "--end",
            TODAY.isoformat(),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = __import__("json").loads(result.stdout)
    assert data["patients"] == 30 and data["summary"]["patients"] == 30
    bad = CliRunner().invoke(app, ["simulate", "--db", sqlite_url, "--end", "2999-01-01"])
    assert bad.exit_code == 2


def test_simulating_twice_into_one_database_is_refused_cleanly(
    sqlite_url: str, make_services: Callable[..., Services]
) -> None:
    from pathway.errors import PathwayError

    svc = make_services(sqlite_url, clock=FixedClock(TODAY))
    simulate(svc, SimParams(patients=5, seed=1, end=TODAY), progress=False)
    with pytest.raises(PathwayError, match="already enrolled"):
        simulate(svc, SimParams(patients=5, seed=2, end=TODAY), progress=False)
    other = SimParams(patients=5, seed=2, end=TODAY, id_prefix="SIM2-")
    assert simulate(svc, other, progress=False).patients == 5


def test_simulate_prints_remission_per_step_next_to_star_d(sqlite_url: str) -> None:
    from typer.testing import CliRunner

    from engine.cli import app

    run = CliRunner().invoke
    plain = run(app, ["simulate", "--patients", "60", "--seed", "3", "--db", sqlite_url])
    assert plain.exit_code == 0, plain.stderr
    assert "  STAR*D          36.8%    30.6%    13.7%    13.0%    67.1%" in plain.stdout
    assert "lower than STAR*D because this is a clinic" in plain.stdout
    preset = ["simulate", "--patients", "60", "--preset", "star-d", "--prefix", "SD-"]
    star = run(app, [*preset, "--db", sqlite_url])
    assert star.exit_code == 0, star.stderr
    assert "  simulated " in star.stdout and "lower than" not in star.stdout
    bad = run(app, ["simulate", "--preset", "nope", "--db", sqlite_url])
    assert bad.exit_code == 2 and "--preset" in bad.stderr and "star-d" in bad.stderr
