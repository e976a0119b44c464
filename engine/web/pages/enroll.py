"""The enrollment page (`/enroll`): a coordinator puts a newly referred patient on the
pathway, with what is known at referral (the current antidepressant trial, a baseline score).

The fields are read by the record forms' own parsing (`facts_form`), made into a patient record
(shared/spec/patient-record.md) and enrolled with `Services.enroll`, the call the API makes, so
every check of the engine applies; a refusal writes nothing and shows the form again with what
was typed, each problem next to its field. Every enrollment and refusal is audited (`enroll`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Annotated, Any, get_args
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from engine import AlreadyEnrolled, FutureDate, Services
from engine.enrolling import PATIENT_ID
from engine.web.accounts import Principal, Role
from engine.web.deps import CSRF_FIELD, audit, get_services, require, verify_csrf
from engine.web.pages.common import CLINICAL, PageRoute, page_errors
from engine.web.pages.facts_form import (
    FORMS,
    Field,
    Form,
    FormProblem,
    Problem,
    fact_from_form,
    form_options,
    form_problems,
)
from engine.web.pages.patient import Fields
from engine.web.templating import render, see_other
from pathway.definition import Definition
from pathway.errors import Issue, PathwayError, RecordError, excerpt_text
from pathway.record import Sex

router = APIRouter(route_class=PageRoute)
# who may open this page: those who may write patient data (the patient page's forms)
PAGE_ROLES: dict[str, tuple[Role, ...]] = {
    "GET /enroll": CLINICAL,
    "POST /enroll": CLINICAL,
}


def may_enroll(principal: Principal) -> bool:
    """Whether someone may open this page (the caseload links to it for them only)."""
    return principal.role in PAGE_ROLES["GET /enroll"]


def _fields(form: str, *names: str) -> tuple[Field, ...]:
    """Fields of one of the patient page's record forms, as that form has them."""
    by_name = {f.name: f for f in FORMS[form].fields}
    return tuple(by_name[n] for n in names)


# The three parts of the form. Field names are the record's (`id`, `birth_year`) or the API's
# (`effective`) and differ across the parts, so a posted form is one flat mapping.
PATIENT = Form(
    "enrollment",
    "Patient",
    (
        Field(
            "id",
            "Patient id",
            "text",
            hint="pseudonymous: 1–64 of A–Z a–z 0–9 . _ - (never a name or record number)",
        ),
        Field("sex", "Sex", "select", required=False, options="sexes"),
        Field("birth_year", "Birth year", "int", required=False),
        Field("effective", "Enrollment date", "date", hint="not in the future"),
    ),
)
TRIAL = Form(  # its fact name keeps the trial form's words for the record's paths (doses[0])
    "trial_started",
    "Current antidepressant trial",
    (
        *_fields("trial_started", "drug", "start", "mg_per_day", "adherence"),
        # the trial may have ended already (the end form needs its end; here it is optional)
        *(replace(f, required=False) for f in _fields("trial_ended", "end", "stop_reason")),
    ),
)
BASELINE = Form(
    "measurement",
    "Baseline score",
    tuple(
        replace(f, label="Score date") if f.name == "date" else f
        for f in _fields("measurement", "instrument", "score", "date")
    ),
)
# the part of the page (and the prefix of its fields' element ids) for each form
SECTIONS = (("patient", PATIENT), ("trial", TRIAL), ("baseline", BASELINE))
# the two optional parts as the page shows them: each field "needed for" (or optional for) its
# part, as _forms.html labels a field that is one instrument's only
HINTS = {
    "mg_per_day": "the dose since the start date; record a change on the patient's page",
    "end": "only if the trial has ended",
}
SHOWN = {
    "patient": PATIENT,
    "trial": replace(
        TRIAL,
        fields=tuple(
            replace(f, only_for="trial", hint=HINTS.get(f.name, f.hint)) for f in TRIAL.fields
        ),
    ),
    "baseline": replace(
        BASELINE, fields=tuple(replace(f, only_for="baseline score") for f in BASELINE.fields)
    ),
}
ANCHORS = {f.name: f"{part}-{f.name}" for part, form in SECTIONS for f in form.fields}


