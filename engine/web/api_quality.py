"""The API's quality review, `/api/v1/quality`: the measures per definition version and the
deviation report as JSON, small counts null (the same cells as the pages: `quality_data`).

Roles: coordinator, clinician and quality (as the quality pages). A period whose end comes before
its start, or a date that is not one, is a 422 problem naming the field and its value.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from engine.measures.logic import Period
from engine.web import quality_data
from engine.web.accounts import Principal
from engine.web.api import Aggregates, audited, known_query
from engine.web.deps import context, get_services
from engine.web.problems import PROBLEM, FieldError

router = APIRouter(prefix="/api/v1/quality", tags=["api"], dependencies=[Depends(known_query)])
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "not authenticated", "content": {PROBLEM: {}}},
    403: {"description": "the role may not see aggregates", "content": {PROBLEM: {}}},
    422: {"description": "a date, or a period ending before it starts", "content": {PROBLEM: {}}},
}
Day = Annotated[dt.date | None, Query(description="Date YYYY-MM-DD.")]
Fresh = Annotated[
    bool,
    Query(
        description="Work the answer out again now; otherwise a result computed in the last "
        "10 minutes may be given although records changed since (`records_changed_since`)."
    ),
]


def _period(
    request: Request, start: dt.date | None, end: dt.date | None, names: tuple[str, str]
) -> Period:
    default = quality_data.default_period(get_services(request).clock.today())
    first, last = start or default.start, end or default.end
    problem = quality_data.period_problem(first, last, names)
    if problem is not None:
        raise FieldError(*problem)
    return Period(first, last)


def _answer(body: dict[str, object]) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")


def _kept(
    request: Request,
    principal: Principal,
    kind: str,
    period: Period,
    names: tuple[str, str],
    fresh: bool,
) -> quality_data.Computed:
    """The measures or the deviation report over `period`, kept or worked out, audited."""
    svc, cache = get_services(request), quality_data.cache_of(request.app.state)
    work = (
        quality_data.measure_work(period)
        if kind == "measures"
        else quality_data.deviation_work(cache, period)
    )
    cohort = {names[0]: period.start.isoformat(), names[1]: period.end.isoformat()}
    try:
        with audited(request, principal, f"api.quality.{kind}", cohort=cohort):
            return quality_data.kept_or_worked_out(
                svc,
                cache,
                quality_data.key_of(kind, svc, period),
                work,
                fresh=fresh,
                background=context(request).make_services,
            )
    finally:
        svc.close()


@router.get("/measures", responses=ERRORS)
def get_measures(
    request: Request,
    principal: Aggregates,
    start: Day = None,
    end: Day = None,
    fresh: Fresh = False,
) -> Response:
    """Every measure's groups with their populations and rate, per definition version and
    overall, over [start, end] (default: the last twelve months before today); hidden: null."""
    period = _period(request, start, end, ("start", "end"))
    found = _kept(request, principal, "measures", period, ("start", "end"), fresh)
    return _answer({**quality_data.measures_json(found.result), **found.stamp()})


@router.get("/deviations", responses=ERRORS)
def get_deviations(
    request: Request,
    principal: Aggregates,
    since: Day = None,
    until: Day = None,
    fresh: Fresh = False,
) -> Response:
    """Overrides by reason and by from → to, moves that differed from the recommendation and
    patients past a dwell norm, per definition version, over moves in [since, until] (default:
    the last twelve months before today); counts only, hidden: null."""
    period = _period(request, since, until, ("since", "until"))
    found = _kept(request, principal, "deviations", period, ("since", "until"), fresh)
    return _answer({**quality_data.deviations_json(found.result), **found.stamp()})
