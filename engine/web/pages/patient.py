"""The patient page (`/patients/{id}`) and its writes: record a fact, advance, override.

Every write form carries the version the page was rendered at. When someone else changed the
patient first, nothing is written: the page is shown again at the new version, saying so in
words ("changed since you read it (version 7 → 8)") with the events that came in between.
Every view and every write is audited.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from engine import Services
from engine.errors import FutureDate
from engine.reasons import REASON_CODES
from engine.views import PatientStatus
from engine.web.accounts import Principal, Role
from engine.web.chart import chart_data, trend_svg
from engine.web.deps import CSRF_FIELD, audit, get_services, require, verify_csrf
from engine.web.pages.common import CLINICAL, PageRoute, error_page, page_errors
from engine.web.pages.diagrams import swatch
from engine.web.pages.facts_form import (
    FORMS,
    FormProblem,
    Problem,
    fact_from_form,
    form_options,
    form_problems,
    label_of,
)
from engine.web.templating import render, see_other
from pathway.definition import Definition
from pathway.errors import (
    InvalidTrigger,
    PathwayError,
    RecordError,
    StaleVersion,
    TransitionBlocked,
    UnknownPatient,
)
from viz.styles import STATE_KINDS

router = APIRouter(route_class=PageRoute)
DONE = {
    "recorded": "Recorded.",
    "advanced": "Moved.",
    "overridden": "Overridden, with its reason.",
    "enrolled": "Enrolled on the pathway.",
}


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (read once; the CSRF check has parsed it already)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


Fields = Annotated[dict[str, str], Depends(form_fields)]


def guard_rows(status: PatientStatus, definition: Definition) -> list[dict[str, Any]]:
    """The guards from the current state, recommended move first, then the enabled ones, then
    the rest; each with its transition's words and destination label."""
    by_trigger = {t.trigger: t for t in definition.transitions_from(status.state)}
    rows = []
    for g in status.guards:
        t = by_trigger.get(g.trigger)
        dest = definition.state_by_id.get(g.to)
        rows.append(
            {
                "guard": g,
                "label": t.guard_text() if t is not None else g.trigger,
                "to_label": dest.label if dest is not None else g.to,
                "recommended": g.trigger == status.recommended,
                "enabled": g.trigger in status.enabled,
            }
        )
    rows.sort(key=lambda r: (not r["recommended"], not r["enabled"]))
    return rows


def patient_context(svc: Services, patient_id: str, principal: Principal) -> dict[str, Any]:
    """Everything the patient page shows (raises UnknownPatient)."""
    status = svc.status(patient_id)
    loaded = svc.load(patient_id)
    definition = loaded.definition
    history = svc.history(patient_id)
    facts = loaded.facts(status.as_of)
    data = chart_data(facts, definition.catalog)
    states = [(s.id, s.label) for s in definition.states if s.id != status.state]
    return {
        "title": f"Patient {patient_id}",
        "status": status,
        "rows": guard_rows(status, definition),
        "chart": trend_svg(data, title_id="trend"),
        "points": data.points,
        "history": list(reversed(history.entries)),
        "trials": [(i, t.drug, t.start, t.end) for i, t in enumerate(loaded.record.trials)],
        "forms": FORMS,
        "options": form_options(definition),
        "today": svc.clock.today().isoformat(),
        "reasons": REASON_CODES,
        "states": states,
        "can_override": principal.role == Role.clinician,
        "stale": None,
        "problems": [],  # Problem: why a write was refused, in the form's words
        "errors": {},  # field → its problem, shown next to the field of the refused form
        "done": None,
        "open_form": None,
        "values": {},  # what a refused write posted, shown again in its form
        "legend": {"kinds": [(k, swatch(k)) for k in STATE_KINDS], "notes": ()},
    }


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
@page_errors
def patient_page(
    request: Request,
    patient_id: str,
    principal: Annotated[Principal, Depends(require(*CLINICAL))],
    done: str | None = None,
) -> Response:
    """State, guards with reasons, chart, path, timeline and the forms; audited."""
    svc = get_services(request)
    try:
        context = patient_context(svc, patient_id, principal)
    except UnknownPatient:
        audit(request, principal, "patient_view", patient_id=patient_id, outcome="not_found")
        raise
    audit(request, principal, "patient_view", patient_id=patient_id)
    context["done"] = DONE.get(done or "")
    return render(request, "patient.html", context)


@router.get("/patients/{patient_id}/path.svg")
@page_errors
def patient_path_svg(
    request: Request,
    patient_id: str,
    principal: Annotated[Principal, Depends(require(*CLINICAL))],
) -> Response:
    """The patient's path drawn on their definition (SVG through Graphviz)."""
    import viz
    from engine.queries.overlays import patient_path
    from viz.dot import to_dot
    from viz.graphviz_run import run_dot

    svc = get_services(request)
    try:
        path = patient_path(svc, patient_id)
        definition = svc.load(patient_id).definition
    except UnknownPatient:
        audit(request, principal, "patient_path", patient_id=patient_id, outcome="not_found")
        return Response("unknown patient", status_code=404, media_type="text/plain")
    try:  # the page shows the legend next to the image: the drawing keeps the width
        data = run_dot(to_dot(viz.build(definition, patient=path), legend=False), "svg")
    except viz.GraphvizNotInstalled as exc:
        return Response(str(exc), status_code=503, media_type="text/plain")
    audit(request, principal, "patient_path", patient_id=patient_id)
    body = data.encode() if isinstance(data, str) else data
    return Response(body, media_type="image/svg+xml")


def _version(fields: dict[str, str]) -> int | None:
    try:
        return int(fields.get("version", ""))
    except ValueError:
        return None


