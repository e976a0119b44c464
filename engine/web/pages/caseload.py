"""The caseload list (`/caseload`): one row per patient from the stored summary, filtered by
state, flag and due, sorted by any column, paged; htmx swaps the table alone."""

from __future__ import annotations

from typing import Annotated, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from engine.web import caseload as queries
from engine.web.accounts import Principal
from engine.web.deps import audit, get_services, require, root_path
from engine.web.pages.common import (
    CLINICAL,
    BadQuery,
    PageRoute,
    page_errors,
    parse_as_of,
    past_last_page,
)
from engine.web.pages.enroll import may_enroll
from engine.web.templating import is_htmx, render

router = APIRouter(route_class=PageRoute)
PAGE_SIZE = 50
DUE = {"now": "due now", "week": "due within a week", "none": "nothing scheduled"}
# (sort key, column heading) in the table's order
COLUMNS = (
    ("patient", "Patient"),
    ("state", "State"),
    ("days", "Days in state"),
    ("dose", "Weeks at effective dose"),
    ("last_score", "Baseline → last score"),
    ("change", "Change"),
    (None, "Flags"),
    ("due", "Next due"),
    ("contact", "Last contact"),
)


def _choice(value: str | None, allowed: tuple[str, ...], field: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise BadQuery(field, value[:40], f"choose one of {', '.join(allowed)}")
    return value


@router.get("/caseload", response_class=HTMLResponse)
@page_errors
def caseload_page(
    request: Request,
    principal: Annotated[Principal, Depends(require(*CLINICAL))],
    state: str | None = None,
    flag: str | None = None,
    due: str | None = None,
    sort: str = "patient",
    descending: bool = False,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    as_of: str | None = None,
) -> Response:
    """The patients of the caseload, PAGE_SIZE at a time."""
    svc = get_services(request)
    definition = svc.definitions.default
    states = [(s.id, s.label) for s in definition.states]
    state = _choice(state, tuple(s for s, _ in states), "state")
    flag = _choice(flag, get_args(queries.Flag), "flag")
    due = _choice(due, tuple(DUE), "due")
    sort = _choice(sort, get_args(queries.Sort), "sort") or "patient"
    day = parse_as_of(request, as_of)
    result = queries.caseload(
        svc,
        state=state,
        flag=flag,
        due=due,
        sort=sort,
        descending=descending,
        as_of=day,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    pages = max(1, -(-result.total // PAGE_SIZE))
    if page > pages:
        return past_last_page(request, "caseload", page, pages)
    filters = {"state": state, "flag": flag, "due": due}
    audit(request, principal, "caseload", cohort={**filters, "sort": sort, "page": page})
    base: dict[str, object] = {k: v for k, v in filters.items() if v}
    if day is not None:  # the links keep the date
        base["as_of"] = day.isoformat()

    def link(**change: object) -> str:
        """This list's URL with some parameters changed (page back to 1 unless given)."""
        values: dict[str, object] = {**base, "sort": sort, "descending": descending, "page": 1}
        values.update(change)
        if values["sort"] == "patient":
            del values["sort"]
        if values["descending"]:
            values["descending"] = "true"
        else:
            del values["descending"]
        if values["page"] == 1:
            del values["page"]
        return root_path(request) + "/caseload" + ("?" + urlencode(values) if values else "")

    labels = dict(states)
    context = {
        "title": "Caseload",
        "can_enroll": may_enroll(principal),  # the link to /enroll
        "as_of": base.get("as_of"),  # the filter form keeps the date too
        "result": result,
        "states": states,
        "labels": labels,
        "flags": get_args(queries.Flag),
        "due_choices": DUE,
        "f": filters,
        "sort": sort,
        "descending": descending,
        "columns": COLUMNS,
        "page": page,
        "pages": pages,
        "link": link,
    }
    name = "caseload_table.html" if is_htmx(request) else "caseload.html"
    return render(request, name, context)
