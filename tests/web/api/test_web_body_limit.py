"""Request bodies over the limit (`pathway serve --max-body-mb`, default 1 MiB) are refused with
413, declared or chunked, on the API and the pages, and nothing is written."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.web import create_app
from engine.web.accounts import Role
from engine.web.body_limit import DEFAULT_MAX_BODY
from tests.web.api.conftest import EXAMPLES, PATIENT, Clinic

MIB = 1 << 20


@pytest.fixture
def example() -> Path:
    found = sorted(EXAMPLES.glob("*.json"))
    assert found
    return found[0]


def _enroll_body(example: Path, pid: str, pad: int) -> bytes:
    record = json.loads(example.read_text(encoding="utf-8"))
    record["id"] = pid
    record["padding"] = "n" * pad
    return json.dumps({"patient_id": pid, "record": record}).encode()


def _enrolled(clinic: Clinic, pid: str) -> bool:
    r = clinic.api(Role.coordinator).get(f"/api/v1/patients/{pid}")
    return r.status_code == 200


def test_a_declared_body_over_the_limit_is_413_before_it_is_read(
    clinic: Clinic, example: Path
) -> None:
    body = _enroll_body(example, "BIG-01", DEFAULT_MAX_BODY)
    r = clinic.api(Role.coordinator).post(
        "/api/v1/patients", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["title"] == "Content too large" and problem["status"] == 413
    assert f"{len(body):,} bytes" in problem["detail"] and "1,048,576 bytes" in problem["detail"]
    assert r.headers["x-content-type-options"] == "nosniff"  # the usual headers
    assert not _enrolled(clinic, "BIG-01")


def test_a_chunked_body_is_counted_as_it_arrives(clinic: Clinic, example: Path) -> None:
    body = _enroll_body(example, "BIG-02", 2 * MIB)

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    r = clinic.api(Role.coordinator).post(
        "/api/v1/patients", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in r.request.headers
    assert r.status_code == 413
    assert "more than 1,048,576 bytes" in r.json()["detail"]
    assert not _enrolled(clinic, "BIG-02")


def test_a_body_under_the_limit_is_read_as_usual(clinic: Clinic, example: Path) -> None:
    body = _enroll_body(example, "BIG-03", DEFAULT_MAX_BODY - 64 * 1024)
    r = clinic.api(Role.coordinator).post(
        "/api/v1/patients", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422  # judged by the record's rules: `padding` is no field of it
    assert "padding" in r.text


def test_a_page_form_over_the_limit_gets_a_413_page(clinic: Clinic) -> None:
    browser = clinic.browser(Role.coordinator)
    version = clinic.version()
    r = browser.post(
        f"/patients/{PATIENT}/record/measurement",
        data={"csrf_token": "x", "note": "n" * (DEFAULT_MAX_BODY + 1)},
    )
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("text/html")
    assert "<h1>413 Content too large</h1>" in r.text
    assert clinic.version() == version


def test_the_limit_is_set_per_app(make_clinic: Callable[..., Clinic], sqlite_url: str,
                                  example: Path) -> None:  # fmt: skip
    clinic = make_clinic(sqlite_url, max_body_mb=2)
    body = _enroll_body(example, "BIG-04", int(1.5 * MIB))
    r = clinic.api(Role.coordinator).post(
        "/api/v1/patients", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422  # over the default, under this app's 2 MiB
    with pytest.raises(ValueError, match=r"--max-body-mb: 0 is out of range \(1 to 100\)"):
        create_app(sqlite_url, max_body_mb=0)
