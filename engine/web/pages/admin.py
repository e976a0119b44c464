"""The admin pages: users and roles, API tokens (`/admin`), and the audit log with filters
(`/admin/audit`). Admins manage accounts (add, disable, unlock, set a new password); they see no
clinical data beyond the audit rows."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from engine.web.accounts import (
    DEFAULT_TOKEN_DAYS,
    MAX_PASSWORD,
    MAX_TOKEN_DAYS,
    MIN_PASSWORD,
    AccountError,
    Principal,
    Role,
    check_new_password,
)
from engine.web.deps import audit, get_accounts, require, verify_csrf
from engine.web.pages.common import BadQuery, PageRoute, page_errors, parse_day
from engine.web.pages.patient import Fields
from engine.web.templating import render, see_other

router = APIRouter(route_class=PageRoute)
ADMIN = require(Role.admin)
AUDIT_PAGE = 100


# each form's field labels (a refusal names the field by its label)
LABELS = {
    "user": {"name": "Name", "role": "Role", "password": "Initial password"},
    "token": {"name": "Token name", "role": "Role", "days": "Valid for (days)"},
    "password": {"name": "User", "password": "New password", "confirm": "Repeat the password"},
}
DONE = {
    "user": "User added.",
    "changed": "Saved.",
    "password": "Password set. Every session of that user has ended.",
    "unlocked": "Account unlocked.",
}


def _refused(form: str, exc: AccountError, fields: Fields) -> dict[str, str]:
    label = LABELS[form][exc.field]
    return {
        "form": form,
        "field": exc.field,
        "message": f"{label}: {exc.reason}",
        "name": fields.get("name", ""),
        "role": fields.get("role", ""),
        "days": fields.get("days", ""),
    }


def _admin_page(
    request: Request,
    *,
    problem: str | None = None,
    token: tuple[str, str] | None = None,
    done: str | None = None,
    status: int = 200,
    refused: dict[str, str] | None = None,
) -> Response:
    """The admin page; `token`: the name and secret of the token just made; `refused`: the
    form that was refused ("user" or "token"), the field at fault, the message, and what was
    typed (never the password)."""
    accounts = get_accounts(request)
    now = accounts.now()
    users = [
        u | {"locked": u["locked_until"] is not None and u["locked_until"] > now}
        for u in accounts.list_users()
    ]
    tokens = [
        t | {"expired": t["expires_at"] is not None and t["expires_at"] <= now}
        for t in accounts.list_tokens()
    ]
    new_token = None
    if token is not None:
        expires = next((t["expires_at"] for t in tokens if t["name"] == token[0]), None)
        new_token = {"name": token[0], "secret": token[1], "expires_at": expires}
    return render(
        request,
        "admin.html",
        {
            "title": "Users and tokens",
            "users": users,
            "tokens": tokens,
            "roles": [r.value for r in Role],
            "min_password": MIN_PASSWORD,
            "max_password": MAX_PASSWORD,
            "default_days": DEFAULT_TOKEN_DAYS,
            "max_days": MAX_TOKEN_DAYS,
            "problem": problem,
            "new_token": new_token,
            "done": done,
            "refused": refused or {},
        },
        status_code=status,
    )


@router.get("/admin", response_class=HTMLResponse)
def admin_page(
    request: Request, principal: Annotated[Principal, Depends(ADMIN)], done: str | None = None
) -> Response:
    """Users with their roles and lock state; API tokens; forms to add and revoke."""
    audit(request, principal, "admin_view")
    return _admin_page(request, done=DONE.get(done or ""))


@router.post("/admin/users", dependencies=[Depends(verify_csrf)])
def add_user(
    request: Request, principal: Annotated[Principal, Depends(ADMIN)], fields: Fields
) -> Response:
    """Add an account with a role and an initial password."""
    name = fields.get("name", "").strip()
    try:
        get_accounts(request).add_user(
            name, role=fields.get("role", ""), password=fields.get("password", "")
        )
    except AccountError as exc:
        audit(request, principal, "user_add", outcome="invalid")
        return _admin_page(request, refused=_refused("user", exc, fields), status=422)
    audit(request, principal, "user_add", cohort={"user": name})
    return see_other(request, "/admin?done=user")


@router.post("/admin/users/{name}/disabled", dependencies=[Depends(verify_csrf)])
def set_disabled(
    request: Request, name: str, principal: Annotated[Principal, Depends(ADMIN)], fields: Fields
) -> Response:
    """Disable an account (its sessions end) or enable it again."""
    disabled = fields.get("disabled") == "true"
    action = "user_disable" if disabled else "user_enable"
    return _act(
        request, principal, action, lambda: get_accounts(request).set_disabled(name, disabled),
        {"user": name}, "changed",
    )  # fmt: skip


@router.post("/admin/users/{name}/unlock", dependencies=[Depends(verify_csrf)])
def unlock_user(
    request: Request, name: str, principal: Annotated[Principal, Depends(ADMIN)]
) -> Response:
    """End an account's lockout (its failed logins are forgotten)."""
    return _act(
        request, principal, "user_unlock", lambda: get_accounts(request).unlock(name),
        {"user": name}, "unlocked",
    )  # fmt: skip


