"""Your account (`/account`): every signed-in user changes their own password here.

The current password is checked like a login's (a wrong one counts toward the lockout); on
success every other session of the account ends and this browser gets a new session id. Each
attempt is audited (`password_change`), never with a password.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from engine.web.accounts import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    AccountError,
    Principal,
    Role,
    check_new_password,
)
from engine.web.auth import set_session_cookie
from engine.web.deps import audit, get_accounts, require, verify_csrf
from engine.web.pages.common import PageRoute
from engine.web.pages.patient import Fields
from engine.web.templating import render, see_other

router = APIRouter(route_class=PageRoute)
ANYONE = require(*Role)
# the form's fields: (id, label); a refusal names the field by its label
FIELDS = {
    "current_password": ("account-current", "Current password"),
    "new_password": ("account-new", "New password"),
    "confirm_password": ("account-confirm", "Repeat the new password"),
}
CHANGED = "Your password is changed. Every other session of your account has ended."


def _page(
    request: Request,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "account.html",
        {
            "title": "Change password",
            "principal": principal,
            "fields": FIELDS,
            "errors": errors or {},
            "done": done,
            "min_password": MIN_PASSWORD,
            "max_password": MAX_PASSWORD,
        },
        status_code=status,
    )


@router.get("/account", response_class=HTMLResponse)
def account_page(
    request: Request, principal: Annotated[Principal, Depends(ANYONE)], done: str | None = None
) -> Response:
    """The change-password form."""
    return _page(request, principal, done=CHANGED if done == "password" else None)


@router.post("/account", dependencies=[Depends(verify_csrf)])
def change_password(
    request: Request, principal: Annotated[Principal, Depends(ANYONE)], fields: Fields
) -> Response:
    """Change the signed-in user's password; a refusal shows the form again (422) naming each
    field at fault, with nothing kept (every field is a password) and nothing changed."""
    current = fields.get("current_password", "")
    new = fields.get("new_password", "")
    errors: dict[str, str] = {}
    if not current:
        errors["current_password"] = "type the password you logged in with"
    try:
        check_new_password(new, name=principal.name, field="new_password")
    except AccountError as exc:
        errors["new_password"] = exc.reason
    if fields.get("confirm_password", "") != new:
        errors["confirm_password"] = "it is not the same as the new password"
    if errors:
        audit(request, principal, "password_change", outcome="invalid")
        return _page(request, principal, errors=errors, status=422)
    try:
        cookie = get_accounts(request).change_password(
            principal.name, current=current, new=new, csrf=request.state.session_csrf
        )
    except AccountError as exc:
        # a wrong current password: counted toward the lockout like a failed login
        audit(request, principal, "password_change", outcome="refused")
        return _page(request, principal, errors={exc.field: exc.reason}, status=422)
    audit(request, principal, "password_change")
    response = see_other(request, "/account?done=password")
    set_session_cookie(request, response, cookie)
    return response
