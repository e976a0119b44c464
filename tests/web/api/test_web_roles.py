"""Every route × every role (and nobody) against the table of who may do what.

A route missing from the table fails the test, so a new page or endpoint cannot ship unguarded.
Allowed: any answer but 401/403 and below 500 (a 404 or 422 for the test's placeholder input
is fine); refused: exactly 403; nobody: 401 on the API, a redirect to /login on a page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI

from engine.web.accounts import Role
from tests.web.api.conftest import PATIENT, Clinic

C, K, Q, A = Role.coordinator, Role.clinician, Role.quality, Role.admin
PUBLIC = "public"
CLINICAL = (C, K)
AGGREGATES = (C, K, Q)
TABLE: dict[str, tuple[Role, ...] | str] = {
    "GET /api/v1/openapi.json": PUBLIC,
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /api/v1/patients/{patient_id}": CLINICAL,
    "GET /api/v1/patients/{patient_id}/history": CLINICAL,
    "GET /api/v1/patients/{patient_id}/assess": CLINICAL,
    "GET /api/v1/patients/{patient_id}/diagram": CLINICAL,
    "POST /api/v1/patients": CLINICAL,
    "POST /api/v1/patients/{patient_id}/facts": CLINICAL,
    "POST /api/v1/patients/{patient_id}/advance": CLINICAL,
    "POST /api/v1/patients/{patient_id}/override": (K,),
    "GET /api/v1/worklist": CLINICAL,
    "GET /api/v1/caseload": CLINICAL,
    "GET /api/v1/board": AGGREGATES,
    "GET /api/v1/cohort/diagram": AGGREGATES,
    "GET /api/v1/quality/measures": AGGREGATES,
    "GET /api/v1/quality/deviations": AGGREGATES,
    "GET /api/v1/audit": (A,),
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "POST /logout": PUBLIC,
    "GET /": (C, K, Q, A),
    "GET /board": AGGREGATES,
    "GET /board.csv": AGGREGATES,
    "GET /caseload": CLINICAL,
    "GET /worklist": CLINICAL,
    "GET /enroll": CLINICAL,
    "POST /enroll": CLINICAL,
    "GET /patients/{patient_id}": CLINICAL,
    "GET /patients/{patient_id}/path.svg": CLINICAL,
    "POST /patients/{patient_id}/record/{form}": CLINICAL,
    "POST /patients/{patient_id}/advance": CLINICAL,
    "POST /patients/{patient_id}/override": (K,),
    "GET /quality": AGGREGATES,
    "GET /quality/cohort.{ext}": AGGREGATES,
    "GET /quality/definition": AGGREGATES,
    "GET /quality/definition.svg": AGGREGATES,
    "GET /quality/measures": AGGREGATES,
    "GET /quality/deviations": AGGREGATES,
    "GET /admin": (A,),
    "GET /admin/audit": (A,),
    "POST /admin/users": (A,),
    "POST /admin/users/{name}/disabled": (A,),
    "POST /admin/tokens": (A,),
    "POST /admin/tokens/{name}/revoke": (A,),
    "POST /admin/users/{name}/unlock": (A,),
    "POST /admin/password": (A,),
    "GET /account": (C, K, Q, A),
    "POST /account": (C, K, Q, A),
    "MOUNT /static": PUBLIC,
}
PARAMS = {"patient_id": PATIENT, "form": "measurement", "ext": "json", "name": "victim"}


def routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, included routers flattened.

    FastAPI 0.1xx keeps included routers as `_IncludedRouter` entries whose routes come from
    `effective_route_contexts()` (private; fastapi is pinned below 1.0 in pyproject.toml)."""
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        found: list[Any] = (
            [(c.path, c.original_route) for c in contexts()] if contexts else [(None, route)]
        )
        for path, original in found:
            methods = getattr(original, "methods", None)
            full = path or getattr(original, "path", "")
            if methods is None:
                yield "MOUNT", full
            for m in sorted(methods or ()):
                if m != "HEAD":
                    yield m, full


def test_every_route_is_in_the_table(clinic: Clinic) -> None:
    found = {f"{m} {p}" for m, p in routes(clinic.app)}
    assert found - set(TABLE) == set(), "routes missing from the role table"


def test_every_route_answers_every_role_as_the_table_says(clinic: Clinic) -> None:
    clinic.accounts.add_user("victim", role="coordinator", password="victim-password-1")
    clinic.accounts.create_token("victim", role="coordinator")
    clients = {role: clinic.browser(role) for role in (*Role, None)}
    csrf = {
        role: (clinic.accounts.session(c.cookies["pathway_session"]) or ("", ""))[1]
        if role is not None
        else c.cookies.get("pathway_csrf")
        for role, c in clients.items()
    }
    wrong: list[str] = []
    for method, template in sorted(routes(clinic.app)):
        allowed = TABLE[f"{method} {template}"]
        if method == "MOUNT" or (method, template) == ("POST", "/logout"):
            continue  # static files are public; logging out would end the walk's sessions
        path = template.format(**{k: v for k, v in PARAMS.items() if "{" + k + "}" in template})
        api = path.startswith("/api/")
        for role, client in clients.items():
            if method == "GET":
                r = client.get(path)
            elif api:
                headers = {"If-Match": '"1"', "X-CSRF-Token": csrf[role] or ""}
                r = client.post(path, json={}, headers=headers)
            else:
                r = client.post(path, data={"csrf_token": csrf[role]})
            got = r.status_code
            if allowed == PUBLIC or (role is not None and role in allowed):
                ok = got not in (401, 403) and got < 500
                want = "not 401/403, < 500"
            elif role is None:
                ok = got == 401 if api else got == 303 and "/login" in r.headers["location"]
                want = "401" if api else "303 → /login"
            else:
                ok, want = got == 403, "403"
            if not ok:
                who = role.value if role else "nobody"
                wrong.append(f"{method} {path} as {who}: {got}, expected {want}")
    assert wrong == []
