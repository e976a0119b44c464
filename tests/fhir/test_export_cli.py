"""`pathway fhir export` and `plandefinition`: EpisodeOfCare, CarePlan, Provenance, actions."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "04-two-adequate-failures.json"


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"USER": "tester"})
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_export_bundle_has_episode_careplan_and_provenance(db: str):
    from fhir.resources.R4B.bundle import Bundle

    _run("enroll", "EX-04", "--record", str(EXAMPLE), "--db", db)
    _run("advance", "EX-04", "reassess", "--db", db)
    _run(
        "override",
        "EX-04",
        "--to",
        "augment",
        "--reason",
        "case_review",
        "--note",
        "MDT",
        "--db",
        db,
    )
    text = _run("fhir", "export", "EX-04", "--db", db)
    assert text == _run("fhir", "export", "EX-04", "--db", db)  # deterministic
    bundle = json.loads(text)
    Bundle.model_validate(bundle)
    by_type: dict[str, list[dict]] = {}
    for e in bundle["entry"]:
        by_type.setdefault(e["resource"]["resourceType"], []).append(e["resource"])
    (plan,) = by_type["CarePlan"]
    assert plan["instantiatesCanonical"] == ["http://pathway.local/fhir/PlanDefinition/trd|1.1.0"]
    assert plan["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "augment"
    assert len(by_type["EpisodeOfCare"]) == 1
    moves = by_type["Provenance"]
    assert len(moves) == 2
    override = next(p for p in moves if "reason" in p)
    assert override["reason"][0]["coding"][0]["code"] == "case_review"
    assert override["agent"][0]["who"]["display"] == "tester"
    assert all("recorded" in p and "occurredDateTime" in p for p in moves)


def test_exported_bundle_imports_back_into_another_database(tmp_path: Path, db: str):
    _run("enroll", "EX-04", "--record", str(EXAMPLE), "--db", db)
    path = tmp_path / "b.json"
    path.write_text(_run("fhir", "export", "EX-04", "--db", db), encoding="utf-8")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    _run("init-db", "--db", other)
    report = json.loads(_run("fhir", "import", str(path), "--db", other, "--json"))
    assert report["imported"] == ["EX-04"]
    from engine.services import Services
    from pathway.record import load_record

    svc = Services.from_url(other)
    assert svc.record_of("EX-04") == load_record(EXAMPLE)
    svc.close()


def test_plandefinition_validates_and_lists_every_state():
    from fhir.resources.R4B.plandefinition import PlanDefinition

    from pathway.loader import load_definition

    d = load_definition()
    pd = json.loads(_run("fhir", "plandefinition"))
    PlanDefinition.model_validate(pd)
    assert (pd["url"], pd["version"]) == (
        "http://pathway.local/fhir/PlanDefinition/trd",
        d.metadata.version,
    )
    assert [a["code"][0]["coding"][0]["code"] for a in pd["action"]] == [s.id for s in d.states]
    words = [
        cond["expression"]["description"] for a in pd["action"] for cond in a.get("condition", [])
    ]
    assert any("suicidality" in w for w in words)


def test_export_unknown_patient_exits_2(db: str):
    result = runner.invoke(app, ["fhir", "export", "NOPE", "--db", db])
    assert result.exit_code == 2


def test_careplan_activities_are_the_due_items(db: str):
    example = EXAMPLE.parent / "01-incomplete-trial.json"
    _run("enroll", "EX-01", "--record", str(example), "--db", db)
    status = json.loads(_run("status", "EX-01", "--db", db, "--json"))
    bundle = json.loads(_run("fhir", "export", "EX-01", "--db", db))
    (plan,) = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan"
    ]
    assert [a["detail"]["code"]["text"] for a in plan.get("activity", [])] == [
        d["item"] for d in status["due"]
    ]
    assert status["due"], "the example has something due"
