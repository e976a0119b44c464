"""`pathway measure` (JSON, CSV, MeasureReport; FHIR and database sources) and `deviations`."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from measure_support import Chart
from typer.testing import CliRunner

from engine.cli import app

runner = CliRunner()


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    c = Chart().mdd().visit("2024-03-01").phq9("2024-03-01", 15).phq9("2025-03-01", 3)
    entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in c.resources]
    path = tmp_path / "b.json"
    path.write_text(
        json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}),
        encoding="utf-8",
    )
    return path


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"USER": "tester"})
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_json_output_shape(bundle: Path):
    out = json.loads(
        _ok(
            "measure",
            "CMS159",
            "--fhir",
            str(bundle),
            "--period",
            "2025-01-01:2025-12-31",
            "--json",
        )
    )
    assert out["measure"] == "CMS159"
    assert out["period"] == {"start": "2025-01-01", "end": "2025-12-31"}
    (group,) = out["groups"]
    assert group["id"] == "remission-12-months"
    assert group["populations"] == {
        "initial-population": 1,
        "denominator": 1,
        "denominator-exclusion": 0,
        "numerator": 1,
    }
    assert out["patients"][0]["patient"] == "p" and out["patients"][0]["numerator"]


def test_cms128_groups_in_the_published_order(bundle: Path):
    out = json.loads(
        _ok(
            "measure",
            "CMS128",
            "--fhir",
            str(bundle),
            "--period",
            "2025-01-01:2025-12-31",
            "--json",
        )
    )
    assert [g["populations"]["initial-population"] for g in out["groups"]] == [0, 0]
    c = Chart().condition("http://snomed.info/sct", "370143000", "2024-06-01")
    c = c.visit("2024-06-01").dispense("2024-06-01", 200)
    out2 = json.loads(
        _ok(
            "measure",
            "CMS128",
            "--fhir",
            _write(bundle.parent, c),
            "--period",
            "2025-01-01:2025-12-31",
            "--json",
        )
    )
    assert [g["id"] for g in out2["groups"]] == [
        "acute-phase-84-days",
        "continuation-phase-180-days",
    ]


def _write(folder: Path, c: Chart) -> str:
    path = folder / "c.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in c.resources) + "\n", encoding="utf-8")
    return str(path)


def test_csv_and_measurereports_validate(bundle: Path):
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.measurereport import MeasureReport

    args = ["measure", "CMS159", "--fhir", str(bundle), "--period", "2025-01-01:2025-12-31"]
    csv = _ok(*args, "--csv").splitlines()
    assert csv[0] == (
        "measure,patient,group,index_date,initial-population,denominator,"
        "denominator-exclusion,numerator"
    )
    assert csv[1] == "CMS159,p,remission-12-months,2024-03-01,1,1,0,1"
    summary = json.loads(_ok(*args, "--measurereport", "summary"))
    MeasureReport.model_validate(summary)
    counts = {p["code"]["coding"][0]["code"]: p["count"] for p in summary["group"][0]["population"]}
    assert counts["numerator"] == 1
    individual = json.loads(_ok(*args, "--measurereport", "individual"))
    Bundle.model_validate(individual)
    assert individual["entry"][0]["resource"]["type"] == "individual"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["CMS999", "--period", "2025-01-01:2025-12-31"], "unknown measure"),
        (["CMS159", "--period", "2025-13-01:2025-12-31"], "--period"),
        (["CMS159", "--period", "2025-12-31:2025-01-01"], "END is before START"),
    ],
    ids=["unknown-measure", "bad-date", "reversed"],
)
def test_bad_input_exits_2_naming_the_field(bundle: Path, args, words):
    result = runner.invoke(app, ["measure", *args, "--fhir", str(bundle)])
    assert result.exit_code == 2 and words in result.stderr and result.stdout == ""


def test_from_the_engine_database(tmp_path: Path, db_url: str):
    url = db_url
    rec = {
        "id": "D-1",
        "birth_year": 1980,
        "episode_start": "2024-05-15",
        "measurements": [
            {"date": "2024-06-01", "instrument": "PHQ-9", "score": 15},
            {"date": "2025-06-01", "instrument": "PHQ-9", "score": 2},
        ],
        "trials": [
            {
                "drug": "sertraline",
                "start": "2024-06-01",
                "end": "2025-01-31",
                "doses": [{"from": "2024-06-01", "mg_per_day": 100}],
            }
        ],
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(rec), encoding="utf-8")
    _ok("enroll", "D-1", "--record", str(path), "--db", url)
    out = json.loads(
        _ok("measure", "CMS159", "--db", url, "--period", "2025-01-01:2025-12-31", "--json")
    )
    assert out["groups"][0]["populations"]["numerator"] == 1  # PHQ-9 dates stand in for visits
    amm = json.loads(
        _ok("measure", "CMS128", "--db", url, "--period", "2025-01-01:2025-12-31", "--json")
    )
    assert [g["populations"]["numerator"] for g in amm["groups"]] == [1, 1]
    dev = json.loads(
        _ok("deviations", "--db", url, "--json", "--until", dt.date.today().isoformat())
    )
    assert dev["per_version"]["trd 1.1.0"]["patients"] == 1
    assert dev["overrides_by_reason"] == {}


def test_deviations_counts_overrides_and_moves_against_the_recommendation(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    _ok("init-db", "--db", url)
    example = Path(__file__).resolve().parents[2] / "examples" / "04-two-adequate-failures.json"
    _ok("enroll", "EX-04", "--record", str(example), "--db", url)
    _ok(
        "override",
        "EX-04",
        "--to",
        "augment",
        "--reason",
        "case_review",
        "--note",
        "MDT",
        "--db",
        url,
    )
    dev = json.loads(_ok("deviations", "--db", url, "--json"))
    assert dev["overrides_by_reason"] == {"case_review": 1}
    assert dev["overrides_by_path"] == {"initial_trial → augment": 1}
    (move,) = dev["against_recommendation"]
    assert (move["from"], move["to"], move["kind"]) == ("initial_trial", "augment", "override")
    assert set(dev["per_version"]["trd 1.1.0"]["measures"]) == {
        "CMS159",
        "CMS128",
        "NQF1884",
        "DRR-E",
    }


def test_the_deviation_report_refuses_a_window_that_ends_before_it_opens(tmp_path: Path):
    from engine.measures.deviations import deviation_report
    from pathway.errors import RecordError

    url = f"sqlite:///{tmp_path / 'p.db'}"
    _ok("init-db", "--db", url)
    with pytest.raises(RecordError) as exc:
        deviation_report(url, since=dt.date(2026, 5, 1), until=dt.date(2026, 4, 30))
    (issue,) = exc.value.issues
    assert (issue.loc, issue.value) == ("until", dt.date(2026, 4, 30))
    assert issue.message == "the window ends before since 2026-05-01"
    one_day = deviation_report(url, since=dt.date(2026, 5, 1), until=dt.date(2026, 5, 1))
    assert one_day["overrides_by_reason"] == {}


def test_text_output_says_when_a_measure_has_no_score(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    _ok("init-db", "--db", url)
    text = _ok("measure", "CMS159", "--db", url, "--period", "2025-01-01:2025-12-31")
    assert "score – (no denominator)" in text and "None" not in text
    example = Path(__file__).resolve().parents[2] / "examples" / "04-two-adequate-failures.json"
    _ok("enroll", "EX-04", "--record", str(example), "--db", url)
    text = _ok("deviations", "--db", url)
    assert "trd 1.1.0: 1 patients" in text
    assert "CMS128 acute-phase-84-days – (no denominator)" in text
    assert "None" not in text


def test_invalid_fhir_exits_2_naming_resource_and_path(tmp_path: Path):
    c = Chart().mdd().visit("2024-03-01").phq9("2024-03-01", 15)
    c.resources[-1]["effectiveDateTime"] = "2024-13-45"
    path = tmp_path / "bad.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in c.resources) + "\n", encoding="utf-8")
    result = runner.invoke(
        app, ["measure", "CMS159", "--fhir", str(path), "--period", "2025-01-01:2025-12-31"]
    )
    assert result.exit_code == 2 and result.stdout == ""
    assert "effectiveDateTime" in result.stderr and "Observation/r3" in result.stderr


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80))
def test_measure_report_ids_are_fhir_ids_and_never_shared(a: str, b: str):
    from engine.measures.report import fhir_id

    for raw in (a, b):
        assert re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", fhir_id(raw)), raw
    assume(a != b)
    assert fhir_id(a) != fhir_id(b)


def test_measure_report_ids_stay_readable_when_they_can():
    from engine.measures.report import fhir_id

    assert fhir_id("cms159-individual-EX-04") == "cms159-individual-EX-04"
    assert fhir_id("cms159-individual-A_1") != fhir_id("cms159-individual-A-1")
    long = "cms159-individual-" + "P" * 60
    assert fhir_id(long + "1") != fhir_id(long + "2")
    assert fhir_id(long + "1").startswith("cms159-individual-PPP")
