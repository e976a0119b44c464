"""The worklist: each item's rule and threshold, its order, `next_due_on`, and the database view."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from engine_support import TODAY

from engine.clock import FixedClock
from engine.queries.board import board
from engine.queries.worklist import worklist
from engine.services import Services
from engine.simulator import SimParams, simulate
from pathway import Definition, Facts, derive
from pathway.due import DueItem, due_items, next_due_on, sort_key
from pathway.record import parse_record

Record = dict[str, Any]
D = dt.date.fromisoformat


def days_before(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


@pytest.fixture
def items(trd: Definition, facts_of: Callable[..., Facts]) -> Callable[..., list[DueItem]]:
    """Factory: the due items of a record dict in a state entered `entered` days before TODAY."""

    def run(record: Record, state: str, entered: int, as_of: dt.date = TODAY) -> list[DueItem]:
        return due_items(
            state,
            entered_state_on=TODAY - dt.timedelta(days=entered),
            facts=facts_of(record, as_of),
            definition=trd,
            as_of=as_of,
            patient=record["id"],
        )

    return run


def kinds(found: list[DueItem]) -> list[str]:
    return [i.item for i in found]


@pytest.fixture
def on_drug(make_record: Callable[..., Record], make_trial: Callable[..., Any]) -> Record:
    """Sertraline 100 mg/day for 30 days, a score at the start and one yesterday."""
    start = days_before(30)
    return make_record(
        trials=[make_trial(start=start)],
        measurements=[
            {"date": start, "instrument": "PHQ-9", "score": 18},
            {"date": days_before(1), "instrument": "PHQ-9", "score": 15},
        ],
    )


# -- urgent risk ----------------------------------------------------------------------------


def test_life_threatening_risk_is_urgent_and_first(on_drug: Record, items: Callable) -> None:
    on_drug["risk"] = {"date": days_before(2), "suicidality": "active", "catatonia": True}
    on_drug["measurements"] = on_drug["measurements"][:1]  # also a measurement overdue
    found = items(on_drug, "initial_trial", entered=40)
    assert kinds(found) == ["urgent_risk", "measurement_overdue"]
    urgent = found[0]
    assert urgent.due_on == D(days_before(2))
    assert "active suicidality" in urgent.why and "catatonia" in urgent.why
    # the move in the words of the evaluation-due items: the trigger and the state's label
    assert "'escalate' → Neurostimulation is enabled" in urgent.why
    assert urgent.sources and "NICE" in urgent.sources[0]


def test_risk_already_acted_on_is_not_urgent(on_drug: Record, items: Callable) -> None:
    # in neurostimulation since after the risk assessment: escalation happened, nothing enabled
    on_drug["risk"] = {"date": days_before(10), "suicidality": "active"}
    assert "urgent_risk" not in kinds(items(on_drug, "neurostimulation", entered=5))
    # a new life-threatening assessment while there is urgent again
    assert "urgent_risk" in kinds(items(on_drug, "neurostimulation", entered=20))


def test_no_risk_no_urgent_item(on_drug: Record, items: Callable) -> None:
    on_drug["risk"] = {"date": days_before(2), "suicidality": "passive"}
    assert "urgent_risk" not in kinds(items(on_drug, "initial_trial", entered=30))


# -- evaluation due -------------------------------------------------------------------------


@pytest.mark.parametrize(("days_on_drug", "due"), [(41, False), (42, True), (90, True)])
def test_evaluation_due_when_the_window_is_reached(
    make_record: Callable, make_trial: Callable, items: Callable, days_on_drug: int, due: bool
) -> None:
    start = days_before(days_on_drug)
    rec = make_record(
        trials=[make_trial(start=start)],
        measurements=[{"date": days_before(3), "instrument": "PHQ-9", "score": 12}],
    )
    found = [
        i for i in items(rec, "initial_trial", entered=days_on_drug) if i.item != "not_improving"
    ]
    assert ("evaluation_due" in kinds(found)) is due
    if due:
        item = next(i for i in found if i.item == "evaluation_due")
        assert item.due_on == D(start) + dt.timedelta(weeks=6)
        assert "6 weeks at effective dose reached" in item.why
        assert "'reassess' → Reassess is enabled" in item.why


def test_a_trial_that_ended_is_due_for_evaluation(
    make_record: Callable, make_trial: Callable, items: Callable
) -> None:
    rec = make_record(
        trials=[make_trial(start=days_before(20), end=days_before(5), stop_reason="side_effects")],
        measurements=[{"date": days_before(5), "instrument": "PHQ-9", "score": 17}],
    )
    found = items(rec, "initial_trial", entered=20)
    assert kinds(found) == ["evaluation_due"]
    assert found[0].due_on == D(days_before(5))
    assert "ended" in found[0].why


def test_relapse_in_maintenance_is_due_for_evaluation(
    make_record: Callable, make_trial: Callable, items: Callable
) -> None:
    rec = make_record(
        trials=[make_trial(start=days_before(200))],
        measurements=[{"date": days_before(3), "instrument": "PHQ-9", "score": 14}],
    )
    found = items(rec, "maintenance", entered=100)
    assert kinds(found) == ["evaluation_due"]
    assert "relapse at ≥10" in found[0].why


# -- decision pending -----------------------------------------------------------------------


@pytest.mark.parametrize("state", ["reassess", "differential_review"])
@pytest.mark.parametrize(("days", "pending"), [(14, False), (15, True)])
def test_decision_pending_longer_than_the_parameter(
    on_drug: Record, items: Callable, state: str, days: int, pending: bool
) -> None:
    on_drug["contributors"] = [{"kind": "stressor", "status": "active", "date": days_before(40)}]
    found = items(on_drug, state, entered=days)
    assert ("decision_pending" in kinds(found)) is pending
    if pending:
        item = next(i for i in found if i.item == "decision_pending")
        # the first day it shows: past the 14 days the decision was due within
        assert item.due_on == TODAY - dt.timedelta(days=days) + dt.timedelta(days=15)
        since = (TODAY - dt.timedelta(days=days)).isoformat()
        assert f"since {since}" in item.why and "decision_pending_days" in item.why
        assert "Team rule" in item.sources[0]


def test_decision_pending_reads_the_definition_parameter(
    on_drug: Record, trd: Definition, facts_of: Callable
) -> None:
    p = trd.parameters
    changed = p.decision_pending_days.model_copy(update={"value": 3, "source": "local policy"})
    defn = trd.model_copy(
        update={"parameters": p.model_copy(update={"decision_pending_days": changed})}
    )
    found = due_items(
        "reassess",
        entered_state_on=TODAY - dt.timedelta(days=4),
        facts=facts_of(on_drug),
        definition=defn,
    )
    assert kinds(found) == ["decision_pending"]
    assert found[0].sources == ("local policy",)


# -- measurement overdue ----------------------------------------------------------------------


@pytest.mark.parametrize(("last", "overdue"), [(27, False), (28, True), (60, True)])
def test_measurement_overdue_after_the_parameter(
    make_record: Callable, make_trial: Callable, items: Callable, last: int, overdue: bool
) -> None:
    rec = make_record(
        trials=[make_trial(start=days_before(35), mg=25)],  # below the effective dose
        measurements=[{"date": days_before(last), "instrument": "PHQ-9", "score": 18}],
    )
    found = items(rec, "initial_trial", entered=70)
    assert ("measurement_overdue" in kinds(found)) is overdue
    if overdue:
        item = next(i for i in found if i.item == "measurement_overdue")
        assert item.due_on == D(days_before(last)) + dt.timedelta(days=28)
        assert "measurement_overdue_days" in item.why


def test_measurement_clock_starts_on_entering_the_treatment_state(
    make_record: Callable, make_trial: Callable, items: Callable
) -> None:
    rec = make_record(
        trials=[make_trial(start=days_before(10), mg=25)],
        measurements=[{"date": days_before(90), "instrument": "PHQ-9", "score": 18}],
    )
    assert "measurement_overdue" not in kinds(items(rec, "switch", entered=10))
    found = items(rec, "switch", entered=30)
    assert kinds(found) == ["measurement_overdue"]
    assert "no score since entering the state" in found[0].why


def test_no_measurement_item_outside_treatment_states(on_drug: Record, items: Callable) -> None:
    on_drug["measurements"] = on_drug["measurements"][:1]
    assert "measurement_overdue" not in kinds(items(on_drug, "neurostimulation", entered=60))


# -- not improving ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weeks", "latest", "flagged"),
    [
        (4, 17, True),  # 15% fall after 4 weeks at an effective dose
        (5, 17, True),
        (10, 18, True),  # still no early improvement later on
        (5, 16, False),  # 20%: early improvement
        (3, 19, False),  # too early to tell
    ],
)
def test_not_improving_is_no_early_improvement_by_week_4(
    make_record: Callable,
    make_trial: Callable,
    items: Callable,
    weeks: int,
    latest: int,
    flagged: bool,
) -> None:
    # 1.1: CANMAT §Q.7.d, <20% by week 4 at an effective dose (1.0 waited for 8–12 weeks, <50%)
    start = days_before(7 * weeks)
    rec = make_record(
        trials=[make_trial(drug="sertraline", start=start, role="antidepressant")],
        measurements=[
            {"date": start, "instrument": "PHQ-9", "score": 20},
            {"date": days_before(2), "instrument": "PHQ-9", "score": latest},
        ],
    )
    found = items(rec, "switch", entered=7 * weeks)
    assert ("not_improving" in kinds(found)) is flagged
    if flagged:
        item = next(i for i in found if i.item == "not_improving")
        assert item.due_on == D(start) + dt.timedelta(weeks=4)
        assert f"PHQ-9 20 → {latest}" in item.why and "psychiatric case review" in item.label
        assert "early_improvement" in item.why and item.sources[0].startswith("CANMAT 2023")


def test_not_improving_counts_weeks_at_an_effective_dose_only(
    make_record: Callable, make_trial: Callable, items: Callable
) -> None:
    # five weeks on sertraline, but only the last two at an effective dose (50 mg)
    start = days_before(35)
    rec = make_record(
        trials=[make_trial(start=start, doses=[(start, 25), (days_before(14), 100)])],
        measurements=[
            {"date": start, "instrument": "PHQ-9", "score": 20},
            {"date": days_before(1), "instrument": "PHQ-9", "score": 19},
        ],
    )
    assert "not_improving" not in kinds(items(rec, "complete_trial", entered=35))


def test_not_improving_uses_the_outcomes_baseline_rule(
    make_record: Callable, make_trial: Callable, items: Callable
) -> None:
    # a score on day 14 is no baseline for the outcome (days 0–13 only), so none for the
    # worklist either (1.0's worklist took it: one rule, one function now)
    start = days_before(42)
    rec = make_record(
        trials=[make_trial(start=start)],
        measurements=[
            {"date": days_before(28), "instrument": "PHQ-9", "score": 20},
            {"date": days_before(1), "instrument": "PHQ-9", "score": 19},
        ],
    )
    assert "not_improving" not in kinds(items(rec, "switch", entered=42))
    rec["measurements"][0]["date"] = days_before(29)  # day 13: a baseline
    assert "not_improving" in kinds(items(rec, "switch", entered=42))


def test_not_improving_measures_from_the_steps_own_baseline(
    make_record: Callable, make_trial: Callable, items: Callable
) -> None:
    # the patient improved a lot on the first drug; the second step starts from 8
    first, second = days_before(200), days_before(63)
    rec = make_record(
        trials=[
            make_trial(start=first, end=second, stop_reason="partial_response"),
            make_trial(drug="bupropion", start=second, mg=300),
        ],
        measurements=[
            {"date": first, "instrument": "PHQ-9", "score": 22},
            {"date": second, "instrument": "PHQ-9", "score": 8},
            {"date": days_before(1), "instrument": "PHQ-9", "score": 7},
        ],
    )
    found = items(rec, "switch", entered=63)
    assert "not_improving" in kinds(found)
    assert "PHQ-9 8 → 7" in next(i for i in found if i.item == "not_improving").why


# -- decision needed (1.1) ---------------------------------------------------------------------


def test_reassess_with_nothing_enabled_is_a_decision_needed_the_same_day(
    make_record: Callable, make_trial: Callable, items: Callable, trd: Definition
) -> None:
    # an adequate trial whose outcome is unknown (no scores): augment and switch are unknown
    rec = make_record(trials=[make_trial(start=days_before(120))])
    found = items(rec, "reassess", entered=0)
    assert kinds(found) == ["decision_needed"]
    [item] = found
    assert item.due_on == TODAY and item.overdue_days == 0
    assert "(holds up remit, optimize, augment, switch)" in item.why
    assert "no baseline and end scores and no stop reason" in item.why
    record = parse_record(rec, catalog=trd.catalog)
    assert (
        next_due_on(record, state="reassess", entered_state_on=TODAY, definition=trd, as_of=TODAY)
        == TODAY
    )


def test_no_decision_needed_while_a_move_is_enabled(
    make_record: Callable, make_trial: Callable, items: Callable
) -> None:
    rec = make_record(trials=[make_trial(start=days_before(20))])  # in progress: complete
    assert "decision_needed" not in kinds(items(rec, "reassess", entered=0))


# -- maintenance follow-up ------------------------------------------------------------------


@pytest.mark.parametrize(("last", "due"), [(89, False), (90, True)])
def test_maintenance_follow_up(
    make_record: Callable, make_trial: Callable, items: Callable, last: int, due: bool
) -> None:
    rec = make_record(
        trials=[make_trial(start=days_before(300))],
        measurements=[{"date": days_before(last), "instrument": "PHQ-9", "score": 3}],
    )
    found = items(rec, "maintenance", entered=200)
    assert kinds(found) == (["maintenance_followup"] if due else [])
    if due:
        assert "maintenance_followup_days" in found[0].why


def test_nothing_is_due_in_a_final_state(on_drug: Record, items: Callable) -> None:
    on_drug["risk"] = {"date": days_before(1), "suicidality": "active"}
    assert items(on_drug, "exited", entered=400) == []


def test_items_are_sorted_most_urgent_first() -> None:
    def item(kind: str, due: str, pid: str) -> DueItem:
        return DueItem(
            patient=pid,
            state="s",
            item=kind,
            label=kind,
            due_on=D(due),  # type: ignore[arg-type]
            overdue_days=0,
            why="",
        )

    got = sorted(
        [
            item("measurement_overdue", "2026-01-01", "A"),
            item("urgent_risk", "2026-05-01", "B"),
            item("decision_pending", "2026-03-01", "C"),
            item("decision_pending", "2026-02-01", "D"),
        ],
        key=sort_key,
    )
    assert [i.patient for i in got] == ["B", "D", "C", "A"]


# -- next_due_on ------------------------------------------------------------------------------


SCENARIOS = {
    "titrating": ("initial_trial", 3, [("2026-05-29", 25), ("2026-06-10", 100)], [(-3, 18)]),
    "on dose": ("switch", 10, [("2026-05-22", 100)], [(-10, 18), (-1, 16)]),
    "deciding": ("reassess", 2, [("2026-04-01", 100)], [(-60, 18), (-2, 15)]),
    "in remission": ("maintenance", 30, [("2025-12-01", 100)], [(-30, 3)]),
    "no scores": ("augment", 0, [("2026-05-01", 100)], []),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_next_due_on_is_the_first_day_with_an_item(name: str, trd: Definition) -> None:
    state, entered, doses, scores = SCENARIOS[name]
    start = doses[0][0]
    data = {
        "id": "N-1",
        "trials": [
            {
                "drug": "sertraline",
                "start": start,
                "end": None,
                "doses": [{"from": f, "mg_per_day": mg} for f, mg in doses],
            }
        ],
        "measurements": [
            {"date": (TODAY + dt.timedelta(days=d)).isoformat(), "instrument": "PHQ-9", "score": s}
            for d, s in scores
        ],
    }
    # doses dated after TODAY are not yet known to the record
    data["trials"][0]["doses"] = [d for d in data["trials"][0]["doses"] if D(d["from"]) <= TODAY]
    record = parse_record(data)
    entered_on = TODAY - dt.timedelta(days=entered)
    expected = None
    for ahead in range(0, 200):
        day = TODAY + dt.timedelta(days=ahead)
        facts = derive(record, as_of=day, params=trd.parameters, catalog=trd.catalog)
        found = due_items(state, entered_state_on=entered_on, facts=facts, definition=trd)
        if found:
            expected = min(i.due_on for i in found) if ahead == 0 else day
            break
    got = next_due_on(record, state=state, entered_state_on=entered_on, definition=trd, as_of=TODAY)
    assert got == expected


# -- from the database --------------------------------------------------------------------------


@pytest.fixture
def simulated(sqlite_url: str, make_services: Callable[..., Services]) -> Services:
    svc = make_services(sqlite_url, clock=FixedClock(TODAY))
    simulate(svc, SimParams(patients=150, seed=11, end=TODAY), progress=False)
    return svc


def test_worklist_from_the_database_matches_the_rules(simulated: Services) -> None:
    result = worklist(simulated, as_of=TODAY)
    assert result.items, "a simulated clinic always has something due"
    assert list(result.items) == sorted(result.items, key=sort_key)
    assert sum(result.counts.values()) == len(result.items)
    # every patient with an item, and only those, is counted as due on the board
    assert result.patients_with_items == board(simulated, as_of=TODAY).with_due_item
    for it in result.items[:20]:
        status = simulated.status(it.patient, as_of=TODAY)
        assert it.item in [d["item"] for d in status.due]


def test_worklist_limit_and_state_filter(simulated: Services) -> None:
    full = worklist(simulated, as_of=TODAY)
    top = worklist(simulated, as_of=TODAY, limit=5)
    assert top.items == full.items[:5] and top.counts == full.counts
    in_reassess = worklist(simulated, as_of=TODAY, state="reassess")
    assert {i.state for i in in_reassess.items} <= {"reassess"}
    assert len(in_reassess.items) == sum(1 for i in full.items if i.state == "reassess")


def test_worklist_and_board_commands(simulated: Services, sqlite_url: str) -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from engine.cli import board as board_module
    from engine.cli import worklist as worklist_module

    app = typer.Typer()
    worklist_module.register(app)
    board_module.register(app)
    runner = CliRunner()
    day = TODAY.isoformat()
    got = runner.invoke(app, ["worklist", "--db", sqlite_url, "--as-of", day, "--json"])
    assert got.exit_code == 0, got.output
    assert len(json.loads(got.stdout)["items"]) == len(worklist(simulated, as_of=TODAY).items)
    table = runner.invoke(app, ["worklist", "--db", sqlite_url, "--as-of", day, "--limit", "3"])
    assert table.exit_code == 0 and "Worklist as of 2026-06-01" in table.stdout
    got = runner.invoke(app, ["board", "--db", sqlite_url, "--as-of", day, "--json"])
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout)["patients"] == 150
    table = runner.invoke(app, ["board", "--db", sqlite_url, "--as-of", day, "--state", "reassess"])
    assert table.exit_code == 0 and "Reassess" in table.stdout
    bad = runner.invoke(app, ["board", "--db", sqlite_url, "--as-of", "yesterday"])
    assert bad.exit_code == 2 and "--as-of" in bad.output


def test_demo_prints_board_worklist_and_a_history(tmp_path: Any) -> None:
    from rich.console import Console

    from engine.cli.demo_run import run_demo

    console = Console(record=True, width=160)
    result = run_demo(
        None, tmp_path, patients=120, seed=3, end=TODAY, console=console, progress=False
    )
    text = console.export_text()
    assert result.simulation.patients == 120 and result.patient is not None
    assert "Board as of 2026-06-01" in text and "Worklist as of 2026-06-01" in text
    assert f"History of {result.patient}" in text
    assert "true: " in text  # each move with the guard results that allowed it
    again = run_demo(
        None, tmp_path, patients=120, seed=3, end=TODAY, console=console, progress=False
    )
    assert again.board == result.board  # a fresh database each time, same seed, same board


def test_demo_never_deletes_a_database_it_is_pointed_at(tmp_path: Any) -> None:
    """`demo --db FILE` with patients in it is refused (as on PostgreSQL), not wiped; only the
    demo's own file is made anew."""
    import json
    from pathlib import Path

    from typer.testing import CliRunner

    from engine.cli import app

    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'clinic.db'}"
    record = str(Path(__file__).parents[2] / "examples" / "04-two-adequate-failures.json")
    assert runner.invoke(app, ["init-db", "--db", db]).exit_code == 0
    enrolled = runner.invoke(
        app, ["enroll", "EX-04", "--record", record, "--db", db], env={"USER": "tester"}
    )
    assert enrolled.exit_code == 0, enrolled.stderr
    got = runner.invoke(app, ["demo", "--db", db, "--patients", "20", "--out", str(tmp_path)])
    assert got.exit_code == 2
    assert "the demo needs an empty database" in got.stderr and "has 1 patients" in got.stderr
    status = runner.invoke(app, ["status", "EX-04", "--db", db, "--json"])
    assert status.exit_code == 0 and json.loads(status.stdout)["patient_id"] == "EX-04"


