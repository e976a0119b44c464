"""Errors as `application/problem+json` (RFC 9457) for the API; plain pages elsewhere.

Each of the engine's errors maps to one status: unknown patient 404, stale version 412 (both
versions named), invalid input 422 (each field and value), a blocked move 409 (with the guard's
reasons), a missing If-Match 428.
"""

from __future__ import annotations

import html
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine import AlreadyEnrolled, BeforeEntry, FutureDate, InvalidOverride, UnknownReasonCode
from engine.queries.overlay_path import NotEnrolledYet
from engine.web.deps import is_api
from pathway.errors import (
    DefinitionError,
    InvalidTrigger,
    PathwayError,
    RecordError,
    StaleVersion,
    TransitionBlocked,
    UnknownPatient,
)

PROBLEM = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    422: "Invalid input",
    428: "Precondition required",
    500: "Internal error",
}


def problem_response(
    status: int,
    title: str | None = None,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem+json response (members in a fixed order: deterministic)."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    body.update(extra)
    text = json.dumps(body, ensure_ascii=False, default=str)
    return Response(text, status_code=status, media_type=PROBLEM, headers=dict(headers or {}))


def _page(status: int, detail: str) -> Response:
    title = TITLES.get(status, "Error")
    text = (
        f"<!doctype html><html lang=en><title>{status} {title}</title>"
        f"<h1>{status} {title}</h1><p>{html.escape(detail)}</p></html>"
    )
    return HTMLResponse(text, status_code=status)


def error_status(exc: PathwayError) -> tuple[int, dict[str, Any]]:
    """The HTTP status of one of the engine's errors and the problem's extension members."""
    if isinstance(exc, UnknownPatient):
        return 404, {"patient_id": exc.patient_id}
    if isinstance(exc, StaleVersion):
        return 412, {
            "patient_id": exc.patient_id,
            "expected_version": exc.expected,
            "current_version": exc.actual,
        }
    if isinstance(exc, RecordError | DefinitionError):
        return 422, {
            "errors": [
                {"field": i.loc, "value": _jsonable(i.value), "message": i.message}
                for i in exc.issues
            ]
        }
    if isinstance(exc, TransitionBlocked):
        return 409, {
            "trigger": exc.trigger,
            "state": exc.state,
            "guard": exc.result,
            "reasons": [r.model_dump(mode="json") for r in exc.reasons],
        }
    if isinstance(exc, InvalidTrigger):
        field = {"field": "trigger", "value": exc.trigger, "message": str(exc)}
        return 422, {"errors": [field], "allowed": exc.allowed}
    if isinstance(exc, UnknownReasonCode):
        field = {"field": "reason", "value": exc.code, "message": str(exc)}
        return 422, {"errors": [field], "allowed": exc.allowed}
    if isinstance(exc, FutureDate | BeforeEntry):
        loc = exc.loc if isinstance(exc, FutureDate) else "effective"
        field = {"field": loc, "value": exc.date.isoformat(), "message": str(exc)}
        return 422, {"errors": [field]}
    if isinstance(exc, InvalidOverride):
        return 422, {"errors": [{"field": "to", "value": None, "message": str(exc)}]}
    if isinstance(exc, AlreadyEnrolled):
        return 409, {"patient_id": exc.patient_id}
    if isinstance(exc, NotEnrolledYet):
        field = {"field": "as_of", "value": exc.as_of.isoformat(), "message": str(exc)}
        return 422, {"errors": [field]}
    return 422, {}


def _jsonable(value: Any) -> Any:
    """The value as strict JSON can carry it (NaN and infinities are not JSON: their repr)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")[:200]
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)
    return value


async def _pathway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PathwayError)
    status, extra = error_status(exc)
    if not is_api(request):
        return _page(status, str(exc))
    return problem_response(status, None, str(exc), **extra)


class FieldError(StarletteHTTPException):
    """A 422 naming one field (a header or a query parameter) and its value."""

    def __init__(self, field: str, value: str, message: str) -> None:
        super().__init__(422, f"{field}: {message} (got {value[:80]!r})")
        self.errors = [{"field": field, "value": value[:200], "message": message}]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if not is_api(request):
        return _page(exc.status_code, detail)
    extra = {"errors": exc.errors} if isinstance(exc, FieldError) else {}
    return problem_response(exc.status_code, None, detail, headers=exc.headers, **extra)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [_field_error(e) for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    if not is_api(request):
        return _page(422, detail)
    return problem_response(422, None, detail, errors=errors)


def _field_error(e: Mapping[str, Any]) -> dict[str, Any]:
    """One of FastAPI's validation errors as {field, value, message}; a body that is not JSON
    names the body and where parsing stopped (its loc is the character offset, not a field)."""
    if e.get("type") == "json_invalid":
        offset = e["loc"][-1]
        reason = e.get("ctx", {}).get("error", "")
        message = f"is not valid JSON: {reason} at character {offset}"
        return {"field": "body", "value": None, "message": message}
    loc = list(e.get("loc", ()))
    if loc and loc[0] in ("query", "path", "header", "cookie", "body"):
        loc = loc[1:]  # where FastAPI read it: the app's own errors name the field alone
    field = ".".join(str(p) for p in loc) or "body"
    return {"field": field, "value": _jsonable(e.get("input")), "message": e.get("msg", "")}


def problem_handlers() -> dict[
    type[Exception], Callable[[Request, Exception], Awaitable[Response]]
]:
    """The exception handlers create_app registers."""
    return {
        PathwayError: _pathway_error,
        StarletteHTTPException: _http_error,
        RequestValidationError: _validation_error,
    }
