"""A limit on the size of request bodies (OWASP ASVS 13.1.3 / 12.1.1: a large body must not
take a worker's memory and time). The largest body the app needs is a patient record sent to
`POST /api/v1/patients`: kilobytes. The default, 1 MiB, leaves room; `pathway serve
--max-body-mb` changes it.

A declared `Content-Length` over the limit is answered 413 before anything is read; a body sent
without one (chunked) is counted as it arrives and refused once it passes the limit. Either way
nothing is written: the routes read the whole body before they act.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB
MAX_BODY_MB = 100  # `--max-body-mb` at most


class BodyTooLarge(HTTPException):
    """413: the request's body is larger than the app takes (an HTTPException, so FastAPI's
    body parsing passes it on and the app's handlers answer it as problem+json or a page)."""

    def __init__(self, limit: int, *, declared: int | None = None) -> None:
        size = f"{declared:,} bytes" if declared is not None else f"more than {limit:,} bytes"
        super().__init__(
            413, f"request body: {size} is more than this server takes ({limit:,} bytes)"
        )


def max_body(megabytes: int | None) -> int:
    """The limit in bytes for `--max-body-mb` (1 to 100; None: the default)."""
    if megabytes is None:
        return DEFAULT_MAX_BODY
    if not 1 <= megabytes <= MAX_BODY_MB:
        raise ValueError(f"--max-body-mb: {megabytes} is out of range (1 to {MAX_BODY_MB})")
    return megabytes << 20


class BodyLimit:
    """Pure ASGI middleware: refuse request bodies over `limit` bytes with 413."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:  # answered as the app's handlers do
            from starlette.requests import Request

            from engine.web.problems import problem_handlers

            refused = BodyTooLarge(self.limit, declared=declared)
            response = await problem_handlers()[HTTPException](Request(scope), refused)
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None  # the server refuses a bad one
    return None
