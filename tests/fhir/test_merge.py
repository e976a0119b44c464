"""Importing into an enrolled patient adds facts through the engine (never rewrites the log)."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

from fhir_support import write
from hypothesis import HealthCheck, assume, given, settings
from typer.testing import CliRunner

from engine.cli import app
from engine.factlog import header_of, parse_facts, rebuild
from engine.fhir.export import export_record
from engine.fhir.merge import new_facts
from engine.services import Services
from pathway.record import load_record, parse_record

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "04-two-adequate-failures.json"
_spec = importlib.util.spec_from_file_location(
    "record_strategies_merge", ROOT / "tests" / "pathway" / "test_properties.py"
)
assert _spec is not None and _spec.loader is not None
_props = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_props)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_props.records)
def test_facts_from_an_empty_record_rebuild_the_record(raw):
    rec = parse_record(raw)
    # the log keeps one procedure per (kind, start): a later entry replaces an earlier one
    assume(len({(p.kind, p.start) for p in rec.procedures}) == len(rec.procedures))
    empty = parse_record({"id": rec.id})
    facts = new_facts(empty, incoming=rec)
    if facts:
        parse_facts(facts)  # every payload is a valid fact
    assert parse_record(rebuild(rec.id, header_of(empty), facts)) == rec
    assert new_facts(rec, incoming=rec) == []


def _bundle_with(tmp_path: Path, rec_data: dict) -> Path:
    return write(tmp_path / "b.json", export_record(parse_record(rec_data)))


def test_a_new_score_is_added_to_an_enrolled_patient(tmp_path: Path, db: str):
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert (
        runner.invoke(
            app, ["enroll", data["id"], "--record", str(EXAMPLE), "--db", db], env={"USER": "t"}
        ).exit_code
        == 0
    )
    newer = copy.deepcopy(data)
    newer["measurements"].append({"date": "2026-05-20", "instrument": "PHQ-9", "score": 6})
    path = _bundle_with(tmp_path, newer)
    dry = runner.invoke(app, ["fhir", "import", str(path), "--db", db, "--dry-run", "--json"])
    assert json.loads(dry.stdout)["updated"] == [data["id"]]
    done = runner.invoke(app, ["fhir", "import", str(path), "--db", db, "--json"])
    report = json.loads(done.stdout)
    assert done.exit_code == 0, done.stderr
    assert (report["updated"], report["facts_added"], report["imported"]) == ([data["id"]], 1, [])
    svc = Services.from_url(db)
    assert svc.record_of(data["id"]) == parse_record(newer)
    svc.close()
    again = json.loads(
        runner.invoke(app, ["fhir", "import", str(path), "--db", db, "--json"]).stdout
    )
    assert again["unchanged"] == [data["id"]] and again["facts_added"] == 0


def test_a_contradicting_trial_refuses_the_patient(tmp_path: Path, db: str):
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    runner.invoke(
        app, ["enroll", data["id"], "--record", str(EXAMPLE), "--db", db], env={"USER": "t"}
    )
    changed = copy.deepcopy(data)
    changed["trials"][0]["doses"][0]["mg_per_day"] *= 2
    changed["measurements"].append({"date": "2026-05-20", "instrument": "PHQ-9", "score": 6})
    result = runner.invoke(
        app, ["fhir", "import", str(_bundle_with(tmp_path, changed)), "--db", db, "--json"]
    )
    assert result.exit_code == 2
    (refusal,) = json.loads(result.stdout)["refused"]
    assert "differs from the stored one" in refusal["reason"]
    svc = Services.from_url(db)
    assert svc.record_of(data["id"]) == load_record(EXAMPLE)  # nothing written
    svc.close()
