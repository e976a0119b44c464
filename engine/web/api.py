"""The REST API, `/api/v1`: the CLI's services and JSON contracts over HTTP.

Reads send the patient's version as a strong ETag; writes need `If-Match` with it (428 without,
412 when stale, both versions named). Every read, write and export appends an access audit row
with its outcome. Routes are thin: parse, call a service, answer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import traceback
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine import (
    BeforeEntry,
    Enrolled,
    Moved,
    PatientHistory,
    PatientStatus,
    Recorded,
    Services,
)
from engine.queries.filters import InvalidFilter, check_definition
from engine.queries.worklist import Worklist
from engine.store.uow import sql_connection
from engine.web import caseload as caseload_queries
from engine.web.deps import (
    CLINICAL,
    Principal,
    Role,
    audit,
    context,
    get_services,
    optional_principal,
    require,
    same_site_writes,
)
from engine.web.problems import PROBLEM, FieldError, error_status
from engine.web.suppress import suppressed_board
from pathway.assess import Assessment
from pathway.errors import PathwayError


def known_query(request: Request) -> None:
    """Refuse a query parameter the route does not take: a typo (`asof`) or a `cursor` this API
    does not page by would otherwise be ignored, and the answer be to another question (nobody
    logged in: the route's 401 comes first)."""
    if optional_principal(request) is None:
        return
    allowed = sorted(p.alias for p in request.scope["route"].dependant.query_params)
    for name, value in request.query_params.multi_items():
        if name not in allowed:
            takes = ", ".join(allowed) or "none"
            raise FieldError(name, value, f"unknown query parameter (this route takes: {takes})")


router = APIRouter(
    prefix="/api/v1",
    tags=["api"],
    dependencies=[Depends(same_site_writes), Depends(known_query)],
)
log = logging.getLogger("engine.web")
PatientId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f/]+$")]
AsOf = Annotated[dt.date | None, Query(description="Date YYYY-MM-DD (default today).")]
IfMatch = Annotated[
    str | None, Header(description='The version the client read, as its ETag: "7".')
]
Clinical = Annotated[Principal, Depends(require(*CLINICAL))]
Clinician = Annotated[Principal, Depends(require(Role.clinician))]
Aggregates = Annotated[Principal, Depends(require(Role.coordinator, Role.clinician, Role.quality))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')
_PROBLEMS = {
    code: {"description": what, "content": {PROBLEM: {}}}
    for code, what in (
        (400, "the body is not UTF-8 text"),
        (401, "not authenticated"),
        (
            403,
            "the role may not do this (or a write on a browser session came without its CSRF "
            "token or from another site)",
        ),
        (404, "unknown patient"),
        (409, "the guard is not true (reasons)"),
        (412, "stale If-Match (both versions named)"),
        (413, "the body is larger than the server takes (`serve --max-body-mb`)"),
        (422, "invalid input: each field and value named"),
        (428, "If-Match missing"),
    )
}


def _errors(*codes: int, media: tuple[str, ...] = ()) -> dict[int | str, dict[str, Any]]:
    """The problem responses a route can give (and, for a drawing, its 200's media types)."""
    out: dict[int | str, dict[str, Any]] = {c: _PROBLEMS[c] for c in (401, 403, *codes)}
    if media:
        out[200] = {"description": "the drawing", "content": {m: {} for m in media}}
    return out


_ERRORS = _errors(422)  # lists and aggregates
_PATIENT_ERRORS = _errors(404, 422)
_WRITE_ERRORS = _errors(400, 404, 409, 412, 413, 422, 428)
_DRAWINGS = ("image/svg+xml", "text/vnd.graphviz", "text/plain", "application/json")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecordBody(_Body):
    """Facts to append (the fields of `pathway record`; see engine/README.md)."""

    facts: list[dict[str, Any]] = Field(min_length=1, max_length=100)
    effective: dt.date | None = None


class AdvanceBody(_Body):
    """A guarded move."""

    trigger: str = Field(min_length=1, max_length=64)
    effective: dt.date | None = None


class OverrideBody(_Body):
    """A move against (or without) the guards, with a reason code and a note."""

    to: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=64)
    note: str = Field(min_length=1, max_length=2000)
    effective: dt.date | None = None