def _answer(
    request: Request,
    svc: Services,
    patient_id: str,
    principal: Principal,
    *,
    action: str,
    status: int,
    problems: list[Problem] | None = None,
    stale: StaleVersion | None = None,
    open_form: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The patient page again after a refused write (nothing was written), with why; the
    refused form keeps the `values` that were posted (invalid input: 422)."""
    context = patient_context(svc, patient_id, principal)
    if stale is not None:
        changes = [e for e in reversed(context["history"]) if e.version > stale.expected]
        context["stale"] = {"expected": stale.expected, "actual": stale.actual, "changes": changes}
    context["problems"] = problems or []
    errors: dict[str, list[str]] = {}
    for p in problems or []:
        if p.field:
            errors.setdefault(p.field, []).append(p.text)
    context["errors"] = {name: " ".join(texts) for name, texts in errors.items()}
    context["open_form"] = open_form
    context["values"] = {
        k: v for k, v in (values or {}).items() if k not in (CSRF_FIELD, "version")
    }
    outcome = "stale" if stale is not None else ("refused" if status == 409 else "invalid")
    audit(request, principal, action, patient_id=patient_id, outcome=outcome)
    return render(request, "patient.html", context, status_code=status)


def _write(
    request: Request,
    patient_id: str,
    principal: Principal,
    fields: dict[str, str],
    *,
    action: str,
    done: str,
    form: str | None,
    run: Any,
) -> Response:
    """Run one write with the rendered version; answer with the page or a redirect to it."""
    svc = get_services(request)
    version = _version(fields)
    answer = functools.partial(
        _answer, request, svc, patient_id, principal, action=action, open_form=form
    )
    try:
        if version is None:
            raise FormProblem("version", "the form did not say which version it was read at")
        run(svc, version)
    except UnknownPatient:
        audit(request, principal, action, patient_id=patient_id, outcome="not_found")
        return error_page(request, 404, "Unknown patient", f"no patient {patient_id} is enrolled")
    except StaleVersion as exc:
        return answer(status=409, stale=exc)
    except FormProblem as exc:
        return answer(status=422, values=fields, problems=[Problem(str(exc), exc.name)])
    except RecordError as exc:
        catalog = svc.load(patient_id).definition.catalog
        problems = form_problems(form, fields, exc.issues, catalog) or [Problem(str(exc))]
        return answer(status=422, values=fields, problems=problems)
    except (TransitionBlocked, InvalidTrigger) as exc:
        return answer(status=409, problems=[Problem(str(exc))])
    except FutureDate as exc:  # "measurement date": the fact, then its field
        name = exc.what.rpartition(" ")[2]
        known = form in FORMS and any(f.name == name for f in FORMS[form].fields)
        when = f"{exc.date.isoformat()} is in the future (today is {exc.today.isoformat()})"
        return answer(
            status=422,
            values=fields,
            problems=[
                Problem(f"{label_of(form, name)}: {when}", name)
                if known
                else Problem(f"{exc.what.capitalize()} {when}")
            ],
        )
    except PathwayError as exc:  # an unknown reason code, a bad override
        return answer(status=422, values=fields, problems=[Problem(str(exc))])
    audit(request, principal, action, patient_id=patient_id)
    return see_other(request, f"/patients/{patient_id}?done={done}")


@router.post("/patients/{patient_id}/record/{form}", dependencies=[Depends(verify_csrf)])
@page_errors
def record_fact(
    request: Request,
    patient_id: str,
    form: str,
    principal: Annotated[Principal, Depends(require(*CLINICAL))],
    fields: Fields,
) -> Response:
    """Record one fact from one of the page's forms."""
    if form not in FORMS:
        return error_page(request, 404, "Unknown form", f"there is no form {form!r}")

    def run(svc: Services, version: int) -> None:
        fact = fact_from_form(form, fields)
        svc.record(patient_id, facts=[fact], actor=principal.name, expect_version=version)

    return _write(
        request,
        patient_id,
        principal,
        fields,
        action=f"record_{form}",
        done="recorded",
        form=form,
        run=run,
    )


@router.post("/patients/{patient_id}/advance", dependencies=[Depends(verify_csrf)])
@page_errors
def advance(
    request: Request,
    patient_id: str,
    principal: Annotated[Principal, Depends(require(*CLINICAL))],
    fields: Fields,
) -> Response:
    """Take an enabled move (its guard is checked again at the current version)."""

    def run(svc: Services, version: int) -> None:
        trigger = fields.get("trigger", "")
        if not trigger:
            raise FormProblem("trigger", "choose a move", label="Move")
        svc.advance(patient_id, trigger=trigger, actor=principal.name, expect_version=version)

    return _write(
        request,
        patient_id,
        principal,
        fields,
        action="advance",
        done="advanced",
        form=None,
        run=run,
    )


@router.post("/patients/{patient_id}/override", dependencies=[Depends(verify_csrf)])
@page_errors
def override(
    request: Request,
    patient_id: str,
    principal: Annotated[Principal, Depends(require(Role.clinician))],
    fields: Fields,
) -> Response:
    """Move against (or without) the guards: clinicians only, with a reason code and a note."""

    def run(svc: Services, version: int) -> None:
        note = fields.get("note", "").strip()
        if not note:
            raise FormProblem("note", "say why in a note", label="Note")
        svc.override(
            patient_id,
            to=fields.get("to", ""),
            reason=fields.get("reason", ""),
            note=note,
            actor=principal.name,
            expect_version=version,
        )

    return _write(
        request,
        patient_id,
        principal,
        fields,
        action="override",
        done="overridden",
        form="override",
        run=run,
    )
