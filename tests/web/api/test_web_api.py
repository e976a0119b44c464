"""The REST API's contract: ETag / If-Match (412, 428), 422 naming fields, 404, problem+json,
the CLI's JSON contracts, and an audit row for every read, write and export."""

from __future__ import annotations

from typing import Any

import pytest

from engine.web.accounts import Role
from tests.web.api.conftest import PATIENT, Clinic

PHQ9 = {"fact": "measurement", "date": "2026-05-30", "instrument": "PHQ-9", "score": 12}
PROBLEM = "application/problem+json"


def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


def test_status_has_the_cli_contract_and_the_version_as_etag(any_clinic: Clinic) -> None:
    svc = any_clinic.services()
    expected = svc.status(PATIENT).model_dump(mode="json")
    svc.close()
    r = any_clinic.api(Role.coordinator).get(f"/api/v1/patients/{PATIENT}")
    assert r.status_code == 200
    assert r.json() == expected
    assert r.headers["etag"] == f'"{expected["version"]}"'


def test_history_and_assess(clinic: Clinic) -> None:
    c = clinic.api(Role.clinician)
    h = c.get(f"/api/v1/patients/{PATIENT}/history")
    assert h.status_code == 200 and "enrolled" in [e["kind"] for e in h.json()["entries"]]
    a = c.get(f"/api/v1/patients/{PATIENT}/assess", params={"as_of": "2026-06-01"})
    assert a.status_code == 200 and a.json()["as_of"] == "2026-06-01"


def test_a_write_needs_if_match(any_clinic: Clinic) -> None:
    c = any_clinic.api(Role.coordinator)
    before = any_clinic.version()
    body = _problem(c.post(f"/api/v1/patients/{PATIENT}/facts", json={"facts": [PHQ9]}), 428)
    assert "If-Match" in body["detail"]
    assert any_clinic.version() == before  # nothing written


def test_a_stale_write_is_412_naming_both_versions_and_writes_nothing(any_clinic: Clinic) -> None:
    c = any_clinic.api(Role.coordinator)
    v = any_clinic.version()
    ok = c.post(
        f"/api/v1/patients/{PATIENT}/facts", json={"facts": [PHQ9]}, headers={"If-Match": f'"{v}"'}
    )
    assert ok.status_code == 200 and ok.headers["etag"] == f'"{v + 1}"'
    late = c.post(
        f"/api/v1/patients/{PATIENT}/advance",
        json={"trigger": "reassess"},
        headers={"If-Match": f'"{v}"'},
    )
    body = _problem(late, 412)
    assert body["expected_version"] == v and body["current_version"] == v + 1
    assert f"version {v} → {v + 1}" in body["detail"]
    assert any_clinic.version() == v + 1


def test_advance_with_the_current_version_moves(any_clinic: Clinic) -> None:
    c = any_clinic.api(Role.coordinator)
    etag = c.get(f"/api/v1/patients/{PATIENT}").headers["etag"]
    r = c.post(
        f"/api/v1/patients/{PATIENT}/advance",
        json={"trigger": "reassess"},
        headers={"If-Match": etag},
    )
    assert r.status_code == 200, r.text
    assert r.json()["to_state"] == "reassess" and r.json()["kind"] == "transition"


@pytest.mark.parametrize(
    ("path", "body", "field", "value"),
    [
        ("facts", {"facts": [{**PHQ9, "score": 99}]}, "[0].score", 99),
        ("advance", {"trigger": "fly"}, "trigger", "fly"),
        ("advance", {"trigger": "reassess", "effective": "2099-01-01"}, "effective", "2099-01-01"),
        ("advance", {"trigger": "reassess", "extra": 1}, "extra", 1),
        ("advance", {}, "trigger", {}),
    ],
    ids=["score-out-of-range", "unknown-trigger", "future-date", "unknown-field", "missing"],
)
def test_invalid_input_is_422_naming_field_and_value(
    clinic: Clinic, path: str, body: dict[str, Any], field: str, value: Any
) -> None:
    c = clinic.api(Role.coordinator)
    v = clinic.version()
    r = c.post(f"/api/v1/patients/{PATIENT}/{path}", json=body, headers={"If-Match": f'"{v}"'})
    problem = _problem(r, 422)
    assert {"field": field, "value": value} in [
        {"field": e["field"], "value": e["value"]} for e in problem["errors"]
    ], problem
    assert clinic.version() == v


