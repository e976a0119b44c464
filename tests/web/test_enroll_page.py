"""The enrollment page (`/enroll`): a coordinator enrolls a newly referred patient with
what is known at referral. Success is a 303 to the new patient's page; a refusal writes nothing
and shows the form again with what was typed, each problem named (field, value) in the summary
and next to its field; writers only, CSRF like every form; audited; linked from the caseload."""

from __future__ import annotations

import datetime as dt
import html
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from engine import FixedClock, Services
from engine.enrolling import PATIENT_ID
from engine.web import create_app
from engine.web.accounts import Principal, Role
from engine.web.pages import PAGE_ROLES
from engine.web.pages.enroll import may_enroll
from pathway.errors import UnknownPatient

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from seed import FRESH, PASSWORD, TODAY, USERS, seed

USER_OF = {Role(role): name for name, role in reversed(USERS.items())}  # coord1 for coordinator
WRITERS = (Role.coordinator, Role.clinician)
INTERNAL = re.compile(r"\[\d+\]|measurements\[|trials\[|Field required|Input should")
# a whole referral: the patient, the current trial (a brand name) and a baseline score
FULL = {
    "id": "NEW-0001",
    "sex": "female",
    "birth_year": "1984",
    "effective": "2026-05-20",
    "drug": "Zoloft",
    "start": "2026-04-01",
    "mg_per_day": "100",
    "adherence": "90",
    "instrument": "PHQ-9",
    "score": "19",
    "date": "2026-03-30",
}


def _app(url: str) -> FastAPI:
    seed(url)
    return create_app(url, clock=FixedClock(TODAY))