@router.post("/admin/password", dependencies=[Depends(verify_csrf)])
def set_password(
    request: Request, principal: Annotated[Principal, Depends(ADMIN)], fields: Fields
) -> Response:
    """Set a new password for a user (typed twice): every session of theirs ends, and a locked
    account is unlocked. The password is never written to the audit or sent back."""
    name = fields.get("name", "")
    password = fields.get("password", "")
    accounts = get_accounts(request)
    try:
        if not accounts.has_user(name):
            raise AccountError(f"name: no user {name[:64]!r}")
        if name == principal.name:  # it would end this session too, without the current password
            raise AccountError(
                "name: your own password is changed under Change password (it asks for the "
                "current one)"
            )
        check_new_password(password, name=name)
        if fields.get("confirm", "") != password:
            raise AccountError("confirm: it is not the same as the new password", field="confirm")
        accounts.set_password(name, password=password)
    except AccountError as exc:
        audit(request, principal, "user_password", outcome="invalid")
        return _admin_page(request, refused=_refused("password", exc, fields), status=422)
    audit(request, principal, "user_password", cohort={"user": name})
    return see_other(request, "/admin?done=password")


@router.post("/admin/tokens", dependencies=[Depends(verify_csrf)])
def create_token(
    request: Request, principal: Annotated[Principal, Depends(ADMIN)], fields: Fields
) -> Response:
    """Create an API token working for `days` (365 when not sent); it is shown once, on this
    answer, and stored hashed."""
    name = fields.get("name", "").strip()
    try:
        days = _token_days(fields.get("days"))
        secret = get_accounts(request).create_token(name, role=fields.get("role", ""), days=days)
    except AccountError as exc:
        audit(request, principal, "token_create", outcome="invalid")
        return _admin_page(request, refused=_refused("token", exc, fields), status=422)
    audit(request, principal, "token_create", cohort={"token": name})
    return _admin_page(request, token=(name, secret))


def _token_days(value: str | None) -> int:
    """The token form's `days` as a number (not sent: the default); the range is checked by
    `create_token`."""
    if value is None:
        return DEFAULT_TOKEN_DAYS
    text = value.strip()
    if not _DAYS.fullmatch(text):  # ASCII digits: int() also takes "3_65" and other scripts'
        raise AccountError(f"days: {value[:20]!r} is not a whole number", field="days")
    return int(text)


_DAYS = re.compile(r"[+-]?[0-9]{1,6}")


@router.post("/admin/tokens/{name}/revoke", dependencies=[Depends(verify_csrf)])
def revoke_token(
    request: Request, name: str, principal: Annotated[Principal, Depends(ADMIN)]
) -> Response:
    """Revoke an API token: it stops working at once."""
    return _act(
        request, principal, "token_revoke", lambda: get_accounts(request).revoke_token(name),
        {"token": name}, "changed",
    )  # fmt: skip


def _act(
    request: Request,
    principal: Principal,
    action: str,
    change: Callable[[], None],
    subject: dict[str, str],
    done: str,
) -> Response:
    """Make a one-button change (disable, enable, unlock, revoke) and audit it: back to the
    admin page saying it is `done`, or the page again with the refusal."""
    try:
        change()
    except AccountError as exc:
        audit(request, principal, action, outcome="invalid")
        return _admin_page(request, problem=str(exc), status=422)
    audit(request, principal, action, cohort=subject)
    return see_other(request, f"/admin?done={done}")


def _utc_day_start(day: dt.date) -> dt.datetime:
    """The start of `day` in UTC (the API's day bounds)."""
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def _utc_day_end(day: dt.date, field: str, value: str | None) -> dt.datetime:
    """The end of `day` in UTC (the start of the next day); 9999-12-31 has none: a 422."""
    if day == dt.date.max:
        raise BadQuery(field, (value or "")[:40], "out of range: the latest date is 9999-12-30")
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)


@router.get("/admin/audit", response_class=HTMLResponse)
@page_errors
def audit_page(
    request: Request,
    principal: Annotated[Principal, Depends(ADMIN)],
    user: str | None = None,
    patient: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    upto: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The access audit, newest first, filtered by user, patient, action and date. The pages
    after the first read up to the newest row the first one showed (`upto`): each view adds a
    row, which would otherwise shift every later page by one."""
    first, last = parse_day(since, "since"), parse_day(until, "until")
    filters: dict[str, Any] = {
        "user": user or None,
        "patient": patient or None,
        "action": action or None,
        "since": _utc_day_start(first) if first else None,
        "until": _utc_day_end(last, "until", until) if last else None,
    }
    rows = get_accounts(request).audit_log(
        **filters, upto=upto, limit=AUDIT_PAGE + 1, offset=(page - 1) * AUDIT_PAGE
    )
    audit(request, principal, "audit_view")
    upto = upto if upto is not None else (rows[0]["id"] if rows else None)
    shown = {"user": user or "", "patient": patient or "", "action": action or ""}
    shown |= {"since": since or "", "until": until or "", "upto": str(upto or "")}
    query = urlencode({k: v for k, v in shown.items() if v})
    return render(
        request,
        "audit.html",
        {
            "title": "Audit log",
            "rows": rows[:AUDIT_PAGE],
            "more": len(rows) > AUDIT_PAGE,
            "page": page,
            "shown": shown,
            "query": query,
        },
    )
