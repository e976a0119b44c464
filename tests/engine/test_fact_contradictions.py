"""New facts that contradict the record are refused at write time (nothing written), while a
stored log that already holds such a sequence still replays: a second end of a trial, a dose after
a trial's end, a duplicate trial start."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_support import TODAY, dump, snapshot
from typer.testing import CliRunner

from engine import factlog
from engine.cli import app
from engine.services import Services
from pathway.errors import RecordError

Record = dict[str, Any]


def days_ago(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


ENDED, ENDED_START = days_ago(60), days_ago(120)
ONGOING_START = days_ago(50)


def record() -> Record:
    """Trial 0: sertraline, ended 60 days ago for a partial response; trial 1: venlafaxine,
    ongoing since 50 days ago."""
    return {
        "id": "P-0001",
        "sex": "female",
        "birth_year": 1980,
        "episode_start": "2025-12-01",
        "severity": "moderate",
        "trials": [
            {
                "drug": "sertraline",
                "start": ENDED_START,
                "end": ENDED,
                "doses": [
                    {"from": ENDED_START, "mg_per_day": 100},
                    {"from": days_ago(90), "mg_per_day": 150},
                ],
                "adherence": 0.9,
                "stop_reason": "partial_response",
            },
            {
                "drug": "venlafaxine",
                "start": ONGOING_START,
                "doses": [{"from": ONGOING_START, "mg_per_day": 150}],
            },
        ],
        "measurements": [{"date": ENDED_START, "instrument": "PHQ-9", "score": 18}],
    }


@pytest.fixture
def enrolled(svc: Services) -> Services:
    svc.enroll("P-0001", actor="dr-a", record=record(), effective=TODAY)
    return svc


def refused(svc: Services, facts: Any) -> RecordError:
    """Record `facts`, expecting a refusal that leaves the version and the log unchanged."""
    before, version = snapshot(svc), svc.status("P-0001").version
    with pytest.raises(RecordError) as info:
        svc.record("P-0001", facts=facts, actor="dr-b")
    assert snapshot(svc) == before
    assert svc.status("P-0001").version == version
    return info.value


# -- (a) a trial ends once ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fact", "loc", "value", "says"),
    [
        (
            {"fact": "trial_ended", "trial": 0, "end": days_ago(55)},
            "end",
            days_ago(55),
            f"would change its end from {ENDED} to {days_ago(55)} and its stop reason "
            "from partial_response to none",
        ),
        (
            {"fact": "trial_ended", "trial": 0, "end": ENDED},
            "stop_reason",
            None,
            "would change its stop reason from partial_response to none",
        ),
        (
            {"fact": "trial_ended", "trial": 0, "end": ENDED, "stop_reason": "side_effects"},
            "stop_reason",
            "side_effects",
            "would change its stop reason from partial_response to side_effects",
        ),
        (  # an exact repeat (a retried request) is refused too: no fact is idempotent
            {"fact": "trial_ended", "trial": 0, "end": ENDED, "stop_reason": "partial_response"},
            "end",
            ENDED,
            "would record the same end again",
        ),
    ],
    ids=["other end", "stop reason dropped", "other stop reason", "exact repeat"],
)
def test_a_second_trial_ended_is_refused(
    enrolled: Services, fact: Record, loc: str, value: str | None, says: str
) -> None:
    err = refused(enrolled, fact)
    [issue] = err.issues
    assert (issue.loc, issue.value) == (loc, value)
    assert issue.message.startswith(
        f"trial 0 (sertraline, started {ENDED_START}) already ended on {ENDED} "
        "(stop reason partial_response); a second trial_ended "
    )
    assert says in issue.message
    assert err.source == "patient P-0001"
    trial = enrolled.record_of("P-0001").trials[0]
    assert (trial.end, trial.stop_reason) == (dt.date.fromisoformat(ENDED), "partial_response")


def test_a_trial_ended_twice_in_one_batch_is_refused_whole(enrolled: Services) -> None:
    err = refused(
        enrolled,
        [
            {"fact": "measurement", "date": days_ago(1), "instrument": "PHQ-9", "score": 12},
            {"fact": "trial_ended", "trial": 1, "end": days_ago(2), "stop_reason": "remission"},
            {"fact": "trial_ended", "trial": 1, "end": days_ago(1)},
        ],
    )
    [issue] = err.issues
    assert (issue.loc, issue.value) == ("[2].end", days_ago(1))
    assert f"trial 1 (venlafaxine, started {ONGOING_START}) already ended on" in issue.message


# -- (b) no dose after the end ------------------------------------------------------------


def test_a_dose_after_the_trials_end_is_refused(enrolled: Services) -> None:
    err = refused(
        enrolled, {"fact": "dose_changed", "trial": 0, "from": days_ago(30), "mg_per_day": 200}
    )
    [issue] = err.issues
    assert (issue.loc, issue.value) == ("from", days_ago(30))
    assert issue.message == (
        f"trial 0 (sertraline, started {ENDED_START}) ended on {ENDED}; "
        f"a dose_changed from {days_ago(30)} would be after its end"
    )


def test_a_dose_after_an_end_recorded_in_the_same_batch_is_refused(enrolled: Services) -> None:
    err = refused(
        enrolled,
        [
            {"fact": "trial_ended", "trial": 1, "end": days_ago(10)},
            {"fact": "dose_changed", "trial": 1, "from": days_ago(5), "mg_per_day": 225},
        ],
    )
    assert [(i.loc, i.value) for i in err.issues] == [("[1].from", days_ago(5))]


# -- (c) no duplicate trial ---------------------------------------------------------------


@pytest.mark.parametrize("drug", ["venlafaxine", "Effexor", "sertraline"])
def test_a_trial_started_identical_to_one_on_record_is_refused(
    enrolled: Services, drug: str
) -> None:
    index, start = (0, ENDED_START) if drug == "sertraline" else (1, ONGOING_START)
    generic = "sertraline" if drug == "sertraline" else "venlafaxine"
    err = refused(
        enrolled, {"fact": "trial_started", "drug": drug, "start": start, "mg_per_day": 75.0}
    )
    [issue] = err.issues
    assert (issue.loc, issue.value) == ("start", start)
    assert issue.message == (
        f"trial {index} ({generic}, antidepressant) already started on {start}; a second "
        "trial_started with the same drug, start and role would be a duplicate trial"
    )
    assert len(enrolled.record_of("P-0001").trials) == 2


def test_a_retried_trial_started_is_refused(enrolled: Services) -> None:
    fact = {"fact": "trial_started", "drug": "bupropion", "start": days_ago(3), "mg_per_day": 150.0}
    done = enrolled.record("P-0001", facts=fact, actor="dr-b")
    err = refused(enrolled, fact)
    assert err.issues[0].loc == "start" and "trial 2 (bupropion" in err.issues[0].message
    assert enrolled.status("P-0001").version == done.version
    assert len(enrolled.record_of("P-0001").trials) == 3


def test_a_duplicate_within_one_batch_is_refused(enrolled: Services) -> None:
    fact = {"fact": "trial_started", "drug": "bupropion", "start": days_ago(3), "mg_per_day": 150.0}
    err = refused(enrolled, [fact, fact])
    assert [(i.loc, i.value) for i in err.issues] == [("[1].start", days_ago(3))]


# -- what stays allowed -------------------------------------------------------------------


def test_legitimate_facts_are_still_recorded(enrolled: Services) -> None:
    done = enrolled.record(
        "P-0001",
        facts=[
            # a dose step back-filled inside the ended trial
            {"fact": "dose_changed", "trial": 0, "from": days_ago(70), "mg_per_day": 200},
            # the same drug again, from another date or in another role
            {
                "fact": "trial_started",
                "drug": "sertraline",
                "start": days_ago(20),
                "mg_per_day": 50,
            },
            {
                "fact": "trial_started",
                "drug": "lithium",
                "role": "augmentation",
                "start": days_ago(20),
                "mg_per_day": 600.0,
            },
            {"fact": "trial_ended", "trial": 3, "end": days_ago(4), "stop_reason": "side_effects"},
        ],
        actor="dr-b",
    )
    assert [e.fact for e in done.entries] == [
        "dose_changed",
        "trial_started",
        "trial_started",
        "trial_ended",
    ]
    ended = enrolled.record(
        "P-0001",
        facts={"fact": "trial_ended", "trial": 1, "end": days_ago(1), "stop_reason": "remission"},
        actor="dr-b",
    )
    assert ended.version == done.version + 1
    trials = enrolled.record_of("P-0001").trials
    assert (trials[1].end, trials[1].stop_reason) == (TODAY - dt.timedelta(days=1), "remission")
    assert (trials[3].end, trials[3].stop_reason) == (TODAY - dt.timedelta(days=4), "side_effects")
    assert len(trials[0].doses) == 3 and trials[0].end == dt.date.fromisoformat(ENDED)


# -- old logs still replay ----------------------------------------------------------------


def test_replay_does_not_check_a_stored_log() -> None:
    payloads = [
        {"fact": "trial_started", "drug": "sertraline", "start": "2026-01-05", "mg_per_day": 50},
        {"fact": "trial_started", "drug": "sertraline", "start": "2026-01-05", "mg_per_day": 50},
        {"fact": "trial_ended", "trial": 0, "end": "2026-03-01", "stop_reason": "side_effects"},
        {"fact": "trial_ended", "trial": 0, "end": "2026-03-05"},
        {"fact": "dose_changed", "trial": 0, "from": "2026-03-04", "mg_per_day": 100},
    ]
    doc = factlog.rebuild("P-0001", factlog.header_of(None), payloads)
    first, second = doc["trials"]
    assert (first["end"], first["stop_reason"]) == ("2026-03-05", None)
    assert [d["from"] for d in first["doses"]] == ["2026-01-05", "2026-03-04"]
    assert second["start"] == "2026-01-05" and second["end"] is None
    with pytest.raises(RecordError, match="already ended on 2026-03-05"):
        factlog.check_new(doc, {"fact": "trial_ended", "trial": 0, "end": "2026-03-06"})


def test_a_log_written_before_the_checks_still_verifies(
    sqlite_url: str, make_services: Callable[..., Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    old = make_services(sqlite_url)
    old.enroll("P-0001", actor="dr-a", record=record(), effective=TODAY)
    with monkeypatch.context() as m:  # the engine as it was: no check on new facts
        m.setattr("engine.services.check_new", lambda *a, **k: None)
        old.record(
            "P-0001",
            facts=[
                {"fact": "trial_ended", "trial": 0, "end": days_ago(40)},
                {
                    "fact": "trial_started",
                    "drug": "venlafaxine",
                    "start": ONGOING_START,
                    "mg_per_day": 150.0,
                },
            ],
            actor="dr-b",
        )
    fresh = make_services(sqlite_url)  # no cache: everything rebuilt from the log
    report = fresh.verify(deep=True)
    assert report.ok and report.patients == 1, report
    trials = fresh.record_of("P-0001").trials
    assert (trials[0].end, trials[0].stop_reason) == (TODAY - dt.timedelta(days=40), None)
    assert len(trials) == 3
    # the patient goes on: legitimate facts are recorded, contradicting ones refused
    fresh.record(
        "P-0001", facts={"fact": "trial_ended", "trial": 2, "end": days_ago(1)}, actor="dr-b"
    )
    with pytest.raises(RecordError, match="already ended on"):
        fresh.record(
            "P-0001", facts={"fact": "trial_ended", "trial": 0, "end": days_ago(1)}, actor="dr-b"
        )
    assert fresh.verify(deep=True).ok


# -- the command ----------------------------------------------------------------------------


def test_the_cli_exits_2_naming_the_field_and_writes_nothing(
    sqlite_url: str, tmp_path: Path, make_services: Callable[..., Services]
) -> None:
    runner = CliRunner()
    today = dt.date.today()  # the CLI runs on the system clock

    def ago(n: int) -> str:
        return (today - dt.timedelta(days=n)).isoformat()

    rec = record()
    rec["trials"][0].update(
        start=ago(120),
        end=ago(60),
        doses=[{"from": ago(120), "mg_per_day": 100}, {"from": ago(90), "mg_per_day": 150}],
    )
    rec["trials"][1].update(start=ago(50), doses=[{"from": ago(50), "mg_per_day": 150}])
    rec["measurements"] = [{"date": ago(120), "instrument": "PHQ-9", "score": 18}]
    path = dump({**rec, "id": "P-0042"}, tmp_path / "p-0042.json")

    def cli(*args: str) -> Any:
        return runner.invoke(app, [*args, "--db", sqlite_url], env={"USER": "tester"})

    assert cli("enroll", "P-0042", "--record", str(path)).exit_code == 0
    before = snapshot(make_services(sqlite_url))
    for args in (
        ["trial_ended", "trial=0", f"end={ago(60)}"],
        ["dose_changed", "trial=0", f"from={ago(30)}", "mg_per_day=200"],
        ["trial_started", "drug=venlafaxine", f"start={ago(50)}", "mg_per_day=150"],
    ):
        result = cli("record", "P-0042", *args)
        assert result.exit_code == 2, result.stdout
        assert "patient P-0042" in result.stderr
        field = {"trial_ended": "stop_reason:", "dose_changed": "from:"}.get(args[0], "start:")
        assert field in result.stderr
    assert snapshot(make_services(sqlite_url)) == before
    assert cli("record", "P-0042", "trial_ended", "trial=1", f"end={ago(1)}").exit_code == 0


# -- a mistaken end is corrected explicitly ---------------------------------------------------


def test_a_mistaken_end_is_corrected_with_correction_true_and_the_log_keeps_both(
    enrolled: Services,
) -> None:
    fixed = days_ago(58)
    before = enrolled.status("P-0001").version
    fact = {
        "fact": "trial_ended",
        "trial": 0,
        "end": fixed,
        "stop_reason": "side_effects",
        "correction": True,
    }
    enrolled.record("P-0001", facts=fact, actor="dr-b")
    trial = enrolled.record_of("P-0001").trials[0]
    assert (trial.end.isoformat() if trial.end else None, trial.stop_reason) == (
        fixed,
        "side_effects",
    )
    summaries = [e.summary for e in enrolled.history("P-0001").entries]
    assert f"trial #0: end corrected to {fixed} (side effects)" in summaries
    assert "trial #0 ended (partial response)" in summaries  # the mistaken end stays in the log
    assert enrolled.status("P-0001").version == before + 1
    assert enrolled.verify(deep=True).ok


def test_the_refusal_of_a_second_end_says_how_to_correct_it(enrolled: Services) -> None:
    error = refused(enrolled, {"fact": "trial_ended", "trial": 0, "end": days_ago(58)})
    assert "record it with correction=true" in str(error)


def test_a_correction_of_a_trial_that_has_not_ended_is_refused(enrolled: Services) -> None:
    fact = {"fact": "trial_ended", "trial": 1, "end": days_ago(1), "correction": True}
    error = refused(enrolled, fact)
    assert "has not ended: there is no end to correct" in str(error)


def test_an_ordinary_end_is_stored_without_a_correction_field() -> None:
    [fact] = factlog.parse_facts([{"fact": "trial_ended", "trial": 0, "end": "2026-01-05"}])
    assert "correction" not in factlog.payload_of(fact)
