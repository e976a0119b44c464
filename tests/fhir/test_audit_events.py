"""`pathway fhir audit`: the access audit as FHIR R4 AuditEvents (mapping.md: type `rest`,
action R/C/U/E, agent, entity = Patient), oldest first, filtered, deterministic."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.fhir import codes as c
from engine.fhir.audit import action_code
from engine.store.db import make_engine
from engine.web.accounts import Accounts, Principal, Role

runner = CliRunner()
DAY = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def _clock(start: dt.datetime) -> Iterator[dt.datetime]:
    at = start
    while True:
        yield at
        at += dt.timedelta(hours=13)


@pytest.fixture
def audited(db: str) -> str:
    """A database whose access audit holds a login, reads, writes, a refusal and a list."""
    engine = make_engine(db)
    ticks = _clock(DAY)
    accounts = Accounts(engine, now=lambda: next(ticks))
    ana, api = Principal("ana", Role.coordinator), Principal("ehr-app", Role.coordinator)
    accounts.audit(ana, "login")  # 03-02 09:30
    accounts.audit(ana, "patient_view", patient_id="P-1")  # 03-02 22:30
    accounts.audit(ana, "advance", patient_id="P-1")  # 03-03 11:30
    accounts.audit(api, "api.enroll", patient_id="P-2")  # 03-04 00:30
    accounts.audit(api, "api.advance", patient_id="P-2", outcome="stale")  # 03-04 13:30
    accounts.audit(ana, "worklist", cohort={"kinds": ["evaluation_due"], "page": 1})
    accounts.audit(None, "login", outcome="refused", actor="mallory")  # 03-05 15:30
    engine.dispose()
    return db


def _events(*args: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["fhir", "audit", *args])
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_every_row_is_a_valid_r4_audit_event_oldest_first(audited: str):
    from fhir.resources.R4B.auditevent import AuditEvent

    events = _events("--db", audited)
    assert len(events) == 7
    for e in events:
        AuditEvent.model_validate(e)
        assert e["type"]["code"] == "rest"
    recorded = [e["recorded"] for e in events]
    assert recorded == sorted(recorded)
    assert recorded[0] == "2026-03-02T09:30:00+00:00"
    assert [e["action"] for e in events] == ["E", "R", "U", "C", "U", "R", "E"]
    assert [e["outcome"] for e in events] == ["0", "0", "0", "0", "4", "0", "4"]
    assert events[4]["outcomeDesc"] == "stale"
    assert [e["subtype"][0]["code"] for e in events][:3] == ["login", "patient_view", "advance"]


def test_agent_and_entities_name_the_user_and_the_pseudonymous_patient_only(audited: str):
    view, listing, refused = (_events("--db", audited)[i] for i in (1, 5, 6))
    (agent,) = view["agent"]
    assert agent["who"]["identifier"] == {"system": c.ID_USER, "value": "ana"}
    assert agent["requestor"] is True
    assert agent["role"][0]["coding"][0]["code"] == "coordinator"
    (patient,) = view["entity"]
    assert patient["what"]["identifier"] == {"system": c.ID_PATIENT, "value": "P-1"}
    assert patient["role"]["display"] == "Patient"
    assert set(patient["what"]) == {"reference", "identifier"}  # nothing else identifies them
    (query,) = listing["entity"]
    assert query["role"]["code"] == "24"  # a query: the list's filter, as recorded
    assert json.loads(query["detail"][0]["valueString"]) == {"kinds": ["evaluation_due"], "page": 1}
    assert refused["agent"][0]["who"]["identifier"]["value"] == "mallory"
    assert "role" not in refused["agent"][0] and "entity" not in refused


def test_filters_by_day_user_patient_and_action(audited: str):
    def ids(*args: str) -> list[str]:
        return [e["subtype"][0]["code"] for e in _events("--db", audited, *args)]

    # --until is the last day included; 03-03 holds one row, 03-04 two
    assert ids("--since", "2026-03-03", "--until", "2026-03-04") == [
        "advance",
        "api.enroll",
        "api.advance",
    ]
    assert ids("--user", "ehr-app") == ["api.enroll", "api.advance"]
    assert ids("--patient", "P-1") == ["patient_view", "advance"]
    assert ids("--action", "login") == ["login", "login"]
    assert ids("--since", "2026-04-01") == []


def test_the_same_audit_gives_the_same_bytes(audited: str):
    first = runner.invoke(app, ["fhir", "audit", "--db", audited])
    again = runner.invoke(app, ["fhir", "audit", "--db", audited, "--json"])
    assert first.exit_code == again.exit_code == 0
    assert first.stdout == again.stdout and first.stdout.count("\n") == 7


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--since", "2026-03-05", "--until", "2026-03-01"], "--until"),
        (["--since", "2026-13-01"], "--since"),
    ],
)
def test_a_bad_window_is_refused_by_name(audited: str, args: list[str], named: str):
    result = runner.invoke(app, ["fhir", "audit", "--db", audited, *args])
    assert result.exit_code == 2
    assert named in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    ("action", "code"),
    [
        ("api.enroll", "C"),
        ("token_create", "C"),
        ("record_phq9", "U"),
        ("override", "U"),
        ("token_revoke", "U"),
        ("api.assess", "E"),
        ("logout", "E"),
        ("api.export.cohort.csv", "R"),
        ("audit_view", "R"),
    ],
)
def test_action_codes(action: str, code: str):
    assert action_code(action) == code
