"""`pathway.assess(...).model_dump(mode="json")` is exactly the object of assess-output.md."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pathway import assess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ELEVEN = [  # the triggers from `reassess` in 1.1, in the recommendation order
    "escalate",
    "exit",
    "review",
    "remit",
    "continue_course",
    "optimize",
    "complete",
    "augment",
    "refer_neurostimulation",
    "start_rapid_acting",
    "switch",
]


def _json(result):
    """Through a real JSON round trip, as a client would read it."""
    return json.loads(json.dumps(result.model_dump(mode="json")))


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.*[ln]")), ids=lambda p: p.name)
def test_every_example_meets_the_contract(path, trd, assess_json_problems):
    obj = _json(assess(path, definition=trd, as_of=dt.date(2026, 6, 1)))
    assert assess_json_problems(obj) == []


def test_top_level_keys_in_the_documented_order(make_record, evaluate):
    obj = _json(evaluate(make_record()))
    assert list(obj) == [
        "patient_id",
        "as_of",
        "definition",
        "trials",
        "failed_adequate_trials",
        "failed_classes",
        "treatment_resistant",
        "flags",
        "bipolar_confirmed",
        "life_threatening",
        "current_outcome",
        "staging",
        "enabled",
        "recommended",
        "guards",
        "procedures",
        "current_step",
        "warnings",
    ]
    assert obj["definition"] == {"id": "trd", "version": "1.1.0"}
    assert obj["as_of"] == "2026-06-01"


def test_trial_keys_and_the_drug_class_key(make_record, make_trial, evaluate):
    obj = _json(evaluate(make_record(trials=[make_trial("Zoloft")])))
    [trial] = obj["trials"]
    assert list(trial) == [
        "index",
        "drug",
        "class",
        "role",
        "status",
        "reasons",
        "warnings",
        "max_dose_mg",
        "min_adequate_dose_mg",
        "weeks_on_drug",
        "weeks_at_adequate_dose",
        "adherence",
        "evaluation_due_on",
        "outcome",
        "outcome_basis",
    ]
    assert (trial["drug"], trial["class"]) == ("sertraline", "SSRI")
    assert (trial["max_dose_mg"], trial["min_adequate_dose_mg"]) == (100, 50)  # as given, no .0


def test_guards_has_exactly_the_eleven_triggers_in_order(make_record, evaluate):
    obj = _json(evaluate(make_record()))
    assert [g["trigger"] for g in obj["guards"]] == ELEVEN
    assert {g["result"] for g in obj["guards"]} <= {"true", "false", "unknown"}
    assert [list(g) for g in obj["guards"]] == [["trigger", "to", "result", "reasons"]] * 11


def test_reasons_carry_predicate_result_detail_source_value_threshold_and_date(
    make_record, make_trial, make_score, evaluate
):
    record = make_record(
        trials=[make_trial()],
        measurements=[make_score("2026-01-05", 20), make_score("2026-03-02", 18)],
    )
    obj = _json(evaluate(record))
    remit = next(g for g in obj["guards"] if g["trigger"] == "remit")
    assert remit["reasons"] == [
        {
            "predicate": "outcome",
            "result": "false",
            "detail": "outcome of sertraline is no response: PHQ-9 20 → 18 "
            "(10% fall; no response is a fall of less than 25%)",
            "source": remit["reasons"][0]["source"],
            "value": "none",
            "threshold": ["remission"],
            "evidence_date": "2026-03-02",
        }
    ]
    assert remit["reasons"][0]["source"]


def test_flags_are_sorted(make_record, make_trial, evaluate):
    record = make_record(
        trials=[make_trial(mg=25, end="2026-02-02")],
        history={"impulsivity": True},
        contributors=[
            {"kind": "stressor", "status": "active", "date": "2026-02-01"},
            {"kind": "cannabis_use", "status": "active", "date": "2026-02-01"},
            {"kind": "chronic_pain", "status": "active", "date": "2026-02-01"},
        ],
    )
    assert _json(evaluate(record))["flags"] == [
        "active_stressor",
        "bipolar_features",
        "incomplete_trial",
        "medical_contributor",
        "substance_use",
    ]


def test_trials_keep_input_order_and_index(make_record, make_trial, evaluate):
    trials = [
        make_trial("venlafaxine", start="2026-03-02", mg=150),
        make_trial("sertraline", start="2025-12-01", end="2026-02-23", stop_reason="no_response"),
        make_trial("lithium", role="augmentation", start="2026-04-01", mg=900),
    ]
    obj = _json(evaluate(make_record(trials=trials)))
    assert [(t["index"], t["drug"]) for t in obj["trials"]] == [
        (0, "venlafaxine"),
        (1, "sertraline"),
        (2, "lithium"),
    ]


def test_a_trial_starting_after_the_as_of_date_is_left_out_but_indexes_stay(
    make_record, make_trial, evaluate
):
    trials = [make_trial(start="2026-07-01"), make_trial("venlafaxine", mg=150)]
    obj = _json(evaluate(make_record(trials=trials)))
    assert [(t["index"], t["drug"]) for t in obj["trials"]] == [(1, "venlafaxine")]


def test_weeks_are_rounded_to_one_decimal(make_record, make_trial, evaluate):
    obj = _json(evaluate(make_record(trials=[make_trial(start="2026-05-01")])))
    [trial] = obj["trials"]
    assert trial["weeks_on_drug"] == 4.4  # 31 days
    assert trial["weeks_at_adequate_dose"] == 4.4


def test_current_outcome_is_null_without_an_antidepressant_trial(
    make_record, make_trial, evaluate, assess_json_problems
):
    only_augmentation = make_record(trials=[make_trial("lithium", role="augmentation", mg=900)])
    for record in (make_record(), only_augmentation):
        obj = _json(evaluate(record))
        assert obj["current_outcome"] is None
        assert assess_json_problems(obj) == []


def test_recommended_is_the_first_enabled_trigger(
    make_record, make_trial, make_score, evaluate, assess_json_problems
):
    # Treatment-resistant with no response: switch comes before augment.
    trials = [
        make_trial("sertraline", start="2025-09-01", end="2025-11-03", stop_reason="no_response"),
        make_trial("venlafaxine", start="2025-11-10", end="2026-02-02", mg=225),
    ]
    scores = [make_score("2025-11-10", 20), make_score("2026-02-02", 18)]
    obj = _json(evaluate(make_record(trials=trials, measurements=scores)))
    assert obj["enabled"] == ["switch", "augment", "refer_neurostimulation", "start_rapid_acting"]
    assert obj["recommended"] == "switch"
    assert assess_json_problems(obj) == []


def test_nothing_enabled_means_no_recommendation(make_record, make_trial, evaluate):
    # an adequate trial whose outcome is unknown (no scores, no stop reason): every guard that
    # could move on is unknown, none is true
    obj = _json(evaluate(make_record(trials=[make_trial(start="2025-06-02")])))
    assert obj["trials"][0]["status"] == "adequate"
    assert (obj["enabled"], obj["recommended"]) == ([], None)
    assert {g["trigger"]: g["result"] for g in obj["guards"]}["augment"] == "unknown"


def test_no_trial_at_all_recommends_completing_one(make_record, evaluate):
    # 1.1: `complete` covers a patient with no antidepressant trial (no dead end)
    obj = _json(evaluate(make_record()))
    assert (obj["enabled"], obj["recommended"]) == (["complete"], "complete")
    assert obj["current_step"] is None


def test_the_contract_checker_catches_violations(make_record, evaluate, assess_json_problems):
    obj = _json(evaluate(make_record()))
    broken = {**obj, "flags": ["substance_use", "active_stressor"], "guards": obj["guards"][1:]}
    del broken["staging"]["maudsley"]["band"]
    found = assess_json_problems(broken)
    assert any(p.startswith("flags") for p in found)
    assert any(p.startswith("guards") for p in found)
    assert any(p.startswith("staging.maudsley") for p in found)
    assert assess_json_problems({}) == [f"$: missing {sorted(json.loads(json.dumps(list(obj))))}"]


def test_the_example_of_assess_output_md(trd, assess_json_problems):
    # The record of patient-record.md assessed as of the date assess-output.md shows. Where
    # this differs from that page's illustration, the page is inconsistent with its own rules:
    # 15 Sep → 20 Dec is 96 days = 13.7 weeks (not 13.9); the job-loss stressor was addressed
    # on 2025-11-15, so it is no longer active (no flag, `switch` not `review`); and the
    # aripiprazole augmentation adds a Maudsley point (6, not 5).
    record = {
        "id": "P-0042",
        "sex": "female",
        "birth_year": 1979,
        "episode_start": "2025-09-01",
        "severity": "moderate",
        "trials": [
            {
                "drug": "sertraline",
                "role": "antidepressant",
                "start": "2025-09-15",
                "end": "2025-12-20",
                "doses": [
                    {"from": "2025-09-15", "mg_per_day": 50},
                    {"from": "2025-10-06", "mg_per_day": 100},
                ],
                "adherence": 0.9,
                "stop_reason": "no_response",
            },
            {
                "drug": "aripiprazole",
                "role": "augmentation",
                "start": "2026-01-10",
                "end": None,
                "doses": [
                    {"from": "2026-01-10", "mg_per_day": 2},
                    {"from": "2026-01-24", "mg_per_day": 5},
                ],
                "adherence": None,
                "stop_reason": None,
            },
        ],
        "measurements": [
            {"date": "2025-09-15", "instrument": "PHQ-9", "score": 19},
            {"date": "2025-12-15", "instrument": "PHQ-9", "score": 16},
        ],
        "contributors": [
            {"kind": "stressor", "status": "active", "date": "2025-10-01", "note": "job loss"},
            {"kind": "stressor", "status": "addressed", "date": "2025-11-15"},
        ],
        "risk": {"date": "2025-12-15", "suicidality": "passive"},
    }
    obj = _json(assess(record, definition=trd, as_of=dt.date(2026, 1, 20)))
    assert assess_json_problems(obj) == []
    sertraline = obj["trials"][0]
    assert {k: sertraline[k] for k in ("index", "drug", "class", "status", "reasons")} == {
        "index": 0,
        "drug": "sertraline",
        "class": "SSRI",
        "status": "adequate",
        "reasons": [],
    }
    assert (sertraline["max_dose_mg"], sertraline["min_adequate_dose_mg"]) == (100, 50)
    assert (sertraline["weeks_on_drug"], sertraline["weeks_at_adequate_dose"]) == (13.7, 13.7)
    assert sertraline["evaluation_due_on"] == "2025-10-27"
    assert sertraline["outcome"] == "none"
    assert {k: sertraline["outcome_basis"][k] for k in ("instrument", "baseline", "end")} == {
        "instrument": "PHQ-9",
        "baseline": 19,
        "end": 16,
    }
    assert sertraline["outcome_basis"]["reduction"] == 0.16
    assert (obj["failed_adequate_trials"], obj["failed_classes"]) == (1, ["SSRI"])
    assert (obj["treatment_resistant"], obj["flags"], obj["current_outcome"]) == (False, [], "none")
    assert obj["staging"] == {"maudsley": {"score": 6, "band": "mild"}, "thase_rush": "I"}
    assert (obj["enabled"], obj["recommended"]) == (["switch"], "switch")
