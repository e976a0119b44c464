"""The API as an integrating app meets it: every bad input is a problem naming the field and the
value (strict JSON, nothing written), unknown filters are refused rather than answered empty,
the OpenAPI document says what the routes answer, and an unexpected error is a 500 problem
logged without patient data."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from engine import FixedClock, Services
from engine.web import create_app
from engine.web.accounts import Role
from tests.web.api.conftest import PATIENT, TODAY, Clinic, seed

PROBLEM = "application/problem+json"


@pytest.fixture
def clinic(sqlite_url: str) -> Iterator[Clinic]:
    tokens = seed(sqlite_url)
    app = create_app(sqlite_url, clock=FixedClock(TODAY))
    yield Clinic(sqlite_url, app, tokens)
    app.state.web.engine.dispose()
    app.state.web.accounts.engine.dispose()
    app.state.web.accounts.audit_engine.dispose()


def _strict(text: str) -> Any:
    """Parse as strict JSON (RFC 8259 has no NaN or Infinity)."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = _strict(r.text)
    assert body["status"] == status
    return body


def _field(body: dict[str, Any]) -> tuple[str, Any]:
    error = body["errors"][0]
    return error["field"], error["value"]


def _last_audit(clinic: Clinic) -> dict[str, Any]:
    row: dict[str, Any] = clinic.accounts.audit_log(limit=1)[0]
    return row


def test_a_body_that_is_not_json_names_the_body_and_writes_nothing(clinic: Clinic) -> None:
    v = clinic.version()
    r = clinic.api(Role.coordinator).post(
        f"/api/v1/patients/{PATIENT}/facts",
        content=b'{"facts": [',
        headers={"If-Match": f'"{v}"', "Content-Type": "application/json"},
    )
    body = _problem(r, 422)
    assert body["errors"][0]["field"] == "body"  # not "11", the character offset
    assert "not valid JSON" in body["errors"][0]["message"]
    assert "character 11" in body["errors"][0]["message"]
    assert clinic.version() == v


def test_nan_in_the_input_is_named_in_strict_json(clinic: Clinic) -> None:
    raw = (
        b'{"patient_id": "NEW-1", "record": {"id": "NEW-1", "labs": [{"date": "2026-01-01",'
        b' "test": "TSH", "value": NaN, "unit": "mIU/L"}]}}'
    )
    c = clinic.api(Role.coordinator)
    r = c.post("/api/v1/patients", content=raw, headers={"Content-Type": "application/json"})
    assert _field(_problem(r, 422)) == ("labs[0].value", "nan")
    _problem(c.get("/api/v1/patients/NEW-1"), 404)


def test_a_future_dated_fact_is_named_where_it_was_sent(clinic: Clinic) -> None:
    v, c = clinic.version(), clinic.api(Role.coordinator)
    facts = [
        {"fact": "measurement", "date": "2026-01-02", "instrument": "PHQ-9", "score": 12},
        {"fact": "measurement", "date": "2999-01-01", "instrument": "PHQ-9", "score": 11},
    ]
    r = c.post(
        f"/api/v1/patients/{PATIENT}/facts", json={"facts": facts}, headers={"If-Match": f'"{v}"'}
    )
    assert _field(_problem(r, 422)) == ("[1].date", "2999-01-01")  # not `effective`: not sent
    assert clinic.version() == v
    score = {"date": "2999-01-01", "instrument": "PHQ-9", "score": 11}
    record = {"id": "NEW-3", "measurements": [score]}
    r = c.post("/api/v1/patients", json={"patient_id": "NEW-3", "record": record})
    assert _field(_problem(r, 422)) == ("record", "2999-01-01")
    _problem(c.get("/api/v1/patients/NEW-3"), 404)


def test_a_malformed_patient_id_at_enrollment_is_named_with_its_value(clinic: Clinic) -> None:
    c = clinic.api(Role.coordinator)
    r = c.post("/api/v1/patients", json={"patient_id": "NEW 2"})
    assert _field(_problem(r, 422)) == ("patient_id", "NEW 2")
    _problem(c.get("/api/v1/patients/NEW%202"), 404)


def test_an_as_of_before_the_patient_was_there_names_as_of(clinic: Clinic) -> None:
    c = clinic.api(Role.coordinator)
    status = _problem(c.get(f"/api/v1/patients/{PATIENT}?as_of=2000-01-01"), 422)
    assert _field(status) == ("as_of", "2000-01-01")
    diagram = _problem(
        c.get(f"/api/v1/patients/{PATIENT}/diagram?format=json&as_of=2000-01-01"), 422
    )
    assert _field(diagram) == ("as_of", "2000-01-01")