def _options(definition: Definition) -> dict[str, list[tuple[str, str]]]:
    """The selects' choices: the record forms' ones, the sexes, and the rating scales of the
    definition's catalog with their ranges."""
    measures = [i for i in definition.catalog.instruments if i.kind == "measurement"]
    return {
        **form_options(definition),
        "sexes": [(s, s) for s in get_args(Sex)],
        "instruments": [(i.name, f"{i.name} ({i.range[0]}–{i.range[1]})") for i in measures],
    }


def _page(
    request: Request,
    svc: Services,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    problems: list[Problem] | None = None,
    already: str | None = None,
) -> Response:
    """The form, empty or again after a refusal (with what was typed and why)."""
    definition = svc.definitions.default
    errors: dict[str, list[str]] = {}
    for p in problems or []:
        if p.field:
            errors.setdefault(p.field, []).append(p.text)
    drugs = [  # the datalist: the catalog's antidepressants (a brand name is accepted too)
        (d.name, d.drug_class)
        for d in sorted(definition.catalog.drugs, key=lambda d: d.name)
        if d.min_dose("antidepressant") is not None
    ]
    initial = definition.state_by_id[definition.initial_state]
    context = {
        "title": "Enroll a patient",
        "sections": [(part, SHOWN[part]) for part, _ in SECTIONS],
        "options": _options(definition),
        "drugs": drugs,
        "initial": initial.label,
        "today": svc.clock.today().isoformat(),
        "values": {k: v for k, v in (values or {}).items() if k != CSRF_FIELD},
        "errors": {name: " ".join(texts) for name, texts in errors.items()},
        "problems": problems or [],
        "anchors": ANCHORS,
        "already": already,
    }
    return render(request, "enroll.html", context, status_code=status)


@router.get("/enroll", response_class=HTMLResponse)
@page_errors
def enroll_page(
    request: Request,
    principal: Annotated[Principal, Depends(require(*CLINICAL))],
) -> Response:
    """The form: the patient, and optionally the current trial and a baseline score."""
    return _page(request, get_services(request))


def _read(form: Form, fields: dict[str, str]) -> tuple[dict[str, Any], list[Problem]]:
    """The form's values, and a problem for each field that could not be read (one field at a
    time, so every such field is named at once)."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for f in form.fields:
        try:
            values.update(fact_from_form(replace(form, fields=(f,)), fields))
        except FormProblem as exc:
            problems.append(Problem(str(exc), exc.name))
    values.pop("fact", None)
    return values, problems


def _given(form: Form, fields: dict[str, str]) -> bool:
    """Whether anything was typed or chosen in an optional part of the form."""
    return any(fields.get(f.name, "").strip() for f in form.fields)


def _record(
    patient: dict[str, Any], trial: dict[str, Any] | None, score: dict[str, Any] | None
) -> dict[str, Any]:
    """The patient record the form describes (the interchange format; the engine checks it)."""
    record: dict[str, Any] = {"id": patient["id"]}
    for key in ("sex", "birth_year"):
        if key in patient:
            record[key] = patient[key]
    if trial is not None:
        record["trials"] = [
            {
                "drug": trial["drug"],
                "role": "antidepressant",
                "start": trial["start"],
                "end": trial.get("end"),
                "doses": [{"from": trial["start"], "mg_per_day": trial["mg_per_day"]}],
                "adherence": trial.get("adherence"),
                "stop_reason": trial.get("stop_reason"),
            }
        ]
    if score is not None:
        record["measurements"] = [{k: score[k] for k in ("date", "instrument", "score")}]
    return record


def _check_id(text: str) -> Problem | None:
    """The id's own problem, named with its value (the API's pattern, the engine's check)."""
    shown = excerpt_text(text, 40)
    if not PATIENT_ID.fullmatch(text):
        return Problem(
            f"Patient id: {shown} is not a pseudonymous id: use 1–64 of A–Z a–z 0–9 . _ - "
            "(no spaces; never a name or record number)",
            "id",
        )
    return None


