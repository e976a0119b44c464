"""The quality review pages: the measures per definition version (`/quality/measures`) and the
deviation report (`/quality/deviations`) for a chosen period, always small-cell suppressed.

The numbers come from `engine.web.quality_data`, which the API uses too; the default period is
the last twelve months before today.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from engine.measures.logic import Period
from engine.web import quality_data
from engine.web.accounts import Principal
from engine.web.deps import audit, context, get_services, require
from engine.web.pages.common import AGGREGATES, BadQuery, PageRoute, page_errors, parse_day
from engine.web.suppress import THRESHOLD
from engine.web.templating import render

router = APIRouter(route_class=PageRoute)

MEASURE_TITLES = {
    "CMS159": "CMS159 (NQF 0710): depression remission at twelve months",
    "CMS128": "CMS128 (HEDIS AMM): antidepressant medication management",
    "NQF1884": "NQF 1884: response at six months",
    "DRR-E": "DRR-E: follow-up, remission and response after an elevated PHQ-9",
}


def period_of(
    request: Request, start: str | None, end: str | None, names: tuple[str, str]
) -> Period:
    """The period from two date fields (either may be empty: the default's), checked before
    anything is worked out: a date too near the calendar's ends, or an end before the start, is
    a BadQuery naming the field and its value (`quality_data.period_problem`)."""
    default = quality_data.default_period(get_services(request).clock.today())
    first = parse_day(start, names[0]) or default.start
    last = parse_day(end, names[1]) or default.end
    problem = quality_data.period_problem(first, last, names)
    if problem is not None:
        raise BadQuery(*problem)
    return Period(first, last)


PAGE_WAIT = 2.0  # seconds a page waits for a first computation before saying it is under way


def _refused(
    request: Request, template: str, title: str, bad: BadQuery, typed: dict[str, str | None]
) -> Response:
    """A refused period on its own page (422): the form as typed, the message by the field it
    names, nothing worked out, so the reader corrects it in place."""
    context = {"title": title, "period": None, "refused": bad, "typed": typed, "computed": None}
    return render(request, template, context, status_code=422)


def _found(
    request: Request, kind: str, period: Period, work: quality_data.Work, fresh: bool
) -> quality_data.Computed | None:
    """The kept result, or None while a first computation runs in the background (the page
    then says so and asks again); `fresh` (Recompute now) is worked out before answering."""
    svc, cache = get_services(request), quality_data.cache_of(request.app.state)
    key, background = quality_data.key_of(kind, svc, period), context(request).make_services
    if fresh:
        try:
            return quality_data.kept_or_worked_out(
                svc, cache, key, work, fresh=True, background=background
            )
        except Exception as exc:  # a page in the layout, not a bare 500; the kind only is logged
            quality_data.log.error("quality review: %s failed (%s)", kind, type(exc).__name__)
            raise quality_data.ComputationFailed(kind, type(exc).__name__) from exc
    return quality_data.kept_or_started(
        svc, cache, key, work, background=background, wait=PAGE_WAIT
    )


@router.get("/quality/measures", response_class=HTMLResponse)
@page_errors
def measures_page(
    request: Request,
    principal: Annotated[Principal, Depends(require(*AGGREGATES))],
    start: str | None = None,
    end: str | None = None,
    fresh: bool = False,
) -> Response:
    """CMS159, CMS128 (both groups), response at six months and DRR-E's rates: each group's
    populations and rate per definition version and overall, small counts hidden."""
    try:
        period = period_of(request, start, end, ("start", "end"))
    except BadQuery as bad:
        return _refused(request, "measures.html", "Measures", bad, {"start": start, "end": end})
    found = _found(request, "measures", period, quality_data.measure_work(period), fresh)
    audit(
        request,
        principal,
        "quality_measures",
        cohort={"start": period.start.isoformat(), "end": period.end.isoformat()},
    )
    return render(
        request,
        "measures.html",
        {
            "title": "Measures",
            "period": period,
            "refused": None,
            "tables": quality_data.measure_tables(found.result) if found else [],
            "computed": found,
            "titles": MEASURE_TITLES,
            "threshold": THRESHOLD,
        },
    )


@router.get("/quality/deviations", response_class=HTMLResponse)
@page_errors
def deviations_page(
    request: Request,
    principal: Annotated[Principal, Depends(require(*AGGREGATES))],
    since: str | None = None,
    until: str | None = None,
    fresh: bool = False,
) -> Response:
    """Overrides by reason and by from → to, moves that differed from the recommendation, and
    patients past a state's dwell norm, per definition version; counts only, small ones hidden."""
    try:
        period = period_of(request, since, until, ("since", "until"))
    except BadQuery as bad:
        typed = {"since": since, "until": until}
        return _refused(request, "deviations.html", "Deviations", bad, typed)
    cache = quality_data.cache_of(request.app.state)
    found = _found(request, "deviations", period, quality_data.deviation_work(cache, period), fresh)
    audit(
        request,
        principal,
        "quality_deviations",
        cohort={"since": period.start.isoformat(), "until": period.end.isoformat()},
    )
    return render(
        request,
        "deviations.html",
        {
            "title": "Deviations",
            "period": period,
            "refused": None,
            "t": quality_data.deviation_tables(found.result) if found else None,
            "computed": found,
            "threshold": THRESHOLD,
        },
    )
