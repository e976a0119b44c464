"""The pages' Jinja2 environment (autoescape on) and `render(request, name, context)`.

Every template gets who is logged in (`principal`), the CSRF token for its forms, the navigation
for that role, `static(name)` (a URL with a content hash, so a changed file is never served
stale), `htmx` (whether the request came from htmx, to answer with a fragment), `root` (the path
prefix the app is served under, "" at the root of its host: every link is `{{ root }}/page`) and
`path` (the page's path inside the app, without the prefix).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from engine.web.accounts import Principal, Role
from engine.web.deps import CSRF_FIELD, app_path, csrf_token, optional_principal, root_path
from pathway.words import asked as asked_words

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# The navigation of each role: (path inside the app, label). A role sees only what it may open.
NAV: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.coordinator: (("/board", "Board"), ("/caseload", "Caseload"), ("/worklist", "Worklist")),
    Role.clinician: (
        ("/board", "Board"),
        ("/caseload", "Caseload"),
        ("/worklist", "Worklist"),
        ("/quality", "Cohort"),
        ("/quality/measures", "Measures"),
    ),
    Role.quality: (
        ("/board", "Board"),
        ("/quality", "Cohort"),
        ("/quality/measures", "Measures"),
        ("/quality/deviations", "Deviations"),
        ("/quality/definition", "Definition"),
    ),
    Role.admin: (("/admin", "Users and tokens"), ("/admin/audit", "Audit log")),
}


@dataclass
class Templates:
    """The environment and the static files' content hashes (computed once per app)."""

    env: Environment
    hashes: dict[str, str] = field(default_factory=dict)

    def static_url(self, name: str, *, root: str = "") -> str:
        """`<root>/static/<name>?v=<hash>` (`root`: the path prefix the app is served under);
        the hash changes when the file does."""
        digest = self.hashes.get(name)
        if digest is None:
            digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
            self.hashes[name] = digest
        return f"{root}/static/{name}?v={digest}"


def _date(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _days(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _words(value: str | None) -> str:
    """An identifier in words: `trial_started` → `trial started`."""
    return "" if value is None else value.replace("_", " ")


def make_templates() -> Templates:
    """A fresh environment over engine/web/templates."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg", "xml"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date"] = _date
    env.filters["days"] = _days
    env.filters["words"] = _words
    env.globals["asked"] = asked_words  # a test's categories in words (`outcome`: no response)
    templates = Templates(env)

    @pass_context
    def static(context: Context, name: str) -> str:
        return templates.static_url(name, root=context.get("root", ""))

    env.globals["static"] = static
    return templates


def templates_of(request: Request) -> Templates:
    """The app's templates (made on first use, kept on the app's state)."""
    state = request.app.state
    found: Templates | None = getattr(state, "templates", None)
    if found is None:
        found = state.templates = make_templates()
    return found


def is_htmx(request: Request) -> bool:
    """A request htmx made (it wants a fragment, not a whole page)."""
    return request.headers.get("hx-request") == "true"


def see_other(request: Request, path: str) -> RedirectResponse:
    """A 303 to `path` inside the app (`/admin?done=user`), under the app's path prefix."""
    return RedirectResponse(root_path(request) + path, status_code=303)


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a template with the request's principal, CSRF token, navigation and helpers."""
    principal: Principal | None = context.get("principal") or optional_principal(request)
    values: dict[str, Any] = {
        "request": request,
        "principal": principal,
        "nav": NAV.get(principal.role, ()) if principal is not None else (),
        "root": root_path(request),
        "path": app_path(request),
        "csrf_token": csrf_token(request),
        "csrf_field": CSRF_FIELD,
        "htmx": is_htmx(request),
        "title": "",
        **context,
    }
    values["principal"] = principal
    html = templates_of(request).env.get_template(name).render(values)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    response.headers["vary"] = "HX-Request"
    return response