def _day(text: str) -> dt.date | Problem:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        shown = excerpt_text(text, 20)
        return Problem(f"Enrollment date: {shown} is not a valid date (YYYY-MM-DD)", "effective")


def _record_problems(
    exc: RecordError, fields: dict[str, str], definition: Definition
) -> list[Problem]:
    """The engine's refusal of the record in the form's words, each issue with its part."""
    problems: list[Problem] = []
    for issue in exc.issues:
        form = PATIENT
        if issue.loc.startswith("trials"):
            form = TRIAL
            if issue.loc.endswith(".role"):  # an augmentation agent typed as the drug
                why = issue.message.split(": set role")[0]
                issue = Issue(
                    loc="trials[0].drug",
                    value=issue.value,
                    message=f"{why}: enroll with the antidepressant it augments, then start "
                    "it on the patient's page (Start a trial, role augmentation)",
                )
        elif issue.loc.startswith("measurements"):
            form = BASELINE
        for p in form_problems(form, fields, [issue], definition.catalog):
            if p not in problems:
                problems.append(p)
    return problems or [Problem(str(exc))]


def _future(exc: FutureDate) -> Problem:
    """A date after today, named by its field: the enrollment date, or a date of the record."""
    when = f"{exc.date.isoformat()} is in the future (today is {exc.today.isoformat()})"
    name = "effective" if exc.loc == "effective" else exc.what.rpartition(" ")[2]
    for _, form in SECTIONS:
        for f in form.fields:
            if f.name == name:
                return Problem(f"{f.label}: {when}", name)
    return Problem(f"{exc.what.capitalize()} {when}")


@router.post("/enroll", dependencies=[Depends(verify_csrf)])
@page_errors
def enroll(
    request: Request,
    principal: Annotated[Principal, Depends(require(*CLINICAL))],
    fields: Fields,
) -> Response:
    """Enroll the patient (POST-redirect-GET to their page), or show the form again."""
    svc = get_services(request)
    definition = svc.definitions.default
    patient, problems = _read(PATIENT, fields)
    pid = patient.get("id")
    if pid is not None and (bad := _check_id(pid)) is not None:
        problems.insert(0, bad)
    trial = score = None
    if _given(TRIAL, fields):
        trial, more = _read(TRIAL, fields)
        problems += more
    if _given(BASELINE, fields):
        score, more = _read(BASELINE, fields)
        problems += more
    day: dt.date | None = None
    if "effective" in patient:
        read = _day(patient["effective"])
        if isinstance(read, Problem):
            problems.append(read)
        else:
            day = read
    # the audit keeps the pseudonymous id, and nothing typed where one was expected
    audited_id = pid if pid is not None and PATIENT_ID.fullmatch(pid) else None

    def refused(status: int, problems: list[Problem], already: str | None = None) -> Response:
        outcome = "refused" if status == 409 else "invalid"
        audit(request, principal, "enroll", patient_id=audited_id, outcome=outcome)
        return _page(request, svc, status=status, values=fields, problems=problems, already=already)

    if problems or pid is None:
        return refused(422, problems)
    try:
        svc.enroll(pid, actor=principal.name, record=_record(patient, trial, score), effective=day)
    except AlreadyEnrolled:
        return refused(409, [Problem(f"Patient id: {pid} is already enrolled", "id")], pid)
    except RecordError as exc:
        return refused(422, _record_problems(exc, fields, definition))
    except FutureDate as exc:
        return refused(422, [_future(exc)])
    except PathwayError as exc:  # anything else the engine refuses, in its words
        return refused(422, [Problem(str(exc))])
    audit(request, principal, "enroll", patient_id=pid)
    return see_other(request, f"/patients/{quote(pid, safe='')}?done=enrolled")
