"""The caseload board (`/board`): patients per state, days in state, due counts; and its
de-identified CSV (`/board.csv`), suppressed for the quality role as on the page."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from engine.queries import board as board_mod
from engine.web.accounts import Principal, Role
from engine.web.deps import audit, get_services, require
from engine.web.pages.common import (
    AGGREGATES,
    PageRoute,
    board_lines,
    page_errors,
    parse_as_of,
    suppressed,
)
from engine.web.suppress import THRESHOLD
from engine.web.templating import render

router = APIRouter(route_class=PageRoute)


@router.get("/board", response_class=HTMLResponse)
@page_errors
def board_page(
    request: Request,
    principal: Annotated[Principal, Depends(require(*AGGREGATES))],
    as_of: str | None = None,
) -> Response:
    """Patients per state with median and p90 days in state and how many have something due;
    each state opens its patient list (not for the quality role)."""
    day = parse_as_of(request, as_of)
    svc = get_services(request)
    result = board_mod.board(svc, as_of=day)
    suppress = suppressed(principal)
    lines, total, due = board_lines(result, suppress=suppress)
    audit(request, principal, "board", cohort={"as_of": result.as_of.isoformat()})
    return render(
        request,
        "board.html",
        {
            "title": "Board",
            "board": result,
            "lines": lines,
            "total": total,
            "due": due,
            "suppress": suppress,
            "threshold": THRESHOLD,
            "links": principal.role in (Role.coordinator, Role.clinician),
        },
    )


@router.get("/board.csv")
@page_errors
def board_csv(
    request: Request,
    principal: Annotated[Principal, Depends(require(*AGGREGATES))],
    as_of: str | None = None,
) -> Response:
    """The board as CSV: states and counts only (no patient id), suppressed for quality."""
    day = parse_as_of(request, as_of)
    svc = get_services(request)
    result = board_mod.board(svc, as_of=day)
    lines, total, due = board_lines(result, suppress=suppressed(principal), plain=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["state", "label", "patients", "median_days", "p90_days", "with_due_item"])
    for ln in lines:
        w.writerow([ln.state, ln.label, ln.patients, ln.median_days, ln.p90_days, ln.due])
    w.writerow(["*total*", "all states", total, "", "", due])
    audit(request, principal, "export_board_csv", cohort={"as_of": result.as_of.isoformat()})
    name = f"board-{result.as_of.isoformat()}.csv"
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
