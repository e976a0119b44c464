"""The web app and REST API over the engine's services (FastAPI, Jinja2, htmx): `create_app`.

Imported lazily: `pathway` commands that do not serve never load FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.web.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from engine.web.app import create_app

        return create_app
    raise AttributeError(f"module 'engine.web' has no attribute {name!r}")
