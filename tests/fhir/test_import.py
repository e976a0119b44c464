"""FHIR import: mapping, all-or-nothing per patient, refusals naming resource and path, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir_support import write
from typer.testing import CliRunner

from engine.cli import app
from engine.fhir import codes as c
from engine.fhir.importing import map_resources
from engine.fhir.reading import _flatten, read_paths
from engine.services import Services

runner = CliRunner()


def _map(bundle):
    return map_resources(_flatten("b.json", bundle))


def test_dispensings_become_a_trial_with_catalog_drug_and_strength(ehr_bundle):
    records, refused, _, _, _ = _map(ehr_bundle())
    assert refused == []
    rec = records[0][1]
    assert rec.id == "E-1" and rec.sex == "male" and rec.birth_year == 1970
    assert rec.episode_start.isoformat() == "2025-01-10"
    (trial,) = rec.trials
    # RxNorm 312941 = sertraline 50 MG Oral Tablet; 60 tablets over 30 days = 100 mg/day
    assert (trial.drug, trial.doses[0].mg_per_day) == ("sertraline", 100.0)
    assert trial.start.isoformat() == "2025-01-15" and trial.end.isoformat() == "2025-03-15"
    assert trial.adherence == 1.0
    assert [(m.instrument, m.score) for m in rec.measurements] == [("PHQ-9", 18)]


def test_medication_request_dose_steps(ehr_bundle):
    subject = {"reference": "Patient/E-1"}

    def request(n, day, tablets):
        return {
            "resourceType": "MedicationRequest",
            "id": f"rq-{n}",
            "status": "completed",
            "intent": "order",
            "subject": subject,
            "authoredOn": day,
            "medicationCodeableConcept": {"coding": [{"system": c.RXNORM, "code": "349332"}]},
            "dosageInstruction": [
                {
                    "timing": {
                        "repeat": {
                            "frequency": 1,
                            "period": 1,
                            "periodUnit": "d",
                            "boundsPeriod": {"start": day, "end": "2025-06-01"},
                        }
                    },
                    "doseAndRate": [{"doseQuantity": {"value": tablets, "unit": "tablet"}}],
                }
            ],
        }

    b = ehr_bundle(extra=[request(1, "2025-03-01", 1), request(2, "2025-04-01", 2)])
    records, refused, _, _, _ = _map(b)
    assert refused == []
    lex = next(t for t in records[0][1].trials if t.drug == "escitalopram")  # 10 MG tablets
    assert [(d.start.isoformat(), d.mg_per_day) for d in lex.doses] == [
        ("2025-03-01", 10.0),
        ("2025-04-01", 20.0),
    ]
    assert lex.end.isoformat() == "2025-06-01"


def test_phq9m_and_value_quantity_are_accepted(ehr_bundle):
    obs = {
        "resourceType": "Observation",
        "id": "m",
        "status": "amended",
        "subject": {"reference": "Patient/E-1"},
        "effectiveDateTime": "2025-03-01",
        "code": {"coding": [{"system": c.LOINC, "code": "89204-2"}]},
        "valueQuantity": {"value": 7, "unit": "{score}"},
    }
    records, refused, _, _, _ = _map(ehr_bundle(extra=[obs]))
    assert refused == [] and [m.score for m in records[0][1].measurements] == [18, 7]


def _bad_med(pid):
    return {
        "resourceType": "MedicationStatement",
        "id": "bad-med",
        "status": "active",
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2025-01-01",
        "medicationCodeableConcept": {"coding": [{"system": c.RXNORM, "code": "999999"}]},
    }


def _no_date(pid):
    return {
        "resourceType": "Observation",
        "id": "no-date",
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": c.LOINC, "code": "44261-6"}]},
        "valueInteger": 5,
    }


@pytest.mark.parametrize(
    ("phq9", "extra", "resource", "path", "words"),
    [
        (300, [], "Observation/E-1-phq", "valueInteger", "PHQ-9 score 300 is outside 0–27"),
        (
            18,
            [_bad_med("E-1")],
            "MedicationStatement/bad-med",
            "medicationCodeableConcept",
            "unknown medication code http://www.nlm.nih.gov/research/umls/rxnorm|999999",
        ),
        (18, [_no_date("E-1")], "Observation/no-date", "effectiveDateTime", "a date is required"),
        ("x", [], "Observation/E-1-phq", "valueInteger", "valid integer"),
    ],
    ids=["phq9-out-of-range", "unknown-medication", "missing-date", "not-fhir"],
)
def test_a_patient_that_does_not_fully_map_is_refused(
    ehr_bundle, phq9, extra, resource, path, words
):
    good = ehr_bundle("E-2")
    bad = ehr_bundle("E-1", phq9=phq9, extra=extra)
    both = {**good, "entry": good["entry"] + bad["entry"]}
    records, refused, _, _, _ = _map(both)
    assert [r.id for _, r in records] == ["E-2"]  # the other patient is imported
    (why,) = refused
    assert (why.patient_id, why.resource, why.path) == ("E-1", resource, path)
    assert words in why.reason


def test_unrelated_resources_are_reported_as_ignored(ehr_bundle):
    enc = {
        "resourceType": "Encounter",
        "id": "enc",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/E-1"},
    }
    _, refused, ignored, _, _ = _map(ehr_bundle(extra=[enc]))
    assert refused == []
    assert [(i.patient_id, i.resource) for i in ignored] == [("E-1", "Encounter/enc")]


def test_reads_bundles_ndjson_and_folders(tmp_path: Path, ehr_bundle):
    b = ehr_bundle()
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "a.json", b)
    lines = [json.dumps(e["resource"]) for e in ehr_bundle("E-9")["entry"]]
    (folder / "b.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    records, refused, _, _, _ = map_resources(read_paths([str(folder)]))
    assert refused == [] and sorted(r.id for _, r in records) == ["E-1", "E-9"]


def test_cli_import_enrolls_and_refuses_with_exit_2(tmp_path: Path, db: str, ehr_bundle):
    good, bad = ehr_bundle("E-2"), ehr_bundle("E-1", phq9=300)
    path = write(tmp_path / "b.json", {**good, "entry": good["entry"] + bad["entry"]})
    dry = runner.invoke(app, ["fhir", "import", str(path), "--db", db, "--dry-run", "--json"])
    assert dry.exit_code == 2
    assert json.loads(dry.stdout)["imported"] == ["E-2"]
    svc = Services.from_url(db)
    assert svc.uow is not None
    with svc.uow as uow:
        assert uow.patients.existing(["E-1", "E-2"]) == set()  # dry run wrote nothing
    done = runner.invoke(app, ["fhir", "import", str(path), "--db", db, "--json"])
    assert done.exit_code == 2
    report = json.loads(done.stdout)
    assert report["imported"] == ["E-2"]
    assert report["refused"][0]["resource"] == "Observation/E-1-phq"
    assert "PHQ-9 score 300" in done.stderr
    assert svc.record_of("E-2").trials[0].drug == "sertraline"
    with svc.uow as uow:
        assert uow.patients.existing(["E-1", "E-2"]) == {"E-2"}
    svc.close()


def test_cli_missing_path_exits_2(tmp_path: Path, db: str):
    result = runner.invoke(app, ["fhir", "import", str(tmp_path / "nope.json"), "--db", db])
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_medication_reference_to_a_contained_or_bundled_medication(ehr_bundle):
    med = {
        "resourceType": "Medication",
        "id": "med-1",
        "code": {"coding": [{"system": c.RXNORM, "code": "349332"}]},
    }  # escitalopram 10 MG
    by_bundle = {
        "resourceType": "MedicationStatement",
        "id": "ms-1",
        "status": "active",
        "subject": {"reference": "Patient/E-1"},
        "effectiveDateTime": "2025-03-01",
        "medicationReference": {"reference": "Medication/med-1"},
        "dosage": [{"doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}],
    }
    contained = {
        **by_bundle,
        "id": "ms-2",
        "contained": [{**med, "id": "m"}],
        "medicationReference": {"reference": "#m"},
        "effectiveDateTime": "2025-04-01",
    }
    records, refused, ignored, _, _ = _map(ehr_bundle(extra=[med, by_bundle, contained]))
    assert refused == [] and ignored == []
    lex = [t for t in records[0][1].trials if t.drug == "escitalopram"]
    assert [(t.start.isoformat(), t.doses[0].mg_per_day) for t in lex] == [
        ("2025-03-01", 10.0),
        ("2025-04-01", 10.0),
    ]
    dangling = {**by_bundle, "medicationReference": {"reference": "Medication/nope"}}
    _, refused, _, _, _ = _map(ehr_bundle(extra=[dangling]))
    assert [(r.path, r.reason) for r in refused] == [
        ("medicationReference", "no Medication 'Medication/nope' in the input")
    ]


# -- the patient id: only the pathway's pseudonymous identifier, never an MRN ---------------

MRN = {"system": "urn:mrn", "value": "MRN-998877"}


def _with_identifiers(bundle, identifiers):
    """The bundle with its (first) Patient's identifiers replaced."""
    patient = bundle["entry"][0]["resource"]
    assert patient["resourceType"] == "Patient"
    if identifiers is None:
        patient.pop("identifier", None)
    else:
        patient["identifier"] = identifiers
    return bundle