@pytest.mark.parametrize(
    ("url", "field", "value"),
    [
        ("/api/v1/caseload?state=nowhere", "state", "nowhere"),
        ("/api/v1/board?version=9.9", "version", "9.9"),
        ("/api/v1/cohort/diagram?format=json&version=9.9", "version", "9.9"),
    ],
    ids=["caseload-state", "board-version", "cohort-version"],
)
def test_an_unknown_filter_is_refused_naming_the_query_parameter(
    clinic: Clinic, url: str, field: str, value: str
) -> None:
    r = clinic.api(Role.coordinator).get(url)
    assert _field(_problem(r, 422)) == (field, value)
    assert _last_audit(clinic)["outcome"] == "invalid"


def test_a_known_filter_still_answers(clinic: Clinic) -> None:
    c = clinic.api(Role.coordinator)
    assert c.get("/api/v1/caseload?state=initial_trial").json()["total"] > 0
    assert c.get("/api/v1/cohort/diagram?format=json&version=1.1.0").status_code == 200


def test_the_openapi_document_says_what_the_routes_answer(clinic: Clinic) -> None:
    c = clinic.api(Role.coordinator)
    paths = c.get("/api/v1/openapi.json").json()["paths"]
    enroll = paths["/api/v1/patients"]["post"]["responses"]
    assert {"201", "409", "422"} <= set(enroll) and not {"404", "412", "428"} & set(enroll)
    for path in ("/api/v1/worklist", "/api/v1/board", "/api/v1/caseload", "/api/v1/audit"):
        assert "404" not in paths[path]["get"]["responses"], path
    for path, url in (
        ("/api/v1/patients/{patient_id}/diagram", f"/api/v1/patients/{PATIENT}/diagram"),
        ("/api/v1/cohort/diagram", "/api/v1/cohort/diagram"),
    ):
        documented = paths[path]["get"]["responses"]["200"]["content"]
        for fmt in ("svg", "dot", "mermaid", "json"):
            media = c.get(url, params={"format": fmt}).headers["content-type"].split(";")[0]
            assert media in documented, (path, fmt, media)
    for path, model in (
        ("/api/v1/patients/{patient_id}/assess", "Assessment"),
        ("/api/v1/worklist", "Worklist"),
    ):
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model}"}


def test_a_refused_write_is_audited_by_its_status(clinic: Clinic) -> None:
    c = clinic.api(Role.coordinator)
    _problem(c.post(f"/api/v1/patients/{PATIENT}/advance", json={"trigger": "reassess"}), 428)
    assert _last_audit(clinic)["outcome"] == "refused"
    r = c.post(
        f"/api/v1/patients/{PATIENT}/advance",
        json={"trigger": "reassess"},
        headers={"If-Match": "seven"},
    )
    _problem(r, 422)
    assert _last_audit(clinic)["outcome"] == "invalid"


def test_an_unexpected_error_is_a_500_problem_logged_without_patient_data(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: Services, patient_id: str, **_: Any) -> Any:
        raise sa.exc.OperationalError(
            "SELECT * FROM event WHERE patient_id = ?", (patient_id,), Exception("locked")
        )

    monkeypatch.setattr(Services, "status", broken)
    with caplog.at_level(logging.DEBUG):
        r = clinic.api(Role.coordinator).get(f"/api/v1/patients/{PATIENT}")
    _problem(r, 500)
    assert PATIENT not in r.text
    app_log = "\n".join(  # the server's log, not the test client's request lines
        rec.getMessage() for rec in caplog.records if not rec.name.startswith("httpx")
    )
    assert "OperationalError" in app_log and "api.status" in app_log
    assert PATIENT not in app_log
    assert _last_audit(clinic)["outcome"] == "error"


def test_a_body_that_is_not_utf8_is_a_documented_400_and_writes_nothing(clinic: Clinic) -> None:
    c = clinic.api(Role.coordinator)
    v = clinic.version()
    r = c.post(
        f"/api/v1/patients/{PATIENT}/advance",
        content=b"\x1f\n\xff",
        headers={"If-Match": f'"{v}"', "Content-Type": "application/json"},
    )
    _problem(r, 400)
    assert clinic.version() == v
    paths = c.get("/api/v1/openapi.json").json()["paths"]
    for path in ("/api/v1/patients", "/api/v1/patients/{patient_id}/advance"):
        assert "400" in paths[path]["post"]["responses"], path
        assert "413" in paths[path]["post"]["responses"], path


@pytest.mark.parametrize(
    ("url", "name", "value"),
    [
        (f"/api/v1/patients/{PATIENT}?asof=2026-03-02", "asof", "2026-03-02"),
        ("/api/v1/caseload?limit=2&cursor=abc", "cursor", "abc"),
        ("/api/v1/worklist?page=2", "page", "2"),
        ("/api/v1/quality/measures?from=2025-01-01", "from", "2025-01-01"),
    ],
    ids=["typo", "cursor", "page", "quality"],
)
def test_an_unknown_query_parameter_is_named_not_ignored(
    clinic: Clinic, url: str, name: str, value: str
) -> None:
    body = _problem(clinic.api(Role.coordinator).get(url), 422)
    assert _field(body) == (name, value)
    _problem(clinic.api(None).get(url), 401)  # nobody logged in: still told to authenticate
