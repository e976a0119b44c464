"""The quality pages: the cohort diagram with filters and exports (`/quality`), and the definition
page (`/quality/definition`): diagram, parameters with sources and `verified` flags, and the
differences between stored versions. Aggregates only: counts from 1 to 10 are always hidden.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from engine import Services
from engine.web import quality_data
from engine.web.accounts import Principal
from engine.web.deps import audit, context, get_services, require
from engine.web.pages import review
from engine.web.pages.common import (
    AGGREGATES,
    BadQuery,
    PageRoute,
    page_errors,
    parse_day,
)
from engine.web.pages.diagrams import Drawn, counted, drawn
from engine.web.suppress import THRESHOLD
from engine.web.templating import render
from pathway.definition import Definition
from pathway.errors import PathwayError

router = APIRouter(route_class=PageRoute)
EXPORTS = {
    "svg": ("svg", "image/svg+xml"),
    "png": ("png", "image/png"),
    "pdf": ("pdf", "application/pdf"),
    "mmd": ("mermaid", "text/plain; charset=utf-8"),
    "json": ("json", "application/json"),
    "csv": ("csv", "text/csv; charset=utf-8"),  # the diagram's counts per state (`_csv`)
}


def _filters(
    svc: Services,
    state: str | None,
    version: str | None,
    since: str | None,
    until: str | None,
) -> dict[str, Any]:
    """The cohort filters, read and checked in the form's terms (BadQuery naming the one that
    is wrong): a window must not close before it opens, nor open after today."""
    chosen: dict[str, Any] = {
        "state": state or None,
        "version": version or None,
        "since": parse_day(since, "since"),
        "until": parse_day(until, "until"),
    }
    first, last, today = chosen["since"], chosen["until"], svc.clock.today()
    if first is not None and last is not None and last < first:
        raise BadQuery("until", last.isoformat(), f"is before since {first.isoformat()}")
    if first is not None and first > today:
        raise BadQuery(
            "since", first.isoformat(), f"is after today ({today.isoformat()}): no moves yet"
        )
    defn = svc.definitions.default
    if chosen["state"] is not None and chosen["state"] not in defn.state_by_id:
        raise BadQuery("state", chosen["state"], "not a state of the pathway")
    if chosen["version"] is not None:
        known = {v.version for v in svc.stored_definitions()}
        if chosen["version"] not in known:
            raise BadQuery("version", chosen["version"], "not a stored definition version")
    return chosen


def _cohort(
    request: Request, f: dict[str, Any], *, fresh: bool = False, wait: float | None = None
) -> tuple[Definition, quality_data.Computed | None]:
    """The definition to draw and the cohort's counts, kept in the quality cache: with `wait`,
    None while a first computation runs in the background (the page says so and asks again);
    without, worked out now when nothing is kept."""
    from engine.queries.overlay_cohort import cohort_query, overlay_definition

    svc, cache = get_services(request), quality_data.cache_of(request.app.state)
    drawn = overlay_definition(svc, None, state=f["state"], version=f["version"])
    q = cohort_query(
        today=svc.clock.today(),
        state=f["state"],
        definition_id=drawn.metadata.id,
        definition_version=f["version"],
        since=f["since"],
        until=f["until"],
    )
    work, key = quality_data.cohort_work(q), quality_data.cohort_key(svc, q)
    background = context(request).make_services
    if wait is None or fresh:
        found: quality_data.Computed | None = quality_data.kept_or_worked_out(
            svc, cache, key, work, fresh=fresh, background=background
        )
    else:
        found = quality_data.kept_or_started(
            svc, cache, key, work, background=background, wait=wait
        )
    return drawn, found


def _kept(computed: quality_data.Computed, name: str, make: Callable[[], Any]) -> Any:
    """What `make` draws from kept counts, kept with them (the same counts draw the same bytes;
    two requests drawing at once both keep the same thing)."""
    found = computed.result.get(name)
    if found is None:
        found = computed.result[name] = make()
    return found


def _described(f: dict[str, Any]) -> str:
    parts = [
        f"in {f['state']}" if f["state"] else "",
        f"on version {f['version']}" if f["version"] else "",
        f"moves from {f['since'].isoformat()}" if f["since"] else "",
        f"up to {f['until'].isoformat()}" if f["until"] else "",
    ]
    return ", ".join(p for p in parts if p) or "every patient, every move"


def _cohort_json(f: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in f.items() if v}


@router.get("/quality", response_class=HTMLResponse)
@page_errors
def quality_page(
    request: Request,
    principal: Annotated[Principal, Depends(require(*AGGREGATES))],
    state: str | None = None,
    version: str | None = None,
    since: str | None = None,
    until: str | None = None,
    fresh: bool = False,
) -> Response:
    """The cohort diagram, filtered, with small cells hidden; links to every export. The counts
    are kept (`engine.web.quality_data`): a first computation over a large log runs in the
    background while the page says so, and a kept one is shown with when it was worked out."""
    import viz

    svc = get_services(request)
    f = _filters(svc, state, version, since, until)
    diagram: Drawn | None = None
    problem = computed = None
    try:
        definition, computed = _cohort(request, f, fresh=fresh, wait=review.PAGE_WAIT)
        if computed is not None:
            summary = computed.result["summary"]
            diagram = _kept(
                computed,
                f"page: {_described(f)}",  # the same counts may be asked for in other words
                lambda: drawn(
                    viz.build(definition, cohort=summary, suppress=True, threshold=THRESHOLD),
                    f"The pathway with the cohort's counts ({_described(f)}); small counts hidden.",
                ),
            )
    except (PathwayError, viz.GraphvizNotInstalled) as exc:
        problem = str(exc)
    audit(request, principal, "cohort_view", cohort=_cohort_json(f))
    query = urlencode(_cohort_json(f))
    return render(
        request,
        "quality.html",
        {
            "title": "Cohort",
            "f": f,
            "described": _described(f),
            "diagram": diagram,
            "problem": problem,
            "computed": computed,
            "states": [(s.id, s.label) for s in svc.definitions.default.states],
            "versions": sorted({v.version for v in svc.stored_definitions()}),
            "exports": [(ext, fmt) for ext, (fmt, _) in EXPORTS.items()],
            "query": ("?" + query) if query else "",
            "threshold": THRESHOLD,
        },
    )


@router.get("/quality/cohort.{ext}")
@page_errors
def cohort_export(
    request: Request,
    ext: str,
    principal: Annotated[Principal, Depends(require(*AGGREGATES))],
    state: str | None = None,
    version: str | None = None,
    since: str | None = None,
    until: str | None = None,
    fresh: bool = False,
) -> Response:
    """The cohort diagram as SVG, PNG, PDF, Mermaid or JSON, with the same suppression. The
    counts are the kept ones (like the page's): up to `MAX_AGE` old after a write, so two
    downloads either side of a recount differ; `X-Computed-At` and `X-Records-Changed-Since`
    say which counts a file holds (as the API does), and `fresh` counts again first."""
    import viz

    if ext not in EXPORTS:
        raise BadQuery("format", ext, f"choose one of {', '.join(EXPORTS)}")
    fmt, media = EXPORTS[ext]
    svc = get_services(request)
    f = _filters(svc, state, version, since, until)
    definition, computed = _cohort(request, f, fresh=fresh)
    assert computed is not None  # worked out now when nothing was kept
    summary = computed.result["summary"]
    if ext == "csv":
        data = _kept(
            computed,
            "export.csv",
            lambda: _csv(viz.build(definition, cohort=summary, suppress=True, threshold=THRESHOLD)),
        )
    else:
        data = _kept(
            computed,
            f"export.{ext}",
            lambda: viz.render(
                definition, fmt=fmt, cohort=summary, suppress=True, threshold=THRESHOLD
            ),
        )
    audit(request, principal, f"export_cohort_{ext}", cohort=_cohort_json(f))
    body = data.encode() if isinstance(data, str) else data
    return Response(
        body,
        media_type=media,
        headers={
            "content-disposition": f'attachment; filename="cohort.{ext}"',
            "X-Computed-At": computed.at.isoformat(),
            "X-Records-Changed-Since": "false" if computed.current else "true",
        },
    )


def _parameters(definition: Definition) -> list[dict[str, Any]]:
    out = []
    params = definition.parameters
    for name in type(params).model_fields:
        p = getattr(params, name)
        if p is None or not hasattr(p, "source"):
            continue
        value = p.model_dump(mode="json", include={"value"})["value"]  # models inside too
        out.append(
            {
                "name": name,
                "value": json.dumps(value, sort_keys=True, ensure_ascii=False)
                if isinstance(value, dict | list)
                else value,
                "unit": p.unit or "",
                "source": p.source,
                "verified": p.verified,
            }
        )
    return out


@router.get("/quality/definition", response_class=HTMLResponse)
@page_errors
def definition_page(
    request: Request,
    principal: Annotated[Principal, Depends(require(*AGGREGATES))],
    version: str | None = None,
    against: str | None = None,
) -> Response:
    """A stored definition version: diagram, parameters and sources, and what changed from
    another stored version."""
    import viz

    svc = get_services(request)
    default = svc.definitions.default
    stored = sorted(svc.stored_definitions(), key=lambda v: (v.id, v.version))
    versions = [v.version for v in stored if v.id == default.metadata.id]
    chosen = version or default.metadata.version
    if chosen not in versions and chosen != default.metadata.version:
        raise BadQuery("version", chosen, "not a stored definition version")
    if against and against not in versions:
        raise BadQuery("against", against, "not a stored definition version")
    definition = svc.definitions.get(default.metadata.id, chosen)
    try:
        diagram: Drawn | None = drawn(
            viz.build(definition),
            f"The pathway {definition.metadata.id} {chosen}: states and moves.",
        )
    except viz.GraphvizNotInstalled:
        diagram = None
    changes = None
    if against:
        old = svc.definitions.get(default.metadata.id, against)
        changes = viz.diff(old, definition).changes
    audit(request, principal, "definition_view", cohort={"version": chosen, "against": against})
    return render(
        request,
        "definition.html",
        {
            "title": "Definition",
            "definition": definition,
            "version": chosen,
            "versions": versions,
            "against": against or "",
            "diagram": diagram,
            "parameters": _parameters(definition),
            "changes": changes,
            "stored": stored,
        },
    )


def _csv(diagram: Any) -> str:
    """The cohort diagram's counts per state as CSV, with the diagram's suppression: plain
    numbers (no thousands separators), a hidden cell as the diagram prints it ("≤10", "*")."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["state", "label", "patients", "entered", "median_days"])
    w.writerows(counted(diagram)[0])
    return buf.getvalue()
