"""The REST API, `/api/v1`: the CLI's services and JSON contracts over HTTP.

Reads send the patient's version as a strong ETag; writes need `If-Match` with it (428 without,
412 when stale). Every read, write and export appends an access audit row.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["api"])
