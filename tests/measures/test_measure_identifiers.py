"""Measure output names patients by their pathway id only: a Patient with just an MRN is
counted, as `unidentified:N`, and its MRN and `Patient.id` appear in no output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from measure_support import P2025, PATHWAY_ID, Chart
from typer.testing import CliRunner

from engine.cli import app
from engine.measures import model
from engine.measures.model import patients_from_fhir
from engine.measures.report import evaluate, measure_reports, to_csv

MRN = "http://hospital.example/mrn"
runner = CliRunner()


def _remitted(patient: dict[str, Any]) -> list[dict[str, Any]]:
    """A chart in CMS159's numerator, its Patient resource replaced by `patient`."""
    c = Chart().mdd().visit("2024-03-01").phq9("2024-03-01", 15).phq9("2025-03-01", 3)
    ref = f"Patient/{patient['id']}"
    rest = [
        {**r, "id": f"{patient['id']}-{r['id']}", "subject": {"reference": ref}}
        for r in c.resources[1:]
    ]
    return [{"resourceType": "Patient", "birthDate": "1980-06-15", **patient}, *rest]


# A pathway patient whose first identifier is an MRN, and a patient with only an MRN.
KNOWN = {
    "id": "hosp-1001",
    "identifier": [
        {"system": MRN, "value": "MRN-111111"},
        {"system": PATHWAY_ID, "value": "P-0042"},
    ],
}
MRN_ONLY = {"id": "hosp-2002", "identifier": [{"system": MRN, "value": "MRN-222222"}]}
SECRETS = ("MRN-111111", "MRN-222222", "hosp-1001", "hosp-2002")


def test_the_system_is_the_fhir_packages():
    from engine.fhir.codes import ID_PATIENT

    assert model.PATHWAY_ID_SYSTEM == PATHWAY_ID == ID_PATIENT


def test_an_mrn_only_patient_is_counted_under_an_opaque_label():
    people = patients_from_fhir([*_remitted(MRN_ONLY), *_remitted(KNOWN)])
    assert [p.id for p in people] == ["P-0042", "unidentified:1"]
    assert all(p.of("Observation") and p.of("Encounter") for p in people)
    result = evaluate("CMS159", patients=people, period=P2025)
    (group,) = result["groups"]
    assert group["populations"]["numerator"] == 2 and group["score"] == 1.0


@pytest.mark.parametrize(
    "identifier",
    [
        [],
        [{"system": MRN, "value": "P-0042"}],  # the right value, another system
        [{"system": PATHWAY_ID, "value": "A"}, {"system": PATHWAY_ID, "value": "B"}],
        [{"system": PATHWAY_ID, "value": "Jane Doe"}],  # not the form of a pathway id
        [{"system": PATHWAY_ID, "value": "unidentified:1"}],
        [{"system": PATHWAY_ID}],
    ],
    ids=["none", "other-system", "two-values", "a-name", "a-label", "no-value"],
)
def test_only_one_well_formed_pathway_identifier_keys_a_patient(identifier):
    (p,) = patients_from_fhir(_remitted({"id": "P-0042", "identifier": identifier}))
    assert p.id == "unidentified:1"  # never Patient.id, even one that looks like a pathway id


def test_the_same_pathway_id_twice_is_one_patient_and_labels_follow_input_order():
    again = {"id": "hosp-3003", "identifier": [{"system": PATHWAY_ID, "value": "P-0042"}]}
    other = {"id": "hosp-4004", "identifier": [{"system": MRN, "value": "MRN-444444"}]}
    resources = [*_remitted(MRN_ONLY), *_remitted(KNOWN), *_remitted(again), *_remitted(other)]
    people = patients_from_fhir(resources)
    assert [p.id for p in people] == ["P-0042", "unidentified:1", "unidentified:2"]
    assert len(people[0].of("Observation")) == 4
    # Patient resources sharing their MRN stay one patient, still unnamed.
    twice = patients_from_fhir([*_remitted(MRN_ONLY), *_remitted({**MRN_ONLY, "id": "hosp-5"})])
    assert [p.id for p in twice] == ["unidentified:1"]


def test_labels_sort_by_number_after_pathway_ids():
    labels = ["unidentified:10", "Z-1", "unidentified:2", "A-1", "unidentified:1"]
    assert sorted(labels, key=model.patient_order) == [
        "A-1",
        "Z-1",
        "unidentified:1",
        "unidentified:2",
        "unidentified:10",
    ]


def test_individual_reports_give_the_pathway_system_to_pathway_ids_only():
    people = patients_from_fhir([*_remitted(MRN_ONLY), *_remitted(KNOWN)])
    bundle = measure_reports(evaluate("CMS159", patients=people, period=P2025), kind="individual")
    known, unknown = (e["resource"] for e in bundle["entry"])
    assert known["subject"] == {"identifier": {"system": PATHWAY_ID, "value": "P-0042"}}
    assert unknown["subject"] == {"display": "unidentified:1"}
    assert "identifier" not in json.dumps(unknown)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    entries = [
        {"fullUrl": f"urn:uuid:{r['id']}", "resource": r}
        for r in [*_remitted(MRN_ONLY), *_remitted(KNOWN)]
    ]
    path = tmp_path / "export.json"
    path.write_text(
        json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    "output",
    [["--json"], ["--csv"], ["--measurereport", "individual"], ["--measurereport", "summary"]],
    ids=["json", "csv", "individual", "summary"],
)
def test_cli_output_names_no_mrn_and_is_deterministic(export: Path, output: list[str]):
    args = ["measure", "CMS159", "--fhir", str(export), "--period", "2025-01-01:2025-12-31"]
    first = runner.invoke(app, [*args, *output], env={"USER": "tester"})
    assert first.exit_code == 0, first.stderr
    assert not [s for s in SECRETS if s in first.stdout]
    second = runner.invoke(app, [*args, *output], env={"USER": "tester"})
    assert second.stdout == first.stdout
    if output == ["--csv"]:
        assert first.stdout.splitlines()[1:] == [
            "CMS159,P-0042,remission-12-months,2024-03-01,1,1,0,1",
            "CMS159,unidentified:1,remission-12-months,2024-03-01,1,1,0,1",
        ]
    if output == ["--json"]:
        out = json.loads(first.stdout)
        assert [r["patient"] for r in out["patients"]] == ["P-0042", "unidentified:1"]
        assert out["groups"][0]["populations"]["initial-population"] == 2
    if output[-1] == "individual":
        from fhir.resources.R4B.bundle import Bundle

        Bundle.model_validate(json.loads(first.stdout))


def test_csv_of_the_evaluation_has_no_mrn():
    people = patients_from_fhir([*_remitted(MRN_ONLY), *_remitted(KNOWN)])
    text = to_csv(evaluate("CMS159", patients=people, period=P2025))
    assert not [s for s in SECRETS if s in text] and "unidentified:1" in text
