"""The web app: `create_app(url)` builds the FastAPI application (API, pages, static files).

`pathway serve` runs it with uvicorn (`engine.web.app:create_app_from_env` as a factory, so each
worker process builds its own). Security headers go on every response; errors of the API are
`application/problem+json`; a page that needs a login redirects to /login. Behind a proxy that
publishes it under a path prefix, every URL it emits carries the prefix (`root_path`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine import Clock, Services, SqlUnitOfWork, database_url, make_engine
from engine.errors import DatabaseNotReady
from engine.store.db import DatabaseUnavailable, ValueRefused
from engine.web.accounts import IDLE_TIMEOUT, Accounts, idle_timeout, relaxed_commits
from engine.web.deps import (
    CSRF_COOKIE,
    LoginRequired,
    SessionEnded,
    WebContext,
    app_path,
    cookie_prefix,
    is_api,
    root_path,
    session_idle,
)
from engine.web.problems import problem_handlers, problem_response
from pathway.errors import PathwayError

log = logging.getLogger("engine.web")
STATIC = Path(__file__).resolve().parent / "static"
ENV_SECURE = "PATHWAY_SECURE_COOKIES"
ENV_IDLE = "PATHWAY_IDLE_MINUTES"  # `pathway serve --idle-minutes` hands it to the workers
ENV_MAX_BODY = "PATHWAY_MAX_BODY_MB"  # and `--max-body-mb`
ENV_ROOT = "PATHWAY_ROOT_PATH"  # `pathway serve --root-path` hands it to the workers
ENV_BENCH = "PATHWAY_WEB_BENCH"  # "1" registers the bare benchmark endpoint (benchmarks/web.py)
# Requests run in at most this many threads per process (set at start-up, in the lifespan), each
# with its own Services and the database connection its unit of work keeps; the account lookups
# and the audit rows take short-lived connections from two small pools of their own. Per worker
# at most THREADS + 2 + 2 connections stay open, and one for the readiness probe (4 workers: 44,
# under PostgreSQL's default 100).
# The pools may grow past that (overflow unbounded) where the limit is not set (a test client
# without its lifespan runs 40 threads): a held connection never starves a request.
THREADS = int(os.environ.get("PATHWAY_WEB_THREADS", "8"))
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = b"max-age=31536000"  # with --secure-cookies only: the app is served over HTTPS
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    """Pure ASGI middleware: the security headers on every response, `Cache-Control: no-store`
    on everything but static files (patient data must not sit in a shared cache), and the
    pre-login CSRF cookie when a form asked for one."""

    def __init__(self, app: ASGIApp, *, secure_cookies: bool) -> None:
        self.app = app
        self.secure = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = app_path(scope).startswith("/static/")
        cookie_path = root_path(scope) or "/"  # read before routing changes the scope

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                if self.secure:  # behind HTTPS: browsers keep to HTTPS for a year
                    headers.append((b"strict-transport-security", HSTS))
                state = scope.get("state") or {}
                new_csrf = state.get("new_csrf")
                if new_csrf:
                    flags = f"; HttpOnly; SameSite=Strict; Path={cookie_path}" + (
                        "; Secure" if self.secure else ""
                    )
                    name = cookie_prefix(self.secure, root_path(scope)) + CSRF_COOKIE
                    headers.append((b"set-cookie", f"{name}={new_csrf}{flags}".encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


# a path prefix: segments of URL-safe characters, each after one slash (none starts with ".":
# no "." or ".." segment)
_ROOT_PATH = re.compile(r"(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*")


def check_root_path(value: str) -> str:
    """The path prefix setting as the app keeps it: "" (none) or "/pathway" (one leading slash,
    none at the end: "/pathway/" is "/pathway", "/" is none). ValueError names the rule."""
    root = value.rstrip("/")
    if not _ROOT_PATH.fullmatch(root):
        raise ValueError(
            "expected a path prefix such as /pathway or /apps/pathway (each segment after one "
            "slash, of letters, digits, '-', '_', '~' and '.' but not starting with '.'), got "
            f"{value[:80]!r}"
        )
    return root


class RootPath:
    """Pure ASGI middleware: the app under a path prefix that the reverse proxy strips
    (`location /pathway/ { proxy_pass http://127.0.0.1:8000/; }`). It sets the request's scope
    as uvicorn's own `--root-path` does (ASGI: `root_path` is the prefix and `path` starts with
    it; Starlette routes on the path without it), so the factory behaves the same under any
    ASGI server. A root_path the server already set is kept."""

    def __init__(self, app: ASGIApp, *, root: str) -> None:
        self.app = app
        self.root = root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not scope.get("root_path"):
            scope = dict(scope)
            scope["root_path"] = self.root
            scope["path"] = self.root + scope["path"]
            if scope.get("raw_path") is not None:
                scope["raw_path"] = self.root.encode() + scope["raw_path"]
        await self.app(scope, receive, send)


def create_app(
    url: str | None = None,
    *,
    secure_cookies: bool = False,
    clock: Clock | None = None,
    bench: bool | None = None,
    idle_minutes: int | None = None,
    root_path: str = "",
    max_body_mb: int | None = None,
) -> FastAPI:
    """The application on a database URL (default $PATHWAY_DATABASE_URL, else ./pathway.db).

    The schema must be at this code's revision (`pathway init-db`). `secure_cookies` marks the
    cookies Secure (behind HTTPS); `clock` is for tests; `bench` (or PATHWAY_WEB_BENCH=1) adds
    the bare endpoint the benchmark compares against; `idle_minutes` ends a session unused
    that long (default 30; 1 to 720); `root_path` is the path prefix a reverse proxy publishes
    the app under and strips (`/pathway`; default none, or the server's ASGI root_path);
    `max_body_mb` is the largest request body taken (default 1; 1 to 100)."""
    from engine.store.db import check_revision
    from engine.web.body_limit import BodyLimit, max_body

    root = check_root_path(root_path)
    body_limit = max_body(max_body_mb)
    idle = IDLE_TIMEOUT if idle_minutes is None else idle_timeout(idle_minutes)
    db = database_url(url)
    engine = make_engine(db, create=False, **_pool(db, THREADS, -1))
    check_revision(engine)
    side = make_engine(db, create=False, **_pool(db, 2, -1))
    audit_engine = relaxed_commits(make_engine(db, create=False, **_pool(db, 2, -1)))

    # the readiness probe's own connection (engine.web.health): never one of the requests'
    probe = make_engine(db, create=False, **_pool(db, 1, 0), **_connect_timeout(db))

    def make_services() -> Services:
        return Services(PingedUnitOfWork(engine), clock=clock)

    now = (lambda: clock.now()) if clock is not None else None
    web = WebContext(
        engine=engine,
        accounts=Accounts(side, now=now, audit_engine=audit_engine, idle=idle),
        secure_cookies=secure_cookies,
        make_services=make_services,
        _local=threading.local(),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        yield
        engine.dispose()
        side.dispose()
        audit_engine.dispose()
        probe.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="pathway",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.web = web
    app.state.probe_engine = probe
    _handlers(app)
    from engine.web import api, api_quality, auth, health

    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(api_quality.router)
    app.include_router(auth.router)
    if bench if bench is not None else os.environ.get(ENV_BENCH) == "1":
        from engine.web import bench as bench_routes

        app.include_router(bench_routes.router)
    if importlib.util.find_spec("engine.web.pages") is not None:  # the pages, when present
        pages = importlib.import_module("engine.web.pages")
        app.include_router(pages.router)
        from engine.web.pages import account  # every signed-in user's own page

        app.include_router(account.router)
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    app.add_middleware(BodyLimit, limit=body_limit)  # inside: a refusal gets the headers too
    app.add_middleware(SecurityHeaders, secure_cookies=secure_cookies)
    if root:  # outermost: everything inside sees the prefix in the scope
        app.add_middleware(RootPath, root=root)
    return app


def _pool(url: str, size: int, overflow: int) -> dict[str, Any]:
    """Connection pool sizes (an in-memory SQLite database has one connection, no pool)."""
    if url.startswith("sqlite") and (url.endswith(":memory:") or url.rstrip("/") == "sqlite:"):
        return {}
    return {"pool_size": size, "max_overflow": overflow, "pool_timeout": 60}


def _connect_timeout(url: str) -> dict[str, Any]:
    """PostgreSQL: give up connecting after 3 s (a probe must answer while the server is away)."""
    return {} if url.startswith("sqlite") else {"connect_args": {"connect_timeout": 3}}


class PingedUnitOfWork(SqlUnitOfWork):
    """The web app's unit of work: a thread keeps its connection between requests, so the
    connection is tested (one empty query, as the pools' pre-ping does at checkout) before each
    use on PostgreSQL. One that a server restart or an idle timeout closed is dropped and a new
    one taken, instead of every later request of that thread failing until the app restarts."""

    def __enter__(self) -> Self:
        held = self._held
        if held is not None and not held.closed and held.dialect.name != "sqlite":
            try:
                raw = held.connection.dbapi_connection
                if raw is None or not held.dialect.do_ping(raw):
                    raise ConnectionError("no connection")
            except Exception:
                with contextlib.suppress(Exception):
                    held.invalidate()
                self.close()
        super().__enter__()
        return self


def create_app_from_env() -> FastAPI:
    """The factory `pathway serve` hands uvicorn: URL, cookie flag, idle timeout and path prefix
    from the environment."""
    idle = os.environ.get(ENV_IDLE, "").strip()
    body = os.environ.get(ENV_MAX_BODY, "").strip()
    return create_app(
        None,
        secure_cookies=os.environ.get(ENV_SECURE) == "1",
        idle_minutes=int(idle) if idle else None,
        root_path=os.environ.get(ENV_ROOT, ""),
        max_body_mb=int(body) if body else None,
    )


def _handlers(app: FastAPI) -> None:
    async def login_required(request: Request, exc: Exception) -> Response:
        if is_api(request):
            return problem_response(
                401,
                "Not authenticated",
                "send `Authorization: Bearer <token>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        from urllib.parse import quote

        # a session that just ended for going unused: the login page says so
        idle = "&idle=1" if session_idle(request) else ""
        login = root_path(request) + "/login"
        if isinstance(exc, SessionEnded):
            # a form posted after the session ended: back to the page it was on (its Referer,
            # if on this site), after logging in again; the login page says why
            target = _referring_page(request)
            where = f"{login}?next={quote(target, safe='/')}&ended=1{idle}"
            if request.headers.get("hx-request") == "true":  # htmx: a whole-page redirect
                return Response("session ended", status_code=401, headers={"HX-Redirect": where})
            return RedirectResponse(where, status_code=303)
        # the path as the browser asked for it (ASGI's path includes the root_path prefix)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        where = f"{login}?next={quote(target, safe='/')}{idle}"
        if request.headers.get("hx-request") == "true":
            # htmx (a list's sort or page, a poll): the whole page goes to the login page, not
            # the login page into the list
            return Response("login required", status_code=401, headers={"HX-Redirect": where})
        return RedirectResponse(where, status_code=303)

    async def database_down(request: Request, exc: Exception) -> Response:
        # the database is away (restart, network, disk full) or mid-upgrade: 503, try again
        # later; the URL and the driver's words stay out of the answer
        log.warning("%s: %s", request.method, type(exc).__name__)
        detail = "the database is unavailable: try again shortly"
        headers = {"Retry-After": "5"}
        if is_api(request):
            return problem_response(503, "Service unavailable", detail, headers=headers)
        return _unavailable_page(detail, headers)

    app.add_exception_handler(LoginRequired, login_required)
    handlers: dict[Any, Any] = problem_handlers()
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)
    # an outage is a 503; a value the database refused is the input's fault: 422, as before
    app.add_exception_handler(DatabaseUnavailable, database_down)
    app.add_exception_handler(ValueRefused, handlers[PathwayError])
    app.add_exception_handler(DatabaseNotReady, database_down)
    app.add_exception_handler(sa.exc.OperationalError, database_down)
    _ = (RequestValidationError, StarletteHTTPException)


def _unavailable_page(detail: str, headers: dict[str, str]) -> Response:
    from fastapi.responses import HTMLResponse

    text = (
        "<!doctype html><html lang=en><title>503 Service unavailable</title>"
        f"<h1>503 Service unavailable</h1><p>{detail}</p></html>"
    )
    return HTMLResponse(text, status_code=503, headers=headers)


def _referring_page(request: Request) -> str:
    """The page a form was posted from: its Referer's path and query if the Referer is a page
    of this app (this site, under its path prefix), else the app's home "/" (a POST's own path
    may only be posted to)."""
    from urllib.parse import urlsplit

    root = root_path(request)
    home = root + "/"
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.url.netloc or not referer.path.startswith(home):
        return home
    if referer.path.startswith("//") or referer.path == root + "/login":
        return home
    return referer.path + (f"?{referer.query}" if referer.query else "")
