"""FastAPI dependencies shared by the API and the pages: services, who is asking, roles, CSRF
and the access audit.

Pages and API use the same ones: `Depends(require(Role.coordinator, Role.clinician))` answers
401 to nobody (a page request is redirected to /login instead) and 403 to another role;
`verify_csrf` guards every HTML form post; `audit(...)` appends one access audit row.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

from engine import Services
from engine.web.accounts import Accounts, Principal, Role

__all__ = [
    "ALL_ROLES",
    "CLINICAL",
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CSRF_REFUSED",
    "SESSION_COOKIE",
    "LoginRequired",
    "Principal",
    "Role",
    "SessionEnded",
    "WebContext",
    "app_path",
    "audit",
    "cookie_prefix",
    "csrf_cookie",
    "csrf_token",
    "current_principal",
    "get_accounts",
    "get_services",
    "is_api",
    "optional_principal",
    "require",
    "root_path",
    "same_site_writes",
    "session_cookie",
    "session_idle",
    "verify_csrf",
]

SESSION_COOKIE = "pathway_session"
CSRF_COOKIE = "pathway_csrf"  # before login: double-submit cookie for the login form
CSRF_FIELD = "csrf_token"  # the hidden form field
CSRF_HEADER = "X-CSRF-Token"  # htmx requests may send it as a header instead
ALL_ROLES = tuple(Role)
CLINICAL = (Role.coordinator, Role.clinician)  # who may read and write patients


class LoginRequired(Exception):
    """Nobody is logged in: pages redirect to /login, the API answers 401."""


class SessionEnded(LoginRequired):
    """A form was posted without a session (logged out, or the session expired): the page
    goes to /login saying so, not to a 403 (the post is refused all the same)."""


CSRF_REFUSED = "the form's CSRF token is missing or wrong"


@dataclass
class WebContext:
    """What the app holds for every request: the database engine, per-thread services,
    the account store, and whether cookies are marked Secure."""

    engine: Any
    accounts: Accounts
    secure_cookies: bool
    make_services: Callable[[], Services]
    _local: threading.local

    def services(self) -> Services:
        """This thread's Services (a unit of work holds a connection: one per thread)."""
        svc: Services | None = getattr(self._local, "svc", None)
        if svc is None:
            svc = self._local.svc = self.make_services()
        return svc


def context(request: Request) -> WebContext:
    """The app's WebContext."""
    ctx: WebContext = request.app.state.web
    return ctx


def get_services(request: Request) -> Services:
    """The engine's services of the calling thread: call it in the endpoint's body, not through
    `Depends` (FastAPI resolves a sync dependency in another worker thread than the endpoint,
    and a unit of work must not serve two threads at once)."""
    return context(request).services()


def get_accounts(request: Request) -> Accounts:
    """The account store."""
    return context(request).accounts


def root_path(scope: Mapping[str, Any]) -> str:
    """The path prefix the app is served under, from a request or its ASGI scope: "" at the
    root of its host name, "/pathway" behind a proxy that publishes it at
    https://intranet.example/pathway/ and strips the prefix (ASGI's `root_path`, which
    `pathway serve --root-path` or the server sets). Every URL the app emits starts with it:
    `root_path(request) + "/login"`. Starlette keeps the top level's in `app_root_path` once a
    mount (/static) has lengthened `root_path`."""
    root: str = scope.get("app_root_path", scope.get("root_path", ""))
    return root.rstrip("/")


def app_path(scope: Mapping[str, Any]) -> str:
    """The path inside the app, from a request or its ASGI scope: without the root_path prefix,
    as the routes see it (ASGI's `path` includes `root_path`): `/pathway/static/app.css` →
    `/static/app.css`."""
    path: str = scope["path"]
    root = root_path(scope)
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :] or "/"
    return path


def cookie_prefix(secure: bool, root: str) -> str:
    """The prefix of the app's cookie names (RFC 6265bis): `__Host-` behind HTTPS at the root of
    the host name, so only this host, on Secure connections, can set them (OWASP ASVS 3.4.4);
    `__Secure-` under a path prefix (`__Host-` needs `Path=/`); none over plain HTTP, where a
    browser refuses both."""
    if not secure:
        return ""
    return "__Secure-" if root else "__Host-"


def session_cookie(request: Request) -> str:
    """The session cookie's name for this app: `pathway_session` with `cookie_prefix`."""
    return cookie_prefix(context(request).secure_cookies, root_path(request)) + SESSION_COOKIE


def csrf_cookie(request: Request) -> str:
    """The pre-login CSRF cookie's name for this app: `pathway_csrf` with `cookie_prefix`."""
    return cookie_prefix(context(request).secure_cookies, root_path(request)) + CSRF_COOKIE


def is_api(request: Request) -> bool:
    """An API request (answers JSON and problem+json, never redirects)."""
    return app_path(request).startswith("/api/")


def optional_principal(request: Request) -> Principal | None:
    """Who is asking, if anyone: a bearer token, else a session cookie (cached per request:
    looking a session up counts as its use, and ends it if it was idle too long)."""
    if hasattr(request.state, "principal"):
        found: Principal | None = request.state.principal
        return found
    accounts = get_accounts(request)
    principal: Principal | None = None
    request.state.session_csrf = None
    request.state.session_idle = False
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            principal = accounts.token(token.strip())
    else:
        cookie = request.cookies.get(session_cookie(request))
        if cookie:
            checked = accounts.check_session(cookie)
            principal, request.state.session_csrf = checked.principal, checked.csrf
            request.state.session_idle = checked.idle
    request.state.principal = principal
    return principal


