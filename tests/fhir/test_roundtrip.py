"""Export then import gives back the same patient record (property test over generated records)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from engine.fhir.export import export_record
from engine.fhir.importing import map_resources
from engine.fhir.reading import _flatten
from pathway.record import load_record, parse_record

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "record_strategies", ROOT / "tests" / "pathway" / "test_properties.py"
)
assert _spec is not None and _spec.loader is not None
_props = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_props)
records = _props.records  # the generator of valid records the core's property tests use


def _round_trip(rec):
    bundle = json.loads(json.dumps(export_record(rec)))  # through JSON, as a file would be
    got, refused, _, _, _ = map_resources(_flatten("bundle.json", bundle))
    assert refused == []
    assert len(got) == 1
    return got[0][1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_export_then_import_gives_back_the_same_record(raw):
    rec = parse_record(raw)
    assert _round_trip(rec) == rec


def test_examples_round_trip():
    for f in sorted((ROOT / "examples").glob("*.json")):
        rec = load_record(f)
        assert _round_trip(rec) == rec, f.name


def test_export_is_deterministic_and_validates_with_r4b():
    from fhir.resources.R4B.bundle import Bundle

    rec = load_record(ROOT / "examples" / "04-two-adequate-failures.json")
    a, b = export_record(rec), export_record(rec)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    Bundle.model_validate(a)
    kinds = [e["resource"]["resourceType"] for e in a["entry"]]
    assert kinds[0] == "Patient" and "MedicationStatement" in kinds
    patient = a["entry"][0]["resource"]
    assert patient["identifier"][0]["value"] == rec.id
    assert set(patient) <= {"resourceType", "id", "identifier", "gender", "birthDate"}
    statement = next(
        e["resource"] for e in a["entry"] if e["resource"]["resourceType"] == "MedicationStatement"
    )
    trial = rec.trials[0]
    assert len(statement["dosage"]) == len(trial.doses)  # one dosage per dose step
