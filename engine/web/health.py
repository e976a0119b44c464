"""Probes for a load balancer or a monitor: no login, no patient data, no audit row.

`GET /healthz` (liveness) answers 200 while the process serves requests; it never touches the
database. `GET /readyz` (readiness) reads the schema revision (one small query on a pool of its
own, so a probe neither waits behind busy request threads nor takes their connections): 200 when
the database answers at this code's revision, else 503 saying which (`database: unavailable`, or
`schema` naming the revision found during an upgrade). Neither says more than that: the database
URL and the error stay in the server's log.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import anyio.to_thread
import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.store.db import SCHEMA_REVISION

router = APIRouter()
log = logging.getLogger("engine.web.health")
PROBE_TIMEOUT = 5.0  # seconds: a probe that waits longer for the database says "unavailable"


def _answer(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


@router.get("/healthz", include_in_schema=False)
async def healthz() -> Response:
    """Liveness: the process answers (no database, no thread)."""
    return _answer(200, {"status": "ok"})


def _revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        rev = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return None if rev is None else str(rev)


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> Response:
    """Readiness: the database answers, at the schema revision this code reads and writes."""
    engine: sa.Engine = request.app.state.probe_engine
    state = request.app.state
    if getattr(state, "probe_limiter", None) is None:
        state.probe_limiter = anyio.CapacityLimiter(1)
    try:
        with anyio.fail_after(PROBE_TIMEOUT):
            rev = await anyio.to_thread.run_sync(
                _revision, engine, limiter=state.probe_limiter, abandon_on_cancel=True
            )
    except Exception as exc:  # the kind only: a driver's message may name hosts and users
        log.warning("readiness probe: database unavailable (%s)", type(exc).__name__)
        return _answer(503, {"status": "unavailable", "database": "unavailable"})
    if rev != SCHEMA_REVISION:
        body = {
            "status": "unavailable",
            "database": "ok",
            "schema": rev,
            "expected": SCHEMA_REVISION,
        }
        return _answer(503, body)
    return _answer(200, {"status": "ok", "database": "ok", "schema": rev})
