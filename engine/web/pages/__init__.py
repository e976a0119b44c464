"""The server-rendered pages (one router module per resource), included by `create_app`.

Who may open what (the route × role test reads `PAGE_ROLES`): coordinators and clinicians work
with patients (and enroll them); only clinicians override; quality sees aggregates only (board,
cohort, measures and deviations, suppressed), never a patient; admin manages users, tokens and
the audit log, nothing clinical.
"""

from fastapi import APIRouter

from engine.web.pages import (
    admin,
    board,
    caseload,
    common,
    enroll,
    home,
    patient,
    quality,
    review,
    worklist,
)

PAGE_ROLES = common.PAGE_ROLES | enroll.PAGE_ROLES

router = APIRouter(include_in_schema=False)
for _module in (home, board, caseload, worklist, enroll, patient, quality, review, admin):
    router.include_router(_module.router)

__all__ = ["PAGE_ROLES", "router"]
