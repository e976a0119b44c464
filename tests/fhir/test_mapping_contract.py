"""Rows of shared/fhir/mapping.md checked against what export writes and import accepts, and
refusals that point at the offending resource."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.fhir import codes as c
from engine.fhir.export import export_record
from engine.fhir.importing import map_resources
from engine.fhir.reading import _flatten, read_paths
from engine.services import Services
from pathway.record import parse_record

runner = CliRunner()


def _map(bundle: dict[str, Any]) -> Any:
    return map_resources(_flatten("b.json", bundle))


def _mdd(verification: str, clinical: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "E-1-mdd",
        "subject": {"reference": "Patient/E-1"},
        "code": {"coding": [{"system": c.ICD10CM, "code": "F32.1"}]},
        "clinicalStatus": {"coding": [{"system": c.CLINICAL, "code": clinical}]},
        "verificationStatus": {"coding": [{"system": c.VERIFICATION, "code": verification}]},
        "onsetDateTime": "2025-01-10",
    }


def _replace_mdd(bundle: dict[str, Any], mdd: dict[str, Any]) -> dict[str, Any]:
    entries = [e for e in bundle["entry"] if e["resource"]["id"] != "E-1-mdd"]
    return {**bundle, "entry": [*entries, {"fullUrl": "urn:uuid:E-1-mdd", "resource": mdd}]}


# -- MDD episode: "Condition (clinicalStatus active, verificationStatus confirmed)" ---------


def test_a_confirmed_mdd_diagnosis_gives_the_episode_start(ehr_bundle):
    records, refused, ignored, _, _ = _map(_replace_mdd(ehr_bundle(), _mdd("confirmed")))
    assert refused == [] and ignored == []
    assert str(records[0][1].episode_start) == "2025-01-10"


def test_a_refuted_mdd_diagnosis_is_no_episode_and_is_reported(ehr_bundle):
    # A ruled-out diagnosis must not become `episode_start` (which the database measures
    # then read as a confirmed, active MDD diagnosis); it is listed, not dropped silently.
    records, refused, ignored, _, _ = _map(
        _replace_mdd(ehr_bundle(), _mdd("refuted", clinical="inactive"))
    )
    assert refused == []
    assert records[0][1].episode_start is None
    assert [(i.patient_id, i.resource) for i in ignored] == [("E-1", "Condition/E-1-mdd")]
    assert "refuted" in ignored[0].reason


# -- labs: TSH 3016-3 (mIU/L), as a UCUM code ----------------------------------------------


def _record_with_tsh() -> Any:
    return parse_record(
        {
            "id": "L-1",
            "birth_year": 1970,
            "sex": "female",
            "labs": [{"date": "2025-09-20", "test": "TSH", "value": 2.1, "unit": "mIU/L"}],
        }
    )


def test_export_writes_the_tsh_unit_as_a_ucum_code():
    bundle = export_record(_record_with_tsh())
    (obs,) = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == "3016-3"
    ]
    q = obs["valueQuantity"]
    # UCUM writes the international unit as the atom [IU]: milli-IU per litre is m[IU]/L
    assert (q["system"], q["code"], q["unit"]) == (c.UCUM, "m[IU]/L", "mIU/L")
    assert q["value"] == 2.1


def test_the_tsh_lab_round_trips():
    rec = _record_with_tsh()
    got, refused, _, _, _ = _map(json.loads(json.dumps(export_record(rec))))
    assert refused == []
    assert got[0][1].labs == rec.labs


@pytest.mark.parametrize("code", ["m[IU]/L", "m[iU]/L"])
def test_import_reads_a_ucum_coded_tsh_without_a_display_unit(ehr_bundle, code):
    tsh = {
        "resourceType": "Observation",
        "id": "E-1-tsh",
        "status": "final",
        "category": [{"coding": [{"system": c.OBS_CATEGORY, "code": "laboratory"}]}],
        "subject": {"reference": "Patient/E-1"},
        "code": {"coding": [{"system": c.LOINC, "code": "3016-3"}]},
        "effectiveDateTime": "2025-01-20",
        "valueQuantity": {"value": 3.4, "system": c.UCUM, "code": code},
    }
    records, refused, _, _, _ = _map(ehr_bundle(extra=[tsh]))
    assert refused == []
    (lab,) = records[0][1].labs
    assert (lab.test, lab.value, lab.unit) == ("TSH", 3.4, "mIU/L")


# -- refusals name the resource, the field and the value -----------------------------------


def test_a_phq9_without_a_score_names_the_value_element_it_has(ehr_bundle):
    bundle = ehr_bundle()
    phq = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "E-1-phq")
    del phq["valueInteger"]
    phq["valueString"] = "eighteen"
    _, refused, _, _, _ = _map(bundle)
    (why,) = refused
    assert (why.patient_id, why.resource, why.path) == ("E-1", "Observation/E-1-phq", "valueString")
    assert "'eighteen'" in why.reason


def _ndjson(tmp_path: Path, ehr_bundle: Any) -> Path:
    """E-2 (fine) then E-1 with a PHQ-9 of 300 on line 6 (Patient E-1 on line 4)."""
    lines = [json.dumps(e["resource"]) for e in ehr_bundle("E-2")["entry"][:3]]
    lines += [json.dumps(e["resource"]) for e in ehr_bundle("E-1", phq9=300)["entry"][:3]]
    path = tmp_path / "in.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_refusal_points_at_the_line_of_the_resource_not_of_its_patient(tmp_path, ehr_bundle):
    path = _ndjson(tmp_path, ehr_bundle)
    records, refused, _, _, _ = map_resources(read_paths([str(path)]))
    assert [r.id for _, r in records] == ["E-2"]
    (why,) = refused
    assert (why.resource, why.path, why.source) == (
        "Observation/E-1-phq",
        "valueInteger",
        "in.ndjson:6",
    )


def test_a_record_level_refusal_points_at_the_line_of_the_resource(tmp_path, ehr_bundle):
    tsh = {
        "resourceType": "Observation",
        "id": "E-1-tsh",
        "status": "final",
        "subject": {"reference": "Patient/E-1"},
        "code": {"coding": [{"system": c.LOINC, "code": "3016-3"}]},
        "effectiveDateTime": "2025-01-20",
        "valueQuantity": {"value": 3.4, "unit": "furlongs"},
    }
    lines = [json.dumps(e["resource"]) for e in ehr_bundle("E-1")["entry"][:3]]
    lines.append(json.dumps(tsh))
    path = tmp_path / "in.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, refused, _, _, _ = map_resources(read_paths([str(path)]))
    (why,) = refused
    assert (why.resource, why.source) == ("Observation/E-1-tsh", "in.ndjson:4")
    assert "furlongs" in why.reason


def test_cli_names_the_line_and_writes_nothing_for_the_refused_patient(
    tmp_path: Path, db: str, ehr_bundle
):
    path = _ndjson(tmp_path, ehr_bundle)
    result = runner.invoke(app, ["fhir", "import", str(path), "--db", db])
    assert result.exit_code == 2
    assert "Observation/E-1-phq" in result.stderr and "[in.ndjson:6]" in result.stderr
    svc = Services.from_url(db)
    assert svc.uow is not None
    with svc.uow as uow:
        assert uow.patients.existing(["E-1", "E-2"]) == {"E-2"}
    svc.close()


# -- MedicationRequest dose steps: the trial's end comes from the last request by date -------


def _request(n: int, day: str, tablets: int, status: str, end: str | None = None) -> Any:
    bounds = {"start": day, **({"end": end} if end else {})}
    return {
        "resourceType": "MedicationRequest",
        "id": f"rq-{n}",
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/E-1"},
        "authoredOn": day,
        "medicationCodeableConcept": {"coding": [{"system": c.RXNORM, "code": "349332"}]},
        "dosageInstruction": [
            {
                "timing": {
                    "repeat": {
                        "frequency": 1,
                        "period": 1,
                        "periodUnit": "d",
                        "boundsPeriod": bounds,
                    }
                },
                "doseAndRate": [{"doseQuantity": {"value": tablets, "unit": "tablet"}}],
            }
        ],
    }


@pytest.mark.parametrize("reverse", [False, True], ids=["date-order", "reverse-order"])
def test_request_dose_steps_do_not_depend_on_input_order(ehr_bundle, reverse):
    # 10 mg completed 2025-03-01 – 2025-04-01, then 20 mg active from 2025-04-01: the trial
    # goes on (escitalopram 10 MG tablets, RxNorm 349332).
    rs = [
        _request(1, "2025-03-01", 1, "completed", "2025-04-01"),
        _request(2, "2025-04-01", 2, "active"),
    ]
    records, refused, _, _, _ = _map(ehr_bundle(extra=rs[::-1] if reverse else rs))
    assert refused == []
    lex = next(t for t in records[0][1].trials if t.drug == "escitalopram")
    assert [(d.start.isoformat(), d.mg_per_day) for d in lex.doses] == [
        ("2025-03-01", 10.0),
        ("2025-04-01", 20.0),
    ]
    assert lex.end is None


def test_a_refusal_names_the_request_that_does_not_map(ehr_bundle):
    bad = _request(2, "2025-04-01", 2, "active")
    del bad["dosageInstruction"]
    _, refused, _, _, _ = _map(ehr_bundle(extra=[_request(1, "2025-03-01", 1, "active"), bad]))
    (why,) = refused
    assert (why.resource, why.path) == ("MedicationRequest/rq-2", "dosageInstruction")


def test_a_refusal_names_the_dispensing_that_does_not_map(ehr_bundle):
    bundle = ehr_bundle()
    second = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "E-1-disp-1")
    del second["daysSupply"]
    _, refused, _, _, _ = _map(bundle)
    (why,) = refused
    assert (why.resource, why.path) == ("MedicationDispense/E-1-disp-1", "daysSupply")


# -- malformed input: a refusal naming the file, never an internal error --------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"resourceType": "Bundle", "type": "collection", "entry": 5}', "got int"),
        ('{"resourceType": "Bundle", "type": "collection", "entry": {"resource": {}}}', "got dict"),
        ("[1, 2]", "got a list"),
        ('"Patient"', "got a str"),
    ],
    ids=["entry-int", "entry-object", "array", "string"],
)
def test_a_malformed_file_is_refused_by_name_and_writes_nothing(
    tmp_path: Path, db: str, text: str, words: str
):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["fhir", "import", str(path), "--db", db, "--json"])
    assert result.exit_code == 2, result.stderr
    report = json.loads(result.stdout)
    assert report["imported"] == [] and report["updated"] == []
    (why,) = report["refused"]
    assert why["source"] == "bad.json" and words in why["reason"]
    measured = runner.invoke(
        app, ["measure", "CMS159", "--fhir", str(path), "--period", "2025-01-01:2025-12-31"]
    )
    assert measured.exit_code == 2 and "bad.json" in measured.stderr and words in measured.stderr


@pytest.mark.parametrize(
    ("dates", "expected", "path"),
    [
        ({"onsetPeriod": {"start": "2024-11-03"}}, "2024-11-03", "onsetPeriod.start"),
        ({"recordedDate": "2024-12-01"}, "2024-12-01", "recordedDate"),
        ({"onsetPeriod": {"start": "2024-11"}}, None, "onsetPeriod.start"),
    ],
    ids=["onset-period", "recorded-date", "partial-date"],
)
def test_the_episode_start_is_read_from_any_onset(ehr_bundle, dates, expected, path):
    mdd = _mdd("confirmed")
    del mdd["onsetDateTime"]
    records, refused, _, _, _ = _map(_replace_mdd(ehr_bundle(), {**mdd, **dates}))
    if expected is None:  # a partial date is refused, naming the element it is in
        (why,) = refused
        assert (why.resource, why.path) == ("Condition/E-1-mdd", path)
        assert "'2024-11'" in why.reason
    else:
        assert refused == []
        assert str(records[0][1].episode_start) == expected
