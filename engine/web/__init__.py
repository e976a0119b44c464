"""The web app and REST API over the engine's services (FastAPI, Jinja2, htmx): `create_app`."""

from engine.web.app import create_app

__all__ = ["create_app"]