def test_the_commands_item_kinds_are_the_rules_kinds_in_priority_order() -> None:
    from engine.cli.worklist import KINDS
    from pathway.due import LABELS, PRIORITY

    assert tuple(PRIORITY) == KINDS == tuple(LABELS)
    assert sorted(PRIORITY.values()) == list(PRIORITY.values())


def test_demo_runs_as_on_its_end_day_and_refuses_a_future_one(tmp_path: Any) -> None:
    """`demo --end D` is the clinic as on D (the same seed and day give the same report); a day
    after today is refused before anything is made (it used to end in an internal error)."""
    from typer.testing import CliRunner

    from engine.cli import app

    runner = CliRunner()
    args = ["demo", "--patients", "30", "--end", "2026-06-01"]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    again = runner.invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert first.exit_code == 0, first.stderr
    assert "Worklist as of 2026-06-01" in first.stdout
    assert "Board as of 2026-06-01" in first.stdout

    def report(out: str) -> list[str]:  # the run's folder is its own
        return [line for line in out.splitlines() if "/a" not in line and "/b" not in line]

    assert "events/s" not in first.stdout  # the time taken goes to stderr
    assert "events/s" in first.stderr

    assert report(first.stdout) == report(again.stdout)
    future = runner.invoke(app, ["demo", "--end", "2999-01-01", "--out", str(tmp_path / "c")])
    assert future.exit_code == 2
    assert "--end 2999-01-01 is in the future" in future.stderr
    assert not (tmp_path / "c").exists()