def _shown(*things) -> str:
    """Everything a report shows, as text (to check that the MRN appears nowhere)."""
    return " ".join(repr(t) for t in things)


@pytest.mark.parametrize(
    ("identifiers", "words"),
    [
        ([MRN], "identifier of system urn:mrn is not the pathway's pseudonymous id"),
        (None, "the Patient has no identifier"),
        ([{"system": c.ID_PATIENT}], "has no value"),
        (
            [{"system": c.ID_PATIENT, "value": "P-1"}, {"system": c.ID_PATIENT, "value": "P-2"}],
            "2 different values",
        ),
    ],
    ids=["mrn-only", "no-identifier", "pathway-id-without-value", "two-pathway-ids"],
)
def test_a_patient_without_the_pathway_id_is_refused_and_no_other_id_stands_in(
    ehr_bundle, identifiers, words
):
    good = ehr_bundle("E-2")
    bad = _with_identifiers(ehr_bundle("E-1"), identifiers)
    records, refused, ignored, _, _ = _map({**good, "entry": good["entry"] + bad["entry"]})
    assert [r.id for _, r in records] == ["E-2"]  # the other patient is imported
    (why,) = refused
    assert why.patient_id is None  # neither the MRN nor Patient.id ("E-1") stands in
    assert (why.resource, why.path.split("[")[0]) == ("Patient/E-1", "identifier")
    assert c.ID_PATIENT in why.reason and words in why.reason
    assert "MRN-998877" not in _shown(records, refused, ignored)


