"""What the page routers share: who may open which page, errors as pages, parsing of query
parameters, and small-cell suppression of the board for the quality role."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute

from engine.queries.board import Board
from engine.queries.filters import InvalidFilter
from engine.web.accounts import Principal, Role
from engine.web.deps import CSRF_REFUSED, audit, get_services, optional_principal
from engine.web.quality_data import ComputationFailed
from engine.web.suppress import THRESHOLD, board_hidden
from engine.web.templating import is_htmx, render
from pathway.errors import UnknownPatient

P = ParamSpec("P")

CLINICAL = (Role.coordinator, Role.clinician)
AGGREGATES = (Role.coordinator, Role.clinician, Role.quality)

# Page routes and the roles that may open them (every other role gets 403; nobody is sent to
# /login). Methods are GET unless named.
PAGE_ROLES: dict[str, tuple[Role, ...]] = {
    "GET /board": AGGREGATES,
    "GET /board.csv": AGGREGATES,
    "GET /caseload": CLINICAL,
    "GET /worklist": CLINICAL,
    "GET /patients/{patient_id}": CLINICAL,
    "GET /patients/{patient_id}/path.svg": CLINICAL,
    "POST /patients/{patient_id}/record/{form}": CLINICAL,
    "POST /patients/{patient_id}/advance": CLINICAL,
    "POST /patients/{patient_id}/override": (Role.clinician,),
    "GET /quality": AGGREGATES,
    "GET /quality/cohort.{ext}": AGGREGATES,
    "GET /quality/definition": AGGREGATES,
    "GET /quality/measures": AGGREGATES,
    "GET /quality/deviations": AGGREGATES,
    "GET /admin": (Role.admin,),
    "GET /admin/audit": (Role.admin,),
    "POST /admin/users": (Role.admin,),
    "POST /admin/users/{name}/disabled": (Role.admin,),
    "POST /admin/tokens": (Role.admin,),
    "POST /admin/tokens/{name}/revoke": (Role.admin,),
}


class BadQuery(Exception):
    """A query parameter that cannot be read: the page says which one and why (422)."""

    def __init__(self, field: str, value: str, message: str) -> None:
        self.field, self.value, self.message = field, value, message
        super().__init__(f"{field}: {message} (got {value!r})")


def parse_day(value: str | None, field: str) -> dt.date | None:
    """An ISO date from a query parameter or form field ('' is none)."""
    if value is None or value.strip() == "":
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise BadQuery(field, value[:40], "expected a date YYYY-MM-DD") from None


def parse_as_of(request: Request, value: str | None) -> dt.date | None:
    """The `as_of` date of a page built from each patient's current state (the board, the
    caseload): today or later. An earlier date is a BadQuery: the stored state is today's, so a
    past date would show today's patients with negative days in state. Today is the app's clock
    (`Services.clock`)."""
    day = parse_day(value, "as_of")
    if day is None:
        return None
    today = get_services(request).clock.today()
    if day < today:
        raise BadQuery(
            "as_of",
            day.isoformat(),
            f"is before today ({today.isoformat()}): this page counts each patient's current "
            "state, so it can be shown as of today or a later date only",
        )
    return day


def past_last_page(request: Request, what: str, page: int, pages: int) -> HTMLResponse:
    """A 404 page for a page number past a list's last page, naming both."""
    return error_page(
        request,
        404,
        "No such page",
        f"page: the {what} has {pages} page{'s' if pages != 1 else ''} now; there is no "
        f"page {page}.",
    )


def error_page(
    request: Request, status: int, title: str, message: str, **extra: Any
) -> HTMLResponse:
    """An error as a page (the message names the problem; nothing about other patients)."""
    return render(
        request, "error.html", {"title": title, "message": message, **extra}, status_code=status
    )


def suppressed(principal: Principal) -> bool:
    """Small-cell suppression is always on for the quality role."""
    return principal.role == Role.quality