def test_an_unparsable_if_match_is_422(clinic: Clinic) -> None:
    r = clinic.api(Role.coordinator).post(
        f"/api/v1/patients/{PATIENT}/advance",
        json={"trigger": "reassess"},
        headers={"If-Match": "*"},
    )
    assert _problem(r, 422)["errors"][0]["field"] == "If-Match"


def test_unknown_patient_is_404(clinic: Clinic) -> None:
    c = clinic.api(Role.coordinator)
    assert _problem(c.get("/api/v1/patients/NOBODY"), 404)["patient_id"] == "NOBODY"
    r = c.post(
        "/api/v1/patients/NOBODY/advance", json={"trigger": "x"}, headers={"If-Match": '"1"'}
    )
    _problem(r, 404)


def test_a_blocked_move_is_409_with_the_reasons(clinic: Clinic) -> None:
    c = clinic.api(Role.coordinator)
    etag = c.get("/api/v1/patients/EX-01").headers["etag"]
    status = c.get("/api/v1/patients/EX-01").json()
    blocked = [g["trigger"] for g in status["guards"] if g["result"] != "true"]
    if not blocked:
        pytest.skip("every move from EX-01's state is enabled")
    r = c.post(
        "/api/v1/patients/EX-01/advance", json={"trigger": blocked[0]}, headers={"If-Match": etag}
    )
    body = _problem(r, 409)
    assert body["trigger"] == blocked[0] and body["reasons"]


def test_override_is_for_clinicians(clinic: Clinic) -> None:
    v = clinic.version()
    body = {"to": "augment", "reason": "case_review", "note": "MDT decision"}
    headers = {"If-Match": f'"{v}"'}
    coord = clinic.api(Role.coordinator).post(
        f"/api/v1/patients/{PATIENT}/override", json=body, headers=headers
    )
    _problem(coord, 403)
    done = clinic.api(Role.clinician).post(
        f"/api/v1/patients/{PATIENT}/override", json=body, headers=headers
    )
    assert done.status_code == 200 and done.json()["reason_code"] == "case_review"
    bad = clinic.api(Role.clinician).post(
        f"/api/v1/patients/{PATIENT}/override",
        json={**body, "reason": "because"},
        headers={"If-Match": f'"{v + 1}"'},
    )
    assert _problem(bad, 422)["errors"][0] == {
        "field": "reason",
        "value": "because",
        "message": bad.json()["errors"][0]["message"],
    }


def test_enroll_then_read(clinic: Clinic) -> None:
    c = clinic.api(Role.coordinator)
    r = c.post("/api/v1/patients", json={"patient_id": "NEW-1"})
    assert r.status_code == 201 and r.headers["etag"] == '"1"'
    _problem(c.post("/api/v1/patients", json={"patient_id": "NEW-1"}), 409)
    assert c.get("/api/v1/patients/NEW-1").status_code == 200


def test_lists_and_aggregates(clinic: Clinic) -> None:
    c = clinic.api(Role.coordinator)
    w = c.get("/api/v1/worklist", params={"limit": 5})
    assert w.status_code == 200 and len(w.json()["items"]) <= 5
    _problem(c.get("/api/v1/worklist", params={"kind": "nap"}), 422)
    b = c.get("/api/v1/board").json()
    assert b["patients"] == sum(row["patients"] for row in b["rows"])
    page = c.get("/api/v1/caseload", params={"sort": "days", "limit": 3}).json()
    assert page["total"] >= 3 and len(page["rows"]) == 3
    assert [r["days_in_state"] for r in page["rows"]] == sorted(
        (r["days_in_state"] for r in page["rows"]), reverse=True
    )


