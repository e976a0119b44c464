"""`/`: each role lands on its own first page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from engine.web.accounts import Principal, Role
from engine.web.deps import current_principal
from engine.web.pages.common import PageRoute
from engine.web.templating import see_other

router = APIRouter(route_class=PageRoute)
LANDING = {
    Role.coordinator: "/board",
    Role.clinician: "/board",
    Role.quality: "/quality",
    Role.admin: "/admin",
}


@router.get("/")
def home(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> RedirectResponse:
    """Go to the role's first page (nobody logged in: the login page)."""
    return see_other(request, LANDING[principal.role])