def session_idle(request: Request) -> bool:
    """Whether this request's session cookie named a session that has just ended for going
    unused for the idle timeout (the login page then says so)."""
    optional_principal(request)
    return bool(getattr(request.state, "session_idle", False))


def current_principal(request: Request) -> Principal:
    """Who is asking (LoginRequired if nobody)."""
    principal = optional_principal(request)
    if principal is None:
        raise LoginRequired()
    return principal


def require(*roles: Role) -> Callable[[Request], Principal]:
    """A dependency: the principal if their role is one of `roles` (401 / login redirect for
    nobody, 403 for another role)."""
    allowed = frozenset(roles)

    def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        if principal.role not in allowed:
            route = request.scope.get("route")
            action = f"{request.method} {getattr(route, 'path', request.url.path)}"
            pid = request.path_params.get("patient_id")
            audit(request, principal, action, patient_id=pid, outcome="forbidden")
            raise HTTPException(status_code=403, detail=f"the {principal.role} role cannot do this")
        return principal

    dependency.__name__ = "require_" + "_".join(sorted(r.value for r in roles))
    return dependency


def csrf_token(request: Request) -> str:
    """The CSRF token to put in a form: the session's, or before login a double-submit token
    that the response sets as a cookie (SecurityHeaders middleware)."""
    optional_principal(request)
    token: str | None = request.state.session_csrf
    if token is not None:
        return token
    token = request.cookies.get(csrf_cookie(request))
    if not token:
        token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


async def verify_csrf(request: Request) -> None:
    """Refuse (403) a form post whose CSRF token is missing or wrong."""
    optional_principal(request)
    expected: str | None = request.state.session_csrf or request.cookies.get(csrf_cookie(request))
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not expected or not given or not hmac.compare_digest(expected, given):
        if (
            request.state.principal is None
            and app_path(request) != "/login"
            and "authorization" not in request.headers
            and not is_api(request)
        ):
            # No session: the form was sent after logout or expiry (or by someone never logged
            # in). Nothing is done either way; the person is asked to log in again.
            raise SessionEnded()
        raise HTTPException(status_code=403, detail=CSRF_REFUSED)


CROSS_SITE_REFUSED = (
    "a write signed in with a browser session must come from this site's own pages "
    "(an app sends Authorization: Bearer <token>)"
)
SESSION_TOKEN_MISSING = (
    "a write signed in with a browser session must send the session's CSRF token in the "
    f"{CSRF_HEADER} header, as the app's own forms carry it "
    "(an app sends Authorization: Bearer <token>)"
)


def same_site_writes(request: Request) -> None:
    """Refuse (403) an API write that rides on a browser session cookie unless it carries the
    session's CSRF token in `X-CSRF-Token`, and one that the browser says came from another
    site (`Sec-Fetch-Site`) or another origin (`Origin`) whatever it carries.

    A bearer token cannot be sent by another site, but a session cookie can be (SameSite=Lax
    keeps it off cross-site POSTs, not off those from a sibling subdomain, which is the same
    site), so a write authenticated by the cookie must prove it was made by this origin's own
    pages: the token (synchronizer pattern, ASVS 4.2.2), and where the browser says where the
    request came from, that too (not every client says)."""
    if request.method in ("GET", "HEAD", "OPTIONS") or "authorization" in request.headers:
        return
    if not request.cookies.get(session_cookie(request)):
        return
    from urllib.parse import urlsplit

    # Sec-Fetch-Site where the browser sends it (a proxy that rewrites Host does not change
    # it); else Origin against Host
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site is not None:
        foreign = site not in ("same-origin", "none")
    else:
        foreign = origin is not None and urlsplit(origin).netloc != request.headers.get("host")
    refused = CROSS_SITE_REFUSED if foreign else None
    if refused is None:
        optional_principal(request)
        expected: str | None = request.state.session_csrf
        given = request.headers.get(CSRF_HEADER)
        if expected is None:  # no live session behind the cookie: the route answers 401
            return
        if not given or not hmac.compare_digest(expected, given):
            refused = SESSION_TOKEN_MISSING
    if refused is not None:
        route = request.scope.get("route")
        action = f"{request.method} {getattr(route, 'path', request.url.path)}"
        pid = request.path_params.get("patient_id")
        audit(request, optional_principal(request), action, patient_id=pid, outcome="refused")
        raise HTTPException(status_code=403, detail=refused)


def audit(
    request: Request,
    principal: Principal | None,
    action: str,
    *,
    patient_id: str | None = None,
    cohort: dict[str, Any] | None = None,
    outcome: str = "ok",
) -> None:
    """Append an access audit row: who (and role), when, action, patient or cohort filter,
    outcome ("ok", "refused", "stale", "not_found", "invalid", "forbidden")."""
    get_accounts(request).audit(
        principal, action, patient_id=patient_id, cohort=cohort, outcome=outcome
    )
