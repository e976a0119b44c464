"""The worklist (`/worklist`): due items, most urgent first, with why; filter by kind; paged."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from engine.queries.worklist import worklist
from engine.web.accounts import Principal
from engine.web.deps import audit, get_services, require
from engine.web.pages.common import (
    CLINICAL,
    BadQuery,
    PageRoute,
    page_errors,
    parse_day,
    past_last_page,
)
from engine.web.templating import is_htmx, render
from pathway.due import LABELS, PRIORITY

router = APIRouter(route_class=PageRoute)
PAGE_SIZE = 50


@router.get("/worklist", response_class=HTMLResponse)
@page_errors
def worklist_page(
    request: Request,
    principal: Annotated[Principal, Depends(require(*CLINICAL))],
    kind: Annotated[list[str] | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    as_of: str | None = None,
    state: str | None = None,
) -> Response:
    """What is due, most urgent first; htmx asks for the table alone when filtering or paging."""
    kinds = [k for k in (kind or []) if k]
    for k in kinds:
        if k not in PRIORITY:
            raise BadQuery("kind", k, f"not an item kind ({', '.join(PRIORITY)})")
    day = parse_day(as_of, "as_of")
    svc = get_services(request)
    state = state or None  # "any"; an unknown one is refused by the query (a 422 page)
    result = worklist(
        svc,
        as_of=day,
        state=state,
        kinds=kinds or None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    total = sum(result.counts.values())
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages:
        return past_last_page(request, "worklist", page, pages)
    audit(request, principal, "worklist", cohort={"kinds": kinds, "state": state, "page": page})
    keep = [("kind", k) for k in kinds] + ([("state", state)] if state else [])
    keep += [("as_of", day.isoformat())] if day else []
    context = {
        "title": "Worklist",
        "result": result,
        "kinds": PRIORITY,
        "labels": LABELS,
        "chosen": kinds,
        "states": [(st.id, st.label) for st in svc.definitions.default.states],
        "state": state,
        "as_of": day.isoformat() if day else None,
        "page": page,
        "pages": pages,
        "total": total,
        # what the pager links keep: the kinds, the state and the date
        "query": "".join(f"&{urlencode([pair])}" for pair in keep),
    }
    name = "worklist_table.html" if is_htmx(request) else "worklist.html"
    return render(request, name, context)