def test_quality_gets_suppressed_aggregates_and_never_a_patient(clinic: Clinic) -> None:
    q = clinic.api(Role.quality)
    board = q.get("/api/v1/board").json()
    assert board["suppressed"]["threshold"] == 10
    assert all(r["patients"] is None or r["patients"] == 0 for r in board["rows"])  # < 11 each
    assert PATIENT not in q.get("/api/v1/board").text
    assert q.get("/api/v1/cohort/diagram", params={"format": "json"}).status_code == 200
    for path in (f"/api/v1/patients/{PATIENT}", "/api/v1/caseload", "/api/v1/worklist"):
        _problem(q.get(path), 403)


def test_renders(clinic: Clinic) -> None:
    c = clinic.api(Role.coordinator)
    r = c.get(f"/api/v1/patients/{PATIENT}/diagram", params={"format": "mermaid"})
    assert r.status_code == 200 and PATIENT in r.text
    _problem(c.get(f"/api/v1/patients/{PATIENT}/diagram", params={"format": "gif"}), 422)


def test_every_read_write_and_export_is_audited(clinic: Clinic) -> None:
    c = clinic.api(Role.coordinator)
    q = clinic.api(Role.quality)
    etag = c.get(f"/api/v1/patients/{PATIENT}").headers["etag"]
    c.post(f"/api/v1/patients/{PATIENT}/facts", json={"facts": [PHQ9]}, headers={"If-Match": etag})
    c.post(f"/api/v1/patients/{PATIENT}/facts", json={"facts": [PHQ9]}, headers={"If-Match": etag})
    c.get("/api/v1/patients/NOBODY")
    q.get("/api/v1/cohort/diagram", params={"format": "mermaid", "state": "augment"})
    q.get(f"/api/v1/patients/{PATIENT}")
    rows = clinic.accounts.audit_log()[::-1]
    got = [(r["actor"], r["action"], r["patient_id"], r["outcome"]) for r in rows]
    assert got == [
        ("app-coordinator", "api.status", PATIENT, "ok"),
        ("app-coordinator", "api.record", PATIENT, "ok"),
        ("app-coordinator", "api.record", PATIENT, "stale"),
        ("app-coordinator", "api.status", "NOBODY", "not_found"),
        ("app-quality", "api.export.cohort.mermaid", None, "ok"),
        ("app-quality", "GET /api/v1/patients/{patient_id}", PATIENT, "forbidden"),
    ]
    assert rows[4]["cohort"]["state"] == "augment" and rows[4]["role"] == "quality"


def test_the_audit_is_append_only(clinic: Clinic) -> None:
    import sqlalchemy as sa

    clinic.api(Role.coordinator).get(f"/api/v1/patients/{PATIENT}")
    with pytest.raises(sa.exc.DatabaseError), clinic.app.state.web.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE access_audit SET outcome = 'ok'")
    with pytest.raises(sa.exc.DatabaseError), clinic.app.state.web.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM access_audit")


def test_the_cohort_diagram_keeps_its_counts_and_says_when_records_changed(clinic: Clinic) -> None:
    q = clinic.api(Role.quality)
    params = {"format": "json"}
    first = q.get("/api/v1/cohort/diagram", params=params)
    assert first.status_code == 200 and first.headers["x-records-changed-since"] == "false"
    assert first.headers["x-computed-at"].startswith("2026-06-01")
    svc = clinic.services()
    svc.enroll("QC-0001", actor="t")
    svc.close()
    kept = q.get("/api/v1/cohort/diagram", params=params)
    assert kept.headers["x-records-changed-since"] == "true" and kept.json() == first.json()
    again = q.get("/api/v1/cohort/diagram", params={**params, "fresh": "true"})
    assert again.headers["x-records-changed-since"] == "false"
    assert q.get("/api/v1/cohort/diagram", params=params).headers["x-records-changed-since"] == (
        "false"
    )
