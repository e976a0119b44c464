"""Login and logout: `GET /login` (the form), `POST /login` (CSRF-checked), `POST /logout`.

The session cookie is HttpOnly, SameSite=Lax, Secure behind HTTPS; a failed login says the same
whatever failed (unknown name, wrong password, locked, disabled) and is audited. The login page
says when a session ended for going unused (`idle`) or a form was sent after it ended (`ended`).
Under a path prefix (`root_path`) the cookies are the prefix's and `next` must be a page under it.
"""

from __future__ import annotations

import html
import importlib.util
import posixpath
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from engine.web.accounts import SESSION_LIFETIME
from engine.web.deps import (
    CSRF_FIELD,
    audit,
    context,
    csrf_token,
    get_accounts,
    optional_principal,
    root_path,
    session_cookie,
    verify_csrf,
)

router = APIRouter(include_in_schema=False)
LOGIN_FAILED = "Wrong name or password, or the account is locked: try again later."


def _safe_next(request: Request, target: str | None) -> str:
    """Only a path of this app (no open redirect to another site, nor under a path prefix to
    another app of the host); else the app's home page."""
    root = root_path(request)
    home = root + "/"
    if not target or not target.startswith(home) or target.startswith("//") or "\\" in target:
        return home
    if root:  # "/pathway/../elsewhere": the browser resolves the dots out of the prefix
        path = unquote(target.partition("?")[0].partition("#")[0])
        resolved = posixpath.normpath(path)
        if "\\" in path or not (resolved == root or resolved.startswith(home)):
            return home
    return target


def render_login(
    request: Request,
    *,
    error: str | None,
    next_url: str,
    status: int,
    notice: str | None = None,
) -> Response:
    """The login page: the page engineer's `login.html` if it exists, else a plain form."""
    values: dict[str, Any] = {
        "error": error,
        "notice": notice,
        "next": next_url,
        "csrf_token": csrf_token(request),
        "csrf_field": CSRF_FIELD,
        "principal": None,
    }
    if importlib.util.find_spec("engine.web.templating") is not None:
        templating = importlib.import_module("engine.web.templating")
        render = getattr(templating, "render", None)
        if render is not None:
            response: Response = render(request, "login.html", values, status_code=status)
            return response
    message = f"<p role=alert>{html.escape(error)}</p>" if error else ""
    if notice:
        message += f"<p role=status>{html.escape(notice)}</p>"
    body = (
        "<!doctype html><html lang=en><title>Log in</title><main><h1>Log in</h1>"
        f"{message}<form method=post action={quote(root_path(request))}/login>"
        f"<input type=hidden name={CSRF_FIELD} value='{html.escape(values['csrf_token'])}'>"
        f"<input type=hidden name=next value='{html.escape(next_url)}'>"
        "<label>Name <input name=username autocomplete=username required></label>"
        "<label>Password <input name=password type=password autocomplete=current-password "
        "required></label><button>Log in</button></form></main></html>"
    )
    return HTMLResponse(body, status_code=status)


SESSION_ENDED = (
    "Your session has ended (you logged out, or it expired): log in again to go on. "
    "The form you sent was not saved."
)
FORM_NOT_SAVED = "The form you sent was not saved."


def idle_notice(minutes: int) -> str:
    """What the login page says after a session ended for going unused."""
    span = "1 minute" if minutes == 1 else f"{minutes} minutes"
    return f"You were signed out after {span} without activity: log in again to go on."


@router.get("/login")
def login_page(
    request: Request, next: str | None = None, ended: str | None = None, idle: str | None = None
) -> Response:
    """The login form (a logged-in user goes straight on); `ended` says a form was sent after
    the session ended, `idle` that it ended for going unused for the idle timeout."""
    if optional_principal(request) is not None:
        return RedirectResponse(_safe_next(request, next), status_code=303)
    notice = SESSION_ENDED if ended else None
    if idle:
        minutes = int(get_accounts(request).idle.total_seconds() // 60)
        notice = idle_notice(minutes) + (f" {FORM_NOT_SAVED}" if ended else "")
    return render_login(
        request, error=None, next_url=_safe_next(request, next), status=200, notice=notice
    )


def set_session_cookie(request: Request, response: Response, cookie: str) -> None:
    """Give the browser its session cookie (HttpOnly, SameSite=Lax, Secure behind HTTPS, sent to
    the app's paths only; it lasts as long as the session can)."""
    response.set_cookie(
        session_cookie(request),
        cookie,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=context(request).secure_cookies,
        path=root_path(request) or "/",
    )


@router.post("/login", dependencies=[Depends(verify_csrf)])
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    """Check the password; set the session cookie and go on, or show the form again (401)."""
    accounts = get_accounts(request)
    found = accounts.login(username, password)
    if found is None:
        # the name as typed is an account name, never patient data
        accounts.audit(None, "login", outcome="refused", actor=username[:64] or None)
        return render_login(
            request, error=LOGIN_FAILED, next_url=_safe_next(request, next), status=401
        )
    cookie, principal = found
    earlier = request.cookies.get(session_cookie(request))
    if earlier:  # logging in again (or as someone else) ends the session this browser had
        accounts.logout(earlier)
    audit(request, principal, "login")
    response = RedirectResponse(_safe_next(request, next), status_code=303)
    set_session_cookie(request, response, cookie)
    return response


@router.post("/logout", dependencies=[Depends(verify_csrf)])
def logout(request: Request) -> Response:
    """End the session and go to the login page."""
    principal = optional_principal(request)
    cookie = request.cookies.get(session_cookie(request))
    if cookie:
        get_accounts(request).logout(cookie)
    if principal is not None:
        audit(request, principal, "logout")
    response = RedirectResponse(root_path(request) + "/login", status_code=303)
    response.delete_cookie(
        session_cookie(request),
        path=root_path(request) or "/",
        httponly=True,
        samesite="lax",
        secure=context(request).secure_cookies,
    )
    return response