class EnrollBody(_Body):
    """A new enrollment, optionally with a patient record (its `id` is the patient id)."""

    patient_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    record: dict[str, Any] | None = None
    effective: dt.date | None = None


OUTCOMES = {404: "not_found", 409: "blocked", 412: "stale", 422: "invalid"}
INTERNAL = "internal error, logged without patient data: read the patient again before a retry"


@contextlib.contextmanager
def audited(
    request: Request,
    principal: Principal,
    action: str,
    *,
    patient_id: str | None = None,
    cohort: dict[str, Any] | None = None,
) -> Iterator[None]:
    """Run a service call and append its audit row, whatever the outcome. An unexpected error
    is logged by its kind and stack only (a database error's message carries the statement's
    parameters: patient ids and facts) and answered as a 500 problem."""
    try:
        yield
    except (PathwayError, StarletteHTTPException) as exc:
        status = (
            exc.status_code if isinstance(exc, StarletteHTTPException) else error_status(exc)[0]
        )
        outcome = OUTCOMES.get(status, "refused")
        audit(request, principal, action, patient_id=patient_id, cohort=cohort, outcome=outcome)
        raise
    except Exception as exc:
        audit(request, principal, action, patient_id=patient_id, cohort=cohort, outcome="error")
        stack = "".join(traceback.format_tb(exc.__traceback__))
        log.error("%s failed: %s\n%s", action, type(exc).__name__, stack)
        raise HTTPException(500, INTERNAL) from None
    audit(request, principal, action, patient_id=patient_id, cohort=cohort)


@contextlib.contextmanager
def named(names: dict[str, str]) -> Iterator[None]:
    """Name a refused filter as the query does (`version`, not `definition_version`)."""
    try:
        yield
    except InvalidFilter as exc:
        raise exc.renamed(names) from None


def _json(model: BaseModel, *, status: int = 200, version: int | None = None) -> Response:
    headers = {"ETag": f'"{version}"'} if version is not None else None
    return Response(
        model.model_dump_json(), status_code=status, media_type="application/json", headers=headers
    )


def expected_version(if_match: str | None) -> int:
    """The version named by If-Match (428 if missing, 422 if it names no version)."""
    if if_match is None:
        raise HTTPException(
            428, 'this write needs If-Match with the version you read (its ETag, e.g. "7")'
        )
    m = _ETAG.match(if_match)
    if m is None:
        raise FieldError("If-Match", if_match, 'expected an ETag like "7"')
    return int(m.group(1))


# -- patients ------------------------------------------------------------------------------


@router.get(
    "/patients/{patient_id}",
    response_model=PatientStatus,
    responses=_PATIENT_ERRORS,
    summary="Status: state, days in state, guards with reasons, recommended move, what is due",
)
def get_status(
    request: Request, patient_id: PatientId, principal: Clinical, as_of: AsOf = None
) -> Response:
    """`pathway status --json`; the ETag is the patient's version."""
    svc = get_services(request)
    with audited(request, principal, "api.status", patient_id=patient_id):
        try:
            status = svc.status(patient_id, as_of=as_of)
        except BeforeEntry as exc:  # the engine names `effective`, the date of a write
            raise FieldError("as_of", exc.date.isoformat(), str(exc)) from None
    return _json(status, version=status.version)


@router.get(
    "/patients/{patient_id}/history", response_model=PatientHistory, responses=_PATIENT_ERRORS
)
def get_history(request: Request, patient_id: PatientId, principal: Clinical) -> Response:
    """`pathway history --json`: the timeline of facts and moves."""
    svc = get_services(request)
    with audited(request, principal, "api.history", patient_id=patient_id):
        history = svc.history(patient_id)
    return _json(history, version=history.version)


