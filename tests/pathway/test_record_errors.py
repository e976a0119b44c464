"""Invalid patient records: every rule of the field table in patient-record.md, each reported with
its location, the offending value and what was expected — and all of them at once."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from pathway import RecordError, load_record, parse_record

DELETE = object()

VALID = {
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
            "doses": [{"from": "2026-01-10", "mg_per_day": 2}],
            "adherence": None,
            "stop_reason": None,
        },
        {
            "drug": "lithium",
            "role": "augmentation",
            "start": "2026-02-01",
            "doses": [{"from": "2026-02-01", "mg_per_day": 600}],
            "serum_level": 0.6,
        },
    ],
    "measurements": [
        {"date": "2025-09-15", "instrument": "PHQ-9", "score": 19},
        {"date": "2025-12-15", "instrument": "PHQ-9", "score": 16},
    ],
    "screens": [
        {
            "date": "2025-09-15",
            "instrument": "MDQ",
            "score": 3,
            "same_period": False,
            "impairment": "none",
        },
        {"date": "2025-09-15", "instrument": "AUDIT-C", "score": 2},
    ],
    "labs": [{"date": "2025-09-20", "test": "TSH", "value": 2.1, "unit": "mIU/L"}],
    "history": {"elevated_mood": False, "decreased_need_for_sleep": False},
    "contributors": [{"kind": "stressor", "status": "active", "date": "2025-10-01", "note": "x"}],
    "risk": {"date": "2025-12-15", "suicidality": "passive", "psychotic_features": False},
    "procedures": [{"kind": "rTMS", "start": "2026-02-01", "end": None, "sessions": 12}],
}


def patched(*changes):
    """VALID with (path, value) changes applied; DELETE removes the key."""
    record = copy.deepcopy(VALID)
    for path, value in changes:
        *parents, last = path
        target = record
        for part in parents:
            target = target[part]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return record


def issues_of(record):
    with pytest.raises(RecordError) as caught:
        parse_record(record)
    return [(i.loc, i.value, i.message) for i in caught.value.issues]


def test_the_base_record_is_valid():
    record = parse_record(VALID)
    assert [t.drug for t in record.trials] == ["sertraline", "aripiprazole", "lithium"]


NEXT_YEAR = dt.date.today().year + 1
ROLE_ENUM = "Input should be 'antidepressant' or 'augmentation'"
STOP_ENUM = (
    "Input should be 'no_response', 'partial_response', 'side_effects', 'remission', "
    "'patient_choice' or 'other'"
)
KIND_ENUM = (
    "Input should be 'bipolar_disorder', 'hypothyroidism', 'sleep_apnea', "
    "'vitamin_d_deficiency', 'anemia', 'chronic_pain', 'other_medical', 'alcohol_use', "
    "'cannabis_use', 'other_substance_use' or 'stressor'"
)
ID_RULE = "String should match pattern '^[A-Za-z0-9._-]{1,64}$'"
NOT_A_DATE = "expected a date YYYY-MM-DD"

# (id, (path, bad value), expected location, expected value, expected message)
CASES = [
    # identity
    ("id-with-space", (("id",), "Jane Doe"), "id", "Jane Doe", ID_RULE),
    ("id-empty", (("id",), ""), "id", "", ID_RULE),
    ("id-65-chars", (("id",), "x" * 65), "id", "x" * 65, ID_RULE),
    ("id-missing", (("id",), DELETE), "id", None, "Field required"),
    ("id-number", (("id",), 42), "id", 42, "Input should be a valid string"),
    (
        "sex-enum",
        (("sex",), "F"),
        "sex",
        "F",
        "Input should be 'female', 'male', 'other' or 'unknown'",
    ),
    ("birth-year-1899", (("birth_year",), 1899), "birth_year", 1899, None),
    ("birth-year-next-year", (("birth_year",), NEXT_YEAR), "birth_year", NEXT_YEAR, None),
    (
        "birth-year-string",
        (("birth_year",), "1979"),
        "birth_year",
        "1979",
        "Input should be a valid integer",
    ),
    (
        "severity-enum",
        (("severity",), "very severe"),
        "severity",
        "very severe",
        "Input should be 'subsyndromal', 'mild', 'moderate', 'severe' or 'severe_psychotic'",
    ),
    # dates
    ("date-slashes", (("episode_start",), "2025/09/01"), "episode_start", "2025/09/01", NOT_A_DATE),
    (
        "date-day-first",
        (("trials", 0, "start"), "15-09-2025"),
        "trials[0].start",
        "15-09-2025",
        NOT_A_DATE,
    ),
    (
        "date-time",
        (("measurements", 0, "date"), "2025-09-15T10:00:00"),
        "measurements[0].date",
        "2025-09-15T10:00:00",
        NOT_A_DATE,
    ),
    (
        "date-30-february",
        (("labs", 0, "date"), "2025-02-30"),
        "labs[0].date",
        "2025-02-30",
        "Input should be a valid date or datetime, day value is outside expected range",
    ),
    # trials
    (
        "unknown-drug",
        (("trials", 0, "drug"), "setraline"),
        "trials[0].drug",
        "setraline",
        "unknown drug 'setraline' (did you mean 'sertraline', 'quetiapine', 'stablon'?)",
    ),
    (
        "augmentation-agent-as-antidepressant",
        (("trials", 1, "role"), "antidepressant"),
        "trials[1].role",
        "antidepressant",
        "aripiprazole is an augmentation agent, not an antidepressant: set role: augmentation",
    ),
    (
        "augmentation-agent-with-default-role",
        (("trials", 1, "role"), DELETE),
        "trials[1].role",
        "antidepressant",
        "aripiprazole is an augmentation agent, not an antidepressant: set role: augmentation",
    ),
    ("role-enum", (("trials", 0, "role"), "booster"), "trials[0].role", "booster", ROLE_ENUM),
    (
        "end-before-start",
        (("trials", 0, "end"), "2025-09-01"),
        "trials[0].end",
        "2025-09-01",
        "end 2025-09-01 is before start 2025-09-15",
    ),
    (
        "no-doses",
        (("trials", 0, "doses"), []),
        "trials[0].doses",
        [],
        "List should have at least 1 item after validation, not 0",
    ),
    (
        "doses-missing",
        (("trials", 0, "doses"), DELETE),
        "trials[0].doses",
        None,
        "Field required",
    ),
    (
        "first-dose-not-on-start",
        (("trials", 0, "doses", 0, "from"), "2025-09-16"),
        "trials[0].doses[0].from",
        "2025-09-16",
        "the first dose must start on the trial start 2025-09-15",
    ),
    (
        "dose-dates-not-increasing",
        (("trials", 0, "doses", 1, "from"), "2025-09-15"),
        "trials[0].doses[1].from",
        "2025-09-15",
        "dose dates must increase: this one follows 2025-09-15",
    ),
    (
        "dose-after-end",
        (("trials", 0, "doses", 1, "from"), "2025-12-21"),
        "trials[0].doses[1].from",
        "2025-12-21",
        "a dose cannot start after the end 2025-12-20",
    ),
    (
        "dose-zero",
        (("trials", 0, "doses", 0, "mg_per_day"), 0),
        "trials[0].doses[0].mg_per_day",
        0,
        "Input should be greater than 0",
    ),
    (
        "dose-negative",
        (("trials", 0, "doses", 1, "mg_per_day"), -100),
        "trials[0].doses[1].mg_per_day",
        -100,
        "Input should be greater than 0",
    ),
    (
        "dose-as-text",
        (("trials", 0, "doses", 0, "mg_per_day"), "50"),
        "trials[0].doses[0].mg_per_day",
        "50",
        "Input should be a valid number",
    ),
    (
        "adherence-above-1",
        (("trials", 0, "adherence"), 1.2),
        "trials[0].adherence",
        1.2,
        "Input should be less than or equal to 1",
    ),
    (
        "adherence-below-0",
        (("trials", 0, "adherence"), -0.1),
        "trials[0].adherence",
        -0.1,
        "Input should be greater than or equal to 0",
    ),
    (
        "adherence-percent-text",
        (("trials", 0, "adherence"), "90%"),
        "trials[0].adherence",
        "90%",
        "Input should be a valid number",
    ),
    (
        "stop-reason-enum",
        (("trials", 0, "stop_reason"), "worked"),
        "trials[0].stop_reason",
        "worked",
        STOP_ENUM,
    ),
    (
        "stop-reason-while-ongoing",
        (("trials", 1, "stop_reason"), "side_effects"),
        "trials[1].stop_reason",
        "side_effects",
        "a stop_reason needs an end date: it must be null while ongoing",
    ),
    (
        "serum-level-not-lithium",
        (("trials", 0, "serum_level"), 0.7),
        "trials[0].serum_level",
        0.7,
        "serum_level is recorded for lithium only",
    ),
    (
        "serum-level-zero",
        (("trials", 2, "serum_level"), 0),
        "trials[2].serum_level",
        0,
        "Input should be greater than 0",
    ),
    # measurements
    (
        "PHQ-9-28",
        (("measurements", 0, "score"), 28),
        "measurements[0].score",
        28,
        "PHQ-9 score must be an integer 0–27",
    ),
    (
        "PHQ-9-negative",
        (("measurements", 0, "score"), -1),
        "measurements[0].score",
        -1,
        "PHQ-9 score must be an integer 0–27",
    ),
    (
        "PHQ-9-fraction",
        (("measurements", 0, "score"), 12.5),
        "measurements[0].score",
        12.5,
        "Input should be a valid integer",
    ),
    (
        "instrument-enum",
        (("measurements", 0, "instrument"), "PHQ9"),
        "measurements[0].instrument",
        "PHQ9",
        "Input should be 'PHQ-9', 'QIDS-SR16', 'HAM-D17' or 'MADRS' (did you mean 'PHQ-9'?)",
    ),
]
for _inst, _top in (("QIDS-SR16", 27), ("HAM-D17", 52), ("MADRS", 60)):
    CASES.append(
        (
            f"{_inst}-{_top + 1}",
            (("measurements", 1), {"date": "2025-12-15", "instrument": _inst, "score": _top + 1}),
            "measurements[1].score",
            _top + 1,
            f"{_inst} score must be an integer 0–{_top}",
        )
    )
for _inst, _top in (("MDQ", 13), ("STOP-Bang", 8), ("AUDIT-C", 12), ("CUDIT-R", 32)):
    _screen = {"date": "2025-09-15", "instrument": _inst, "score": _top + 1}
    if _inst == "MDQ":
        _screen |= {"same_period": True, "impairment": "serious"}
    CASES.append(
        (
            f"{_inst}-{_top + 1}",
            (("screens", 1), _screen),
            "screens[1].score",
            _top + 1,
            f"{_inst} score must be an integer 0–{_top}",
        )
    )
CASES += [
    # screens
    (
        "screen-instrument",
        (("screens", 1, "instrument"), "PHQ-2"),
        "screens[1].instrument",
        "PHQ-2",
        "instrument must be one of MDQ, STOP-Bang, AUDIT-C, CUDIT-R",
    ),
    (
        "MDQ-without-same-period",
        (("screens", 0, "same_period"), DELETE),
        "screens[0].same_period",
        None,
        "Field required",
    ),
    (
        "MDQ-same-period-text",
        (("screens", 0, "same_period"), "yes"),
        "screens[0].same_period",
        "yes",
        "Input should be a valid boolean",
    ),
    (
        "MDQ-impairment-enum",
        (("screens", 0, "impairment"), "severe"),
        "screens[0].impairment",
        "severe",
        "Input should be 'none', 'minor', 'moderate' or 'serious'",
    ),
    (
        "MDQ-fields-on-another-screen",
        (("screens", 1, "same_period"), True),
        "screens[1].same_period",
        None,  # an unknown field's value is never echoed
        "unknown field 'same_period'",
    ),
    # labs
    (
        "TSH-unit",
        (("labs", 0, "unit"), "mU/mL"),
        "labs[0].unit",
        "mU/mL",
        "unit 'mU/mL' does not fit TSH: use mIU/L",
    ),
    (
        "vitamin-D-unit",
        (("labs", 0), {"date": "2025-09-20", "test": "vitamin_d_25oh", "value": 18, "unit": "g/L"}),
        "labs[0].unit",
        "g/L",
        "unit 'g/L' does not fit vitamin_d_25oh: use ng/mL or nmol/L",
    ),
    (
        "hemoglobin-unit",
        (("labs", 0), {"date": "2025-09-20", "test": "hemoglobin", "value": 13, "unit": "ng/mL"}),
        "labs[0].unit",
        "ng/mL",
        "unit 'ng/mL' does not fit hemoglobin: use g/dL or g/L",
    ),
    (
        "lab-test-enum",
        (("labs", 0, "test"), "ferritin"),
        "labs[0].test",
        "ferritin",
        "Input should be 'TSH', 'vitamin_d_25oh' or 'hemoglobin'",
    ),
    (
        "lab-value-negative",
        (("labs", 0, "value"), -2),
        "labs[0].value",
        -2,
        "Input should be greater than or equal to 0",
    ),
    # history
    (
        "history-item-text",
        (("history", "racing_thoughts"), "sometimes"),
        "history.racing_thoughts",
        "sometimes",
        "Input should be a valid boolean",
    ),
    # contributors
    (
        "contributor-kind",
        (("contributors", 0, "kind"), "thyroid"),
        "contributors[0].kind",
        "thyroid",
        KIND_ENUM,
    ),
    (
        "contributor-status",
        (("contributors", 0, "status"), "resolved"),
        "contributors[0].status",
        "resolved",
        "Input should be 'suspected', 'active', 'confirmed', 'addressed' or 'ruled_out'",
    ),
    # risk
    (
        "suicidality-enum",
        (("risk", "suicidality"), "high"),
        "risk.suicidality",
        "high",
        "Input should be 'none', 'passive' or 'active'",
    ),
    (
        "psychotic-features-text",
        (("risk", "psychotic_features"), "no"),
        "risk.psychotic_features",
        "no",
        "Input should be a valid boolean",
    ),
    # procedures
    (
        "procedure-kind",
        (("procedures", 0, "kind"), "TMS"),
        "procedures[0].kind",
        "TMS",
        "Input should be 'rTMS', 'iTBS', 'accelerated_iTBS', 'ECT', 'esketamine' or "
        "'IV_ketamine' (did you mean 'rTMS'?)",
    ),
    (
        "sessions-negative",
        (("procedures", 0, "sessions"), -1),
        "procedures[0].sessions",
        -1,
        "Input should be greater than or equal to 0",
    ),
    (
        "sessions-fraction",
        (("procedures", 0, "sessions"), 2.5),
        "procedures[0].sessions",
        2.5,
        "Input should be a valid integer",
    ),
    (
        "procedure-end-before-start",
        (("procedures", 0, "end"), "2026-01-01"),
        "procedures[0].end",
        "2026-01-01",
        "end 2026-01-01 is before start 2026-02-01",
    ),
    # unknown keys
    ("unknown-top-level-key", (("name",), "Jane"), "name", None, "unknown field 'name'"),
    (
        "unknown-trial-key-with-hint",
        (("trials", 0, "dose"), 100),
        "trials[0].dose",
        None,
        "unknown field 'dose' (did you mean 'doses'?)",
    ),
    (
        "unknown-measurement-key",
        (("measurements", 0, "value"), 19),
        "measurements[0].value",
        None,
        "unknown field 'value'",
    ),
    (
        "unknown-history-item",
        (("history", "mania"), True),
        "history.mania",
        None,
        "unknown field 'mania'",
    ),
]


@pytest.mark.parametrize(
    ("change", "loc", "value", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_each_rule_is_reported_with_location_and_value(change, loc, value, message):
    [(got_loc, got_value, got_message)] = issues_of(patched(change))
    assert (got_loc, got_value) == (loc, value)
    if message is None:
        assert str(dt.date.today().year) in got_message
    else:
        assert got_message.startswith(message)


def test_all_violations_are_reported_at_once():
    by_id = {case[0]: case for case in CASES}
    chosen = [
        "id-with-space",
        "sex-enum",
        "birth-year-1899",
        "date-slashes",
        "unknown-drug",
        "end-before-start",
        "adherence-above-1",
        "augmentation-agent-as-antidepressant",
        "serum-level-zero",
        "PHQ-9-28",
        "HAM-D17-53",
        "MDQ-impairment-enum",
        "screen-instrument",
        "TSH-unit",
        "history-item-text",
        "contributor-status",
        "suicidality-enum",
        "procedure-kind",
        "sessions-negative",
        "unknown-top-level-key",
    ]
    record = patched(*(by_id[name][1] for name in chosen))
    assert [(loc, value) for loc, value, _ in issues_of(record)] == [
        (by_id[name][2], by_id[name][3]) for name in chosen
    ]


def test_dose_rules_are_reported_together():
    doses = [
        {"from": "2025-09-16", "mg_per_day": 50},
        {"from": "2025-09-16", "mg_per_day": 100},
        {"from": "2025-12-21", "mg_per_day": 150},
    ]
    record = patched((("trials", 0, "doses"), doses))
    assert issues_of(record) == [
        (
            "trials[0].doses[0].from",
            "2025-09-16",
            "the first dose must start on the trial start 2025-09-15",
        ),
        (
            "trials[0].doses[1].from",
            "2025-09-16",
            "dose dates must increase: this one follows 2025-09-16",
        ),
        ("trials[0].doses[2].from", "2025-12-21", "a dose cannot start after the end 2025-12-20"),
    ]


def test_known_brand_and_alias_names_resolve_to_the_generic_name():
    record = patched((("trials", 0, "drug"), "ZOLOFT"), (("trials", 1, "drug"), "Abilify"))
    assert [t.drug for t in parse_record(record).trials][:2] == ["sertraline", "aripiprazole"]


def test_a_record_must_be_a_mapping():
    assert issues_of([VALID]) == [("", None, "a patient record must be a mapping")]


def test_errors_in_a_file_carry_their_line(tmp_path):
    path = tmp_path / "patient.yaml"
    path.write_text(
        "id: P-1\ntrials:\n  - drug: setraline\n    start: 2026-01-05\n"
        "    doses: [{from: 2026-01-05, mg_per_day: 50}]\nrisk: {date: 2026-01-05,"
        " suicidality: none, catatonia: no}\n",
        encoding="utf-8",
    )
    with pytest.raises(RecordError) as caught:
        load_record(path)
    assert [(i.file, i.line, i.loc, i.value) for i in caught.value.issues] == [
        ("patient.yaml", 3, "trials[0].drug", "setraline"),
        ("patient.yaml", 6, "risk.catatonia", "no"),  # YAML `no` stays a string, not false
    ]


def test_malformed_json_is_a_record_error_with_its_line(tmp_path):
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(VALID, indent=1)[:-3], encoding="utf-8")
    with pytest.raises(RecordError) as caught:
        load_record(path)
    [issue] = caught.value.issues
    assert issue.file == "patient.json"
    assert issue.line is not None
    assert issue.message.startswith("malformed JSON")


def test_nothing_is_returned_for_an_invalid_record_message_names_each_field():
    with pytest.raises(RecordError) as caught:
        parse_record(patched((("sex",), "F"), (("trials", 0, "adherence"), 2)))
    assert str(caught.value).splitlines() == [
        "2 problems in the patient record:",
        "  sex: Input should be 'female', 'male', 'other' or 'unknown' (got 'F')",
        "  trials[0].adherence: Input should be less than or equal to 1 (got 2)",
    ]


def test_errors_in_a_json_file_carry_their_line_too(tmp_path):
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(patched((("trials", 0, "drug"), "setraline")), indent=2))
    with pytest.raises(RecordError) as caught:
        load_record(path)
    [issue] = caught.value.issues
    line = path.read_text().splitlines()[issue.line - 1]
    assert (issue.file, issue.loc) == ("patient.json", "trials[0].drug")
    assert '"drug": "setraline"' in line


@pytest.mark.parametrize(
    ("change", "text"),
    [
        pytest.param(
            (("trials", 0, "doses", 0, "mg_per_day"), 0),
            "trials[0].doses[0].mg_per_day: Input should be greater than 0 (got 0)",
            id="a-number-is-always-shown",
        ),
        pytest.param(
            (("trials", 0, "drug"), "setraline"),
            "trials[0].drug: unknown drug 'setraline' (did you mean 'sertraline', 'quetiapine', "
            "'stablon'?)",
            id="a-quoted-name-is-not-repeated",
        ),
    ],
)
def test_issue_text_names_the_value_once(change, text):
    with pytest.raises(RecordError) as caught:
        parse_record(patched(change))
    assert [str(i) for i in caught.value.issues] == [text]
