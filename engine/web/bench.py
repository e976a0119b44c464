"""The benchmark's bare endpoint (only with PATHWAY_WEB_BENCH=1): one enrollment row by primary
key through the same app, connection pool and middleware, without auth, services or audit.

`benchmarks/web.py` compares `GET /api/v1/patients/{id}` and the patient page against it.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from engine.web.deps import context

router = APIRouter(include_in_schema=False)
_SQL = sa.text(
    "SELECT patient_id, state, version, entered_state_on FROM enrollment WHERE patient_id = :p"
)


@router.get("/bench/bare/{patient_id}")
def bare(request: Request, patient_id: str) -> Response:
    """The enrollment row as JSON (404 if none)."""
    with context(request).engine.connect() as conn:
        row = conn.execute(_SQL, {"p": patient_id}).first()
    if row is None:
        return JSONResponse({"detail": "not found"}, status_code=404)
    return JSONResponse(
        {"patient_id": row[0], "state": row[1], "version": row[2], "entered_state_on": str(row[3])}
    )