def test_the_mrn_is_refused_even_when_another_resource_is_refused_too(ehr_bundle):
    bad = _with_identifiers(ehr_bundle("E-1", phq9=300), [MRN])
    records, refused, ignored, _, _ = _map(bad)
    assert records == []
    assert sorted((r.resource, r.path) for r in refused) == [
        ("Observation/E-1-phq", "valueInteger"),
        ("Patient/E-1", "identifier"),
    ]
    assert all(r.patient_id is None for r in refused)
    assert "MRN-998877" not in _shown(refused, ignored)


def test_the_pathway_identifier_is_the_id_not_patient_id(ehr_bundle):
    b = _with_identifiers(ehr_bundle("E-1"), [{"system": c.ID_PATIENT, "value": "P-0042"}])
    records, refused, _, _, _ = _map(b)
    assert refused == [] and [r.id for _, r in records] == ["P-0042"]


def test_a_patient_with_an_mrn_and_the_pathway_id_gets_the_pathway_id(ehr_bundle):
    ids = [MRN, {"system": c.ID_PATIENT, "value": "P-0042"}]  # the MRN first
    records, refused, ignored, _, _ = _map(_with_identifiers(ehr_bundle("E-1"), ids))
    assert refused == [] and [r.id for _, r in records] == ["P-0042"]
    assert "MRN-998877" not in _shown(records, ignored)


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        (
            {"resourceType": "Patient", "id": "E-1", "identifier": [{**MRN, "value": 998877}]},
            "identifier.0.value",
        ),
        (
            {"resourceType": "Patient", "id": "E-1", "name": [{"family": ["Smith"]}]},
            "name.0.family",
        ),
        (
            {
                "resourceType": "Observation",
                "id": "o",
                "status": "final",
                "code": {"text": "PHQ-9"},
                "subject": {"identifier": {**MRN, "value": ["MRN-998877"]}},
            },
            "subject.identifier.value",
        ),
    ],
    ids=["patient-identifier", "patient-name", "subject-identifier"],
)
def test_invalid_fhir_refusals_do_not_quote_identifying_values(resource, path):
    _, refused, ignored, _, _ = _map(resource)
    (why,) = refused
    assert why.path == path and "value not shown" in why.reason
    for secret in ("998877", "Smith"):
        assert secret not in _shown(refused, ignored)


def test_invalid_fhir_refusals_still_quote_clinical_values(ehr_bundle):
    _, refused, _, _, _ = _map(ehr_bundle("E-1", phq9="x"))
    (why,) = refused
    assert why.path == "valueInteger" and "got 'x'" in why.reason


def _db_bytes(tmp_path: Path) -> bytes:
    return b"".join(f.read_bytes() for f in tmp_path.glob("pathway.db*"))


def test_cli_refuses_a_patient_with_only_an_mrn_and_writes_nothing(
    tmp_path: Path, db: str, ehr_bundle
):
    path = write(tmp_path / "b.json", _with_identifiers(ehr_bundle("E-1"), [MRN]))
    for extra in ([], ["--json"]):
        result = runner.invoke(app, ["fhir", "import", str(path), "--db", db, *extra])
        assert result.exit_code == 2
        assert "identifier" in result.stderr and "urn:mrn" in result.stderr
        assert c.ID_PATIENT in result.stderr
        assert "MRN-998877" not in result.stdout + result.stderr
    svc = Services.from_url(db)
    assert svc.uow is not None
    with svc.uow as uow:
        assert uow.patients.existing(["MRN-998877", "E-1"]) == set()
    svc.close()
    assert b"MRN-998877" not in _db_bytes(tmp_path)


def test_cli_enrolls_by_the_pathway_id_when_an_mrn_is_also_given(
    tmp_path: Path, db: str, ehr_bundle
):
    ids = [MRN, {"system": c.ID_PATIENT, "value": "P-0042"}]
    path = write(tmp_path / "b.json", _with_identifiers(ehr_bundle("E-1"), ids))
    result = runner.invoke(app, ["fhir", "import", str(path), "--db", db, "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["imported"] == ["P-0042"]
    assert "MRN-998877" not in result.stdout + result.stderr
    svc = Services.from_url(db)
    assert svc.record_of("P-0042").trials[0].drug == "sertraline"
    svc.close()
    assert b"MRN-998877" not in _db_bytes(tmp_path)
