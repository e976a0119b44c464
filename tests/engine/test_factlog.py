"""Facts as log entries: validation like a patient record, and records rebuilt from facts."""

from __future__ import annotations

from typing import Any

import pytest
from engine_support import example_records

from engine.factlog import (
    FACT_KINDS,
    apply,
    facts_of,
    header_of,
    new_document,
    parse_facts,
    payload_of,
    rebuild,
)
from pathway.errors import RecordError
from pathway.record import PatientRecord, parse_record


@pytest.mark.parametrize("record", example_records(), ids=lambda r: r["id"])
def test_a_record_round_trips_through_its_facts(record: dict[str, Any]) -> None:
    parsed = parse_record(record)
    facts = facts_of(parsed)
    assert {f["fact"] for f in facts} <= set(FACT_KINDS)
    parse_facts(facts)  # every payload is a valid fact on its own
    assert parse_record(rebuild(parsed.id, header_of(parsed), facts)) == parsed


def doc_after(*facts: dict[str, Any]) -> PatientRecord:
    doc = new_document("P-1", header_of(PatientRecord(id="P-1")))
    for f in parse_facts(list(facts)):
        apply(doc, payload_of(f))
    return parse_record(doc)


def test_a_procedure_entry_is_replaced_by_its_progress() -> None:
    rec = doc_after(
        {"fact": "procedure", "kind": "rTMS", "start": "2026-01-05", "sessions": 5},
        {"fact": "procedure", "kind": "rTMS", "start": "2026-01-05", "sessions": 20},
        {"fact": "procedure", "kind": "ECT", "start": "2026-01-05", "sessions": 1},
    )
    assert [(p.kind, p.sessions) for p in rec.procedures] == [("rTMS", 20), ("ECT", 1)]


def test_the_latest_risk_assessment_wins_whatever_the_order_recorded() -> None:
    rec = doc_after(
        {"fact": "risk", "date": "2026-02-01", "suicidality": "active"},
        {"fact": "risk", "date": "2026-01-01", "suicidality": "none"},  # back-dated: older
    )
    assert rec.risk is not None and rec.risk.suicidality == "active"


def test_profile_history_and_trial_updates_change_only_what_they_name() -> None:
    rec = doc_after(
        {"fact": "trial_started", "drug": "Zoloft", "start": "2026-01-05", "mg_per_day": 50},
        {"fact": "trial_updated", "trial": 0, "adherence": 0.6},
        {"fact": "dose_changed", "trial": 0, "from": "2026-01-19", "mg_per_day": 100},
        {"fact": "profile", "severity": "severe"},
        {"fact": "history", "racing_thoughts": True},
        {"fact": "trial_ended", "trial": 0, "end": "2026-03-01", "stop_reason": "side_effects"},
    )
    trial = rec.trials[0]
    assert (trial.drug, trial.adherence, trial.end, trial.stop_reason) == (
        "sertraline",
        0.6,
        rec.trials[0].end,
        "side_effects",
    )
    assert [d.mg_per_day for d in trial.doses] == [50, 100]
    assert rec.severity == "severe" and rec.sex == "unknown"
    assert rec.history.racing_thoughts and not rec.history.impulsivity


@pytest.mark.parametrize(
    ("fact", "message"),
    [
        (
            {"fact": "measurement", "date": "2026-01-01", "instrument": "PHQ-9"},
            "score: Field required",
        ),
        (
            {"fact": "lab", "date": "2026-01-01", "test": "TSH", "value": 3, "unit": "g/L"},
            "unit 'g/L' does not fit TSH",
        ),
        (
            {"fact": "contributor", "kind": "stress", "status": "active", "date": "2026-01-01"},
            "kind",
        ),
        ({"fact": "dose_changed", "trial": -1, "from": "2026-01-01", "mg_per_day": 5}, "trial"),
        ({"fact": "screen", "date": "2026-01-01", "instrument": "PHQ-2", "score": 1}, "instrument"),
        ({"date": "2026-01-01"}, "fact: missing"),
        (
            {
                "fact": "measurement",
                "date": "2026-01-01",
                "instrument": "PHQ-9",
                "score": 3,
                "note": "x",
            },
            "unknown field 'note'",
        ),
    ],
    ids=[
        "missing field",
        "unit",
        "contributor kind",
        "negative trial",
        "screen instrument",
        "no kind",
        "extra field",
    ],
)
def test_invalid_facts_are_reported_with_their_location(fact: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError) as err:
        parse_facts(fact)
    assert message in str(err.value)


def test_a_fact_about_a_missing_trial_names_the_trials_on_record() -> None:
    with pytest.raises(RecordError, match=r"no trial #2 on record \(trials: #0 sertraline\)"):
        doc_after(
            {
                "fact": "trial_started",
                "drug": "sertraline",
                "start": "2026-01-05",
                "mg_per_day": 50,
            },
            {"fact": "trial_ended", "trial": 2, "end": "2026-03-01"},
        )