@router.get("/patients/{patient_id}/assess", response_model=Assessment, responses=_PATIENT_ERRORS)
def get_assessment(
    request: Request, patient_id: PatientId, principal: Clinical, as_of: AsOf = None
) -> Response:
    """`pathway assess --json` of the patient's record rebuilt from the log."""
    svc = get_services(request)
    from pathway.assess import assess

    with audited(request, principal, "api.assess", patient_id=patient_id):
        p = svc.load(patient_id)
        result = assess(p.record, definition=p.definition, as_of=as_of or svc.clock.today())
    return _json(result, version=p.head.version)


@router.post(
    "/patients", response_model=Enrolled, status_code=201, responses=_errors(400, 409, 413, 422)
)
def enroll(request: Request, body: EnrollBody, principal: Clinical) -> Response:
    """`pathway enroll`: a new patient at the pathway's first state."""
    svc = get_services(request)
    with audited(request, principal, "api.enroll", patient_id=body.patient_id):
        done = svc.enroll(
            body.patient_id, actor=principal.name, record=body.record, effective=body.effective
        )
    return _json(done, status=201, version=done.version)


@router.post("/patients/{patient_id}/facts", response_model=Recorded, responses=_WRITE_ERRORS)
def record(
    request: Request,
    patient_id: PatientId,
    body: RecordBody,
    principal: Clinical,
    if_match: IfMatch = None,
) -> Response:
    """`pathway record`: append facts (all or nothing)."""
    svc = get_services(request)
    with audited(request, principal, "api.record", patient_id=patient_id):
        expect = expected_version(if_match)
        done = svc.record(
            patient_id,
            facts=body.facts,
            actor=principal.name,
            effective=body.effective,
            expect_version=expect,
        )
    return _json(done, version=done.version)


@router.post("/patients/{patient_id}/advance", response_model=Moved, responses=_WRITE_ERRORS)
def advance(
    request: Request,
    patient_id: PatientId,
    body: AdvanceBody,
    principal: Clinical,
    if_match: IfMatch = None,
) -> Response:
    """`pathway advance`: take a transition whose guard is true."""
    svc = get_services(request)
    with audited(request, principal, "api.advance", patient_id=patient_id):
        expect = expected_version(if_match)
        done = svc.advance(
            patient_id,
            trigger=body.trigger,
            actor=principal.name,
            effective=body.effective,
            expect_version=expect,
        )
    return _json(done, version=done.version)


@router.post("/patients/{patient_id}/override", response_model=Moved, responses=_WRITE_ERRORS)
def override(
    request: Request,
    patient_id: PatientId,
    body: OverrideBody,
    principal: Clinician,
    if_match: IfMatch = None,
) -> Response:
    """`pathway override` (clinicians only): a reasoned move against the guards."""
    svc = get_services(request)
    with audited(request, principal, "api.override", patient_id=patient_id):
        expect = expected_version(if_match)
        done = svc.override(
            patient_id,
            to=body.to,
            reason=body.reason,
            note=body.note,
            actor=principal.name,
            effective=body.effective,
            expect_version=expect,
        )
    return _json(done, version=done.version)


@router.get("/patients/{patient_id}/diagram", responses=_errors(404, 422, media=_DRAWINGS))
def patient_diagram(
    request: Request,
    patient_id: PatientId,
    principal: Clinical,
    format: Literal["svg", "dot", "mermaid", "json"] = "svg",
    as_of: AsOf = None,
) -> Response:
    """`pathway render --patient`: the patient's path on their definition."""
    svc = get_services(request)
    import viz
    from engine.queries.overlays import patient_path

    with audited(request, principal, f"api.render.{format}", patient_id=patient_id):
        path = patient_path(svc, patient_id, as_of=as_of)
        p = svc.load(patient_id)
        data = viz.render(p.definition, fmt=format, patient=path)
    return _media(data, format, version=p.head.version)


def _media(data: bytes | str, fmt: str, *, version: int | None = None) -> Response:
    types = {
        "svg": "image/svg+xml",
        "dot": "text/vnd.graphviz",
        "mermaid": "text/plain; charset=utf-8",
        "json": "application/json",
        "png": "image/png",
        "pdf": "application/pdf",
    }
    headers = {"ETag": f'"{version}"'} if version is not None else None
    return Response(data, media_type=types[fmt], headers=headers)