@dataclass(frozen=True)
class BoardLine:
    """One state of the board as a page shows it (counts already suppressed where needed)."""

    state: str
    label: str
    kind: str
    patients: str
    median_days: str
    p90_days: str
    due: str
    hidden: bool  # the patients cell is suppressed (the days are then not shown either)


def _days(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def board_lines(
    board: Board, *, suppress: bool, plain: bool = False
) -> tuple[list[BoardLine], str, str]:
    """The board's rows, and its totals (patients, due), as text; with `suppress`, counts from 1
    to THRESHOLD and any count that would let one be worked out are hidden (`viz.suppression`).
    `plain` writes counts without thousands separators (CSV: numbers a program can read)."""
    rows = list(board.rows)
    hidden: dict[tuple[str, str], str] = {}
    if suppress:
        hidden = {
            key: f"≤{THRESHOLD}" if why == "primary" else "*"
            for key, why in board_hidden(board).items()
        }

    def shown(column: str, state: str, value: int) -> str:
        return hidden.get((column, state), str(value) if plain else f"{value:,}")

    out = []
    for r in rows:
        small = ("patients", r.state) in hidden
        out.append(
            BoardLine(
                state=r.state,
                label=r.label or r.state,
                kind=r.kind or "",
                patients=shown("patients", r.state, r.patients),
                median_days="–" if small else _days(r.median_days),
                p90_days="–" if small else _days(r.p90_days),
                due=shown("due", r.state, r.with_due_item),
                hidden=small,
            )
        )
    return (
        out,
        shown("patients", "*total*", board.patients),
        shown("due", "*total*", board.with_due_item),
    )


def page_errors(func: Callable[P, HTMLResponse | Response]) -> Callable[P, HTMLResponse | Response]:
    """Wrap a page route: a bad query parameter is a 422 page naming it, an unknown patient a
    404 page; the thread's database connection goes back to the pool at the end (the wrapper
    keeps the signature FastAPI reads)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> HTMLResponse | Response:
        request = kwargs.get("request")
        if not isinstance(request, Request):
            raise TypeError(f"{func.__name__} needs its `request` as a keyword argument")
        try:
            return func(*args, **kwargs)
        except BadQuery as exc:
            return error_page(request, 422, "Cannot read this request", str(exc))
        except InvalidFilter as exc:  # a filter the queries refuse (an unknown state, a date)
            return error_page(request, 422, "Cannot read this request", str(exc))
        except UnknownPatient as exc:
            return error_page(request, 404, "Unknown patient", str(exc))
        except ComputationFailed as exc:
            failed = error_page(
                request,
                500,
                f"Could not work out the {exc.kind}",
                f"Working out the {exc.kind} failed ({exc.error}). Nothing is running for it "
                "now; reload the page in a minute to try again.",
            )
            if is_htmx(request):  # a poll of the pending page: show this page, stop polling
                failed.headers["HX-Refresh"] = "true"
            return failed
        finally:
            # This thread's services keep their database connection between uses; give it back
            # to the pool after each page, or a server with more threads than the pool has
            # connections waits for one that never comes back.
            get_services(request).close()

    return wrapper


class PageRoute(APIRoute):
    """A page route: a refusal (403 for another role, 404, 422 for a query parameter FastAPI
    could not read) is answered with a page in the app's layout, not bare text; a refused
    role is audited with the path's patient, if any."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except HTTPException as exc:
                if exc.status_code not in (403, 404, 422):
                    raise
                detail = exc.detail if isinstance(exc.detail, str) else "refused"
                if exc.status_code == 403:
                    patient = request.path_params.get("patient_id")
                    who = optional_principal(request)
                    audit(request, who, "page_refused", patient_id=patient, outcome="forbidden")
                    # no patient id on the page: the person asking may not see one
                    title = "Form refused" if detail == CSRF_REFUSED else "Not for your role"
                    return error_page(request, 403, title, _sentence(detail))
                return error_page(request, exc.status_code, "Cannot answer", _sentence(detail))
            except RequestValidationError as exc:
                fields = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}"
                    for e in exc.errors()
                )
                return error_page(request, 422, "Cannot read this request", fields)

        return handler


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