def _dispose(app: FastAPI) -> None:
    app.state.web.engine.dispose()
    app.state.web.accounts.engine.dispose()
    app.state.web.accounts.audit_engine.dispose()


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FastAPI]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('enroll') / 'clinic.db'}"
    app = _app(url)
    yield url, app
    _dispose(app)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_clinic(request: pytest.FixtureRequest) -> Iterator[tuple[str, FastAPI]]:
    """A seeded clinic of its own, on SQLite, then on PostgreSQL."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    app = _app(url)
    yield url, app
    _dispose(app)


def client(app: FastAPI, role: Role | None) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    token = csrf(c.get("/login").text)
    if role is not None:
        data = {"username": USER_OF[role], "password": PASSWORD, "csrf_token": token}
        assert c.post("/login", data=data).status_code == 303
    return c


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found[1]


def enroll(c: TestClient, data: dict[str, str]) -> tuple[int, str, str]:
    """Open the form and post it: the status, the page (or ''), and where it sends (or '')."""
    page = c.get("/enroll")
    assert page.status_code == 200, page.text
    r = c.post("/enroll", data={**data, "csrf_token": csrf(page.text)})
    return r.status_code, r.text, r.headers.get("location", "")


def services(url: str) -> Services:
    return Services.from_url(url, clock=FixedClock(TODAY))


def enrolled(url: str, pid: str) -> bool:
    svc = services(url)
    try:
        svc.status(pid)
    except UnknownPatient:
        return False
    finally:
        svc.close()
    return True


def last_audit(app: FastAPI, **filters: str) -> dict[str, object]:
    rows = app.state.web.accounts.audit_log(action="enroll", limit=1, **filters)
    assert rows, filters
    found: dict[str, object] = rows[0]
    return found


def summary_of(page: str) -> list[str]:
    main = page.split('<main id="main"', 1)[1]
    alert = re.search(r'<div class="alert" role="alert">(.*?)</div>', main, re.S)
    assert alert is not None, "no summary of what was refused"
    assert main.index('role="alert"') < main.index("<form"), "the summary is above the form"
    return [
        html.unescape(re.sub(r"<[^>]+>", "", li)) for li in re.findall(r"<li>(.*?)</li>", alert[1])
    ]


def field_error(page: str, element: str) -> str:
    """The message shown next to a field, checking the field points at it."""
    tag = re.search(rf'<(?:input|select)[^>]*id="{element}"[^>]*>', page)
    assert tag is not None, element
    assert 'aria-invalid="true"' in tag[0] and f"{element}-error" in tag[0], tag[0]
    shown = re.search(rf'<span id="{element}-error" class="field-error">(.*?)</span>', page)
    assert shown is not None, element
    return html.unescape(shown[1])


def kept(page: str, name: str, value: str) -> bool:
    """The form shows `value` again in the field called `name` (an input, or a select)."""
    shown = html.escape(value)
    single = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    if single is not None:
        return f'value="{shown}"' in single[0]
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    return select is not None and f'<option value="{shown}" selected>' in select[1]


# -- the form -----------------------------------------------------------------------------------


def test_the_form_is_its_own_page_outside_the_patients_pages(clinic: tuple[str, FastAPI]) -> None:
    _, app = clinic
    c = client(app, Role.coordinator)
    r = c.get("/enroll")
    assert r.status_code == 200
    assert "<h1>Enroll a patient</h1>" in r.text and "<title>Enroll a patient · pathway" in r.text
    # the enrollment date defaults to today by the app's clock, and cannot be in the future
    date = re.search(r'<input type="date" id="patient-effective"[^>]*>', r.text)
    assert date is not None
    assert f'value="{TODAY.isoformat()}"' in date[0] and f'max="{TODAY.isoformat()}"' in date[0]
    # drugs and instruments come from the definition's catalog
    drugs = re.search(r'<datalist id="trial-drugs">(.*?)</datalist>', r.text, re.S)
    assert drugs is not None and '<option value="sertraline">SSRI</option>' in drugs[1]
    assert "aripiprazole" not in drugs[1]  # an augmentation agent is not a first trial
    assert 'list="trial-drugs"' in r.text
    assert '<option value="PHQ-9">PHQ-9 (0–27)</option>' in r.text
    assert 'name="csrf_token"' in r.text and 'action="/enroll"' in r.text
    # the optional parts ask for nothing until something is typed in them
    for element in ("trial-drug", "trial-start", "trial-mg_per_day", "baseline-score"):
        tag = re.search(rf'<input[^>]*id="{element}"[^>]*>', r.text)
        assert tag is not None and " required" not in tag[0], element
    patient = c.get(f"/patients/{FRESH}")
    assert patient.status_code == 200 and f"<h1>Patient {FRESH}</h1>" in patient.text


@pytest.mark.parametrize("pid", ["new", "enroll"])
def test_any_id_the_engine_takes_has_its_own_page(clinic: tuple[str, FastAPI], pid: str) -> None:
    # the form lived at /patients/new: a patient called "new" had no page of its own
    _, app = clinic
    c = client(app, Role.coordinator)
    page = c.get("/enroll")
    r = c.post("/enroll", data={**BASE, "id": pid, "csrf_token": csrf(page.text)})
    assert r.status_code == 303 and r.headers["location"] == f"/patients/{pid}?done=enrolled"
    patient = c.get(f"/patients/{pid}")
    assert patient.status_code == 200 and f"<h1>Patient {pid}</h1>" in patient.text


def test_the_route_table_lists_the_page_for_writers_only() -> None:
    assert PAGE_ROLES["GET /enroll"] == WRITERS
    assert PAGE_ROLES["POST /enroll"] == WRITERS


# -- success ------------------------------------------------------------------------------------


def test_enrolling_a_referral_goes_to_the_new_patients_page(
    any_clinic: tuple[str, FastAPI],
) -> None:
    url, app = any_clinic
    c = client(app, Role.coordinator)
    status, _, location = enroll(c, FULL)
    assert (status, location) == (303, "/patients/NEW-0001?done=enrolled")
    svc = services(url)
    try:
        state = svc.status("NEW-0001")
        loaded = svc.load("NEW-0001")
        history = svc.history("NEW-0001")
    finally:
        svc.close()
    assert state.state == "initial_trial" and state.version == 3  # enrolled + trial + score
    assert state.entered_state_on == dt.date(2026, 5, 20)
    record = loaded.record
    assert (record.sex, record.birth_year) == ("female", 1984)
    [trial] = record.trials
    assert (trial.drug, trial.role, trial.start, trial.end) == (
        "sertraline",  # the brand name resolved by the catalog
        "antidepressant",
        dt.date(2026, 4, 1),
        None,
    )
    assert [(d.start, d.mg_per_day) for d in trial.doses] == [(dt.date(2026, 4, 1), 100.0)]
    assert trial.adherence == 0.9
    [score] = record.measurements
    assert (score.date, score.instrument, score.score) == (dt.date(2026, 3, 30), "PHQ-9", 19)
    assert {e.actor for e in history.entries} == {"coord1"}
    row = last_audit(app, patient="NEW-0001")
    assert (row["actor"], row["role"], row["outcome"]) == ("coord1", "coordinator", "ok")
    page = c.get(location)  # GET after the POST: the patient in their initial state
    assert page.status_code == 200
    assert re.search(r'<dd id="state">Initial antidepressant trial', page.text)
    assert "Enrolled on the pathway." in page.text  # the page says what just happened

    # the same id again: refused as a conflict, naming the patient and linking to their page
    again = {**FULL, "score": "21"}
    status, page_text, location = enroll(client(app, Role.clinician), again)
    assert status == 409 and location == ""
    assert summary_of(page_text) == ["Patient id: NEW-0001 is already enrolled"]
    assert field_error(page_text, "patient-id") == "Patient id: NEW-0001 is already enrolled"
    assert '<a href="/patients/NEW-0001">' in page_text
    assert all(kept(page_text, k, v) for k, v in again.items())
    svc = services(url)
    try:
        assert svc.status("NEW-0001").version == 3  # nothing written
    finally:
        svc.close()
    row = last_audit(app, patient="NEW-0001")
    assert (row["actor"], row["outcome"]) == ("clin", "refused")


def test_a_patient_alone_is_enough(clinic: tuple[str, FastAPI]) -> None:
    url, app = clinic
    status, _, location = enroll(
        client(app, Role.clinician), {"id": "NEW-0002", "effective": "2026-06-01"}
    )
    assert (status, location) == (303, "/patients/NEW-0002?done=enrolled")
    svc = services(url)
    try:
        state = svc.status("NEW-0002")
        record = svc.load("NEW-0002").record
    finally:
        svc.close()
    assert (state.state, state.version, state.entered_state_on) == ("initial_trial", 1, TODAY)
    assert (record.sex, record.birth_year, record.trials, record.measurements) == (
        "unknown",
        None,
        [],
        [],
    )


def test_a_trial_that_ended_is_enrolled_with_its_end(clinic: tuple[str, FastAPI]) -> None:
    url, app = clinic
    data = {
        "id": "NEW-0003",
        "effective": "2026-06-01",
        "drug": "escitalopram",
        "start": "2026-01-05",
        "mg_per_day": "20",
        "end": "2026-05-01",
        "stop_reason": "no_response",
    }
    status, _, _ = enroll(client(app, Role.coordinator), data)
    assert status == 303
    svc = services(url)
    try:
        [trial] = svc.load("NEW-0003").record.trials
    finally:
        svc.close()
    assert (trial.end, trial.stop_reason) == (dt.date(2026, 5, 1), "no_response")


# -- refusals -----------------------------------------------------------------------------------

BASE = {"effective": "2026-06-01"}
TRIAL = {"drug": "sertraline", "start": "2026-05-01", "mg_per_day": "50"}
SCORE = {"instrument": "PHQ-9", "score": "12", "date": "2026-05-01"}


@pytest.mark.parametrize(
    ("data", "element", "expected"),
    [
        pytest.param(
            {**BASE, "id": "Jane Doe"},
            "patient-id",
            "Patient id: Jane Doe is not a pseudonymous id",
            id="id-with-a-space",
        ),
        pytest.param(
            {**BASE, "id": "x" * 65},
            "patient-id",
            f"Patient id: {'x' * 40}… (65 characters) is not a pseudonymous id",
            id="id-too-long",
        ),
        pytest.param(
            {**BASE, "id": " "}, "patient-id", "Patient id: this field is needed", id="no-id"
        ),
        pytest.param(
            {**BASE, "birth_year": "1850"},
            "patient-birth_year",
            "Birth year: 1850 is refused: birth_year must be 1900–",
            id="birth-year-too-early",
        ),
        pytest.param(
            {**BASE, "birth_year": "3000"},
            "patient-birth_year",
            "Birth year: 3000 is refused: birth_year must be 1900–",
            id="birth-year-to-come",
        ),
        pytest.param(
            {**BASE, "birth_year": "nineteen"},
            "patient-birth_year",
            "Birth year: nineteen is not a whole number",
            id="birth-year-unreadable",
        ),
        pytest.param(
            {"effective": "2026-06-02"},
            "patient-effective",
            "Enrollment date: 2026-06-02 is in the future (today is 2026-06-01)",
            id="enrollment-date-to-come",
        ),
        pytest.param(
            {"effective": "1899-12-31"},
            "patient-effective",
            "Enrollment date: 1899-12-31 is refused: a date before 1900-01-01 is not plausible",
            id="enrollment-date-before-1900",
        ),
        pytest.param(
            {"effective": "2026-02-30"},
            "patient-effective",
            "Enrollment date: 2026-02-30 is not a valid date",
            id="enrollment-date-unreadable",
        ),
        pytest.param(
            {**BASE, **TRIAL, "drug": "sertralinx"},
            "trial-drug",
            "Drug: unknown drug 'sertralinx' (did you mean 'sertraline'?)",
            id="unknown-drug",
        ),
        pytest.param(
            {**BASE, **TRIAL, "drug": "aripiprazole", "mg_per_day": "5"},
            "trial-drug",
            "Drug: aripiprazole is an augmentation agent, not an antidepressant",
            id="augmentation-agent",
        ),
        pytest.param(
            {**BASE, **TRIAL, "mg_per_day": "-50"},
            "trial-mg_per_day",
            "Dose (mg/day): -50 is not more than 0",
            id="negative-dose",
        ),
        pytest.param(
            {**BASE, **TRIAL, "mg_per_day": ""},
            "trial-mg_per_day",
            "Dose (mg/day): this field is needed",
            id="trial-without-dose",
        ),
        pytest.param(
            {**BASE, **TRIAL, "mg_per_day": "5000"},
            "trial-mg_per_day",
            "Dose (mg/day): 5000 mg/day is above the plausible maximum for sertraline",
            id="implausible-dose",
        ),
        pytest.param(
            {**BASE, **TRIAL, "adherence": "120"},
            "trial-adherence",
            "Days covered (%): 120 is not a percentage from 0 to 100",
            id="adherence-over-100",
        ),
        pytest.param(
            {**BASE, **TRIAL, "start": "2026-07-01"},
            "trial-start",
            "Start date: 2026-07-01 is in the future (today is 2026-06-01)",
            id="trial-start-to-come",
        ),
        pytest.param(
            {**BASE, **TRIAL, "end": "2026-04-01", "stop_reason": "no_response"},
            "trial-end",
            "End date: end 2026-04-01 is before start 2026-05-01",
            id="end-before-start",
        ),
        pytest.param(
            {**BASE, **TRIAL, "stop_reason": "side_effects"},
            "trial-stop_reason",
            "Why it stopped: side_effects is refused: a stop_reason needs an end date",
            id="stopped-without-end",
        ),
        pytest.param(
            {**BASE, **TRIAL, "birth_year": "2000", "start": "1999-05-01"},
            "trial-start",
            "Start date: 1999-05-01 is before the birth year 2000",
            id="trial-before-birth",
        ),
        pytest.param(
            {**BASE, **SCORE, "score": "99"},
            "baseline-score",
            "Score: 99 is above the PHQ-9 maximum of 27",
            id="score-out-of-range",
        ),
        pytest.param(
            {**BASE, **SCORE, "instrument": "MADRS", "score": "-1"},
            "baseline-score",
            "Score: -1 is below the MADRS minimum of 0",
            id="score-below-range",
        ),
        pytest.param(
            {**BASE, **SCORE, "score": ""},
            "baseline-score",
            "Score: this field is needed",
            id="instrument-without-score",
        ),
        pytest.param(
            {**BASE, **SCORE, "date": "2026-06-15"},
            "baseline-date",
            "Score date: 2026-06-15 is in the future (today is 2026-06-01)",
            id="score-date-to-come",
        ),
    ],
)
def test_a_refusal_names_field_and_value_keeps_the_values_and_writes_nothing(
    clinic: tuple[str, FastAPI], data: dict[str, str], element: str, expected: str
) -> None:
    url, app = clinic
    data = {"id": "REFUSED-1", **data}
    status, page, location = enroll(client(app, Role.coordinator), data)
    assert status == 422 and location == ""
    summary = summary_of(page)
    assert len(summary) == 1 and summary[0].startswith(expected), summary
    assert not INTERNAL.search(summary[0]), summary  # the form's words, not the record's paths
    assert field_error(page, element) == summary[0]
    assert f'href="#{element}"' in page  # the summary leads to the field
    assert page.count('aria-invalid="true"') == 1
    assert all(kept(page, k, v) for k, v in data.items()), "the values typed are shown again"
    assert not enrolled(url, data["id"]) and not enrolled(url, "REFUSED-1")
    row = last_audit(app)
    assert (row["actor"], row["outcome"]) == ("coord1", "invalid")
    # the audit keeps a pseudonymous id, never what was typed in its place (a name)
    pseudonym = PATIENT_ID.fullmatch(data["id"]) is not None
    assert row["patient_id"] == (data["id"] if pseudonym else None)


def test_every_unreadable_field_is_named_at_once(clinic: tuple[str, FastAPI]) -> None:
    url, app = clinic
    data = {
        "id": "bad id",
        "birth_year": "then",
        "effective": "2026-06-01",
        "drug": "sertraline",
        "mg_per_day": "lots",
        "instrument": "PHQ-9",
        "score": "ten",
        "date": "2026-05-01",
    }
    status, page, _ = enroll(client(app, Role.coordinator), data)
    assert status == 422
    assert summary_of(page) == [
        "Patient id: bad id is not a pseudonymous id: use 1–64 of A–Z a–z 0–9 . _ - "
        "(no spaces; never a name or record number)",
        "Birth year: then is not a whole number",
        "Start date: this field is needed",
        "Dose (mg/day): lots is not a number",
        "Score: ten is not a whole number",
    ]
    for element in ("patient-id", "patient-birth_year", "trial-start", "baseline-score"):
        assert field_error(page, element)
    assert not enrolled(url, "bad id")


# -- who may, CSRF, the caseload's link ---------------------------------------------------------


@pytest.mark.parametrize("role", [Role.quality, Role.admin], ids=str)
def test_a_role_that_may_not_write_patients_is_refused(
    clinic: tuple[str, FastAPI], role: Role
) -> None:
    url, app = clinic
    c = client(app, role)
    r = c.get("/enroll")
    assert r.status_code == 403 and "Not for your role" in r.text
    assert '<main id="main"' in r.text and 'name="id"' not in r.text
    # the session's own CSRF token: the refusal is the role's, not the form's
    token = (app.state.web.accounts.session(c.cookies["pathway_session"]) or ("", ""))[1]
    assert token
    r = c.post("/enroll", data={"csrf_token": token, "id": "ROLE-1", **BASE})
    assert r.status_code == 403 and "Not for your role" in r.text
    assert not enrolled(url, "ROLE-1")
    rows = app.state.web.accounts.audit_log(action="page_refused", limit=1)
    assert rows[0]["actor"] == USER_OF[role] and rows[0]["outcome"] == "forbidden"


def test_nobody_is_sent_to_log_in(clinic: tuple[str, FastAPI]) -> None:
    r = client(clinic[1], None).get("/enroll")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/enroll"


@pytest.mark.parametrize("token", ["", "not-the-token"], ids=["missing", "wrong"])
def test_a_post_without_the_forms_csrf_token_is_refused(
    clinic: tuple[str, FastAPI], token: str
) -> None:
    url, app = clinic
    c = client(app, Role.coordinator)
    data = {"id": "CSRF-1", **BASE}
    r = c.post("/enroll", data={**data, "csrf_token": token} if token else data)
    assert r.status_code == 403 and "Form refused" in r.text
    assert not enrolled(url, "CSRF-1")


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_the_caseload_links_to_the_form_for_writers_only(
    clinic: tuple[str, FastAPI], role: Role
) -> None:
    _, app = clinic
    r = client(app, role).get("/caseload")
    link = '<a class="button" href="/enroll">Enroll a patient</a>'
    assert (link in r.text) == (role in WRITERS), (role, r.status_code)
    assert may_enroll(Principal(name="someone", role=role)) == (role in WRITERS)
    if role in WRITERS:  # the link leads to the form
        assert client(app, role).get("/enroll").status_code == 200