# -- lists and aggregates ------------------------------------------------------------------


@router.get("/worklist", response_model=Worklist, responses=_ERRORS)
def get_worklist(
    request: Request,
    principal: Clinical,
    as_of: AsOf = None,
    kind: Annotated[list[str] | None, Query(max_length=10)] = None,
    state: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """`pathway worklist --json`: due items, most urgent first, with why."""
    svc = get_services(request)
    from engine.queries.worklist import worklist
    from pathway.due import PRIORITY

    for k in kind or ():
        if k not in PRIORITY:
            raise FieldError("kind", k, f"unknown item kind; allowed: {', '.join(PRIORITY)}")
    cohort = {"kind": kind, "state": state, "as_of": as_of, "limit": limit, "offset": offset}
    with audited(request, principal, "api.worklist", cohort=cohort):
        result = worklist(svc, as_of=as_of, kinds=kind, state=state, limit=limit, offset=offset)
    return _json(result)


_VERSION = {"definition_version": "version"}


def _current(svc: Services, as_of: dt.date | None) -> None:
    """The board and the caseload count each patient's current state: an `as_of` before today
    (the services' clock) would show negative days in state, so it is a 422 naming it."""
    today = svc.clock.today()
    if as_of is not None and as_of < today:
        raise FieldError(
            "as_of",
            as_of.isoformat(),
            f"is before today ({today.isoformat()}): the current state can be shown as of "
            "today or a later date only",
        )


def _known(
    svc: Services,
    *,
    state: str | None = None,
    definition_id: str | None = None,
    version: str | None = None,
) -> None:
    """Refuse a state or definition version the database does not know (422 naming it), as the
    worklist and the board do: an empty answer would read as "nobody"."""
    with svc.uow as uow, named(_VERSION):
        conn = sql_connection(uow, "the filters")
        check_definition(
            conn,
            svc.definitions,
            state=state,
            definition_id=definition_id,
            definition_version=version,
        )


@router.get("/board", responses=_ERRORS)
def get_board(
    request: Request,
    principal: Aggregates,
    as_of: AsOf = None,
    state: Annotated[str | None, Query(max_length=64)] = None,
    version: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """`pathway board --json`: patients per state (small cells suppressed for quality)."""
    svc = get_services(request)
    from engine.queries.board import board

    _current(svc, as_of)
    cohort = {"as_of": as_of, "state": state, "version": version}
    with audited(request, principal, "api.board", cohort=cohort), named(_VERSION):
        result = board(svc, as_of=as_of, state=state, definition_version=version)
    if principal.role == Role.quality:
        return Response(suppressed_board(result), media_type="application/json")
    return _json(result)


@router.get("/caseload", response_model=caseload_queries.Page, responses=_ERRORS)
def get_caseload(
    request: Request,
    principal: Clinical,
    state: Annotated[str | None, Query(max_length=64)] = None,
    flag: Annotated[caseload_queries.Flag | None, Query()] = None,
    due: Annotated[caseload_queries.Due | None, Query()] = None,
    sort: caseload_queries.Sort = "patient",
    descending: bool = False,
    as_of: AsOf = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """The caseload list: one row per patient (stored summary), sortable, filtered, paged."""
    svc = get_services(request)
    _current(svc, as_of)
    cohort = {"state": state, "flag": flag, "due": due, "sort": sort, "offset": offset}
    with audited(request, principal, "api.caseload", cohort=cohort):
        _known(svc, state=state)
        page = caseload_queries.caseload(
            svc,
            state=state,
            flag=flag,
            due=due,
            sort=sort,
            descending=descending,
            as_of=as_of,
            limit=limit,
            offset=offset,
        )
    return _json(page)


@router.get("/cohort/diagram", responses=_errors(422, media=_DRAWINGS))
def cohort_diagram(
    request: Request,
    principal: Aggregates,
    format: Literal["svg", "dot", "mermaid", "json"] = "svg",
    state: Annotated[str | None, Query(max_length=64)] = None,
    version: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[dt.date | None, Query()] = None,
    until: Annotated[dt.date | None, Query()] = None,
    as_of: AsOf = None,
    fresh: Annotated[
        bool,
        Query(
            description="Count again now; otherwise counts kept up to 10 minutes after records "
            "changed may be given (`X-Records-Changed-Since: true`)."
        ),
    ] = False,
) -> Response:
    """`pathway render --cohort`: the cohort's counts on the diagram (cells 1–10 suppressed).

    The counts are kept as the quality pages keep theirs (`engine.web.quality_data`); the
    `X-Computed-At` and `X-Records-Changed-Since` headers say when they were worked out and
    whether records changed since."""
    svc = get_services(request)
    import viz
    from engine.queries.overlay_cohort import cohort_query
    from engine.web import quality_data

    drawn = svc.definitions.default
    if state is not None and state not in drawn.state_by_id:
        raise FieldError("state", state, "unknown state")
    end = min(d for d in (until, as_of or svc.clock.today()) if d is not None)
    if since is not None and since > end:  # in the query's terms, not the command line's
        field, value = ("until", until) if until is not None and until == end else ("since", since)
        raise FieldError(
            field,
            (value or since).isoformat(),
            f"the window opens on {since.isoformat()} (since) after it ends on "
            f"{end.isoformat()} (the earlier of until and as_of, or today): nothing to count",
        )
    cohort = {"state": state, "version": version, "since": since, "until": until, "as_of": as_of}
    with audited(request, principal, f"api.export.cohort.{format}", cohort=cohort):
        _known(svc, definition_id=drawn.metadata.id, version=version)
        q = cohort_query(
            today=svc.clock.today(),
            as_of=as_of,
            state=state,
            definition_id=drawn.metadata.id,
            definition_version=version,
            since=since,
            until=until,
        )
        computed = quality_data.kept_or_worked_out(
            svc,
            quality_data.cache_of(request.app.state),
            quality_data.cohort_key(svc, q),
            quality_data.cohort_work(q),
            fresh=fresh,
            background=context(request).make_services,
        )
        summary = computed.result["summary"]
        data = viz.render(drawn, fmt=format, cohort=summary, suppress=True, threshold=10)
    response = _media(data, format)
    response.headers["X-Computed-At"] = computed.at.isoformat()
    response.headers["X-Records-Changed-Since"] = "false" if computed.current else "true"
    return response


# -- admin ---------------------------------------------------------------------------------


@router.get("/audit", responses=_ERRORS)
def get_audit(
    request: Request,
    principal: Admin,
    user: Annotated[str | None, Query(max_length=128)] = None,
    patient: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[dt.date | None, Query(description="First day (UTC).")] = None,
    until: Annotated[dt.date | None, Query(description="Last day included (UTC).")] = None,
    upto: Annotated[
        int | None,
        Query(ge=1, description="Rows up to this id: pass the first page's `upto` back."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """The access audit, newest first (admins only). Each read adds a row, so pages are read
    up to the id the first page gives as `upto`: pass it back with the next `offset`."""
    from engine.web.deps import get_accounts

    if since is not None and until is not None and until < since:
        raise FieldError("until", until.isoformat(), f"the window ends before since {since}")
    day = dt.datetime.combine
    start = day(since, dt.time(), dt.UTC) if since else None
    end = None  # the last day there is has no next day: no end
    if until is not None and until < dt.date.max:
        end = day(until + dt.timedelta(days=1), dt.time(), dt.UTC)
    cohort = {"user": user, "patient": patient, "action": action, "since": since, "until": until}
    rows = get_accounts(request).audit_log(
        user=user,
        patient=patient,
        action=action,
        since=start,
        until=end,
        upto=upto,
        limit=limit,
        offset=offset,
    )
    audit(request, principal, "api.audit", cohort=cohort | {"upto": upto, "offset": offset})
    import json

    upto = upto if upto is not None else (rows[0]["id"] if rows else None)
    body = {"rows": rows, "offset": offset, "upto": upto}
    return Response(
        json.dumps(body, default=_iso, ensure_ascii=False), media_type="application/json"
    )


def _iso(value: object) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)
