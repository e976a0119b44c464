"""Fixtures of the API, auth and role tests: a small clinic on SQLite (or PostgreSQL), one
account and one bearer token per role, and test clients logged in as each."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from engine import FixedClock, Services, SqlUnitOfWork, make_engine
from engine.web import create_app
from engine.web.accounts import Accounts, Role

TODAY = dt.date(2026, 6, 1)
PASSWORD = "correct-horse-42"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PATIENT = "EX-04"  # in initial_trial, `reassess` enabled


class Clinic:
    """The app, its clock (standing still until a test moves it) and what the tests log in
    with."""

    def __init__(
        self, url: str, app: FastAPI, tokens: dict[Role, str], clock: FixedClock | None = None
    ) -> None:
        self.url, self.app, self.tokens = url, app, tokens
        self.clock = clock or FixedClock(TODAY)
        self.accounts: Accounts = app.state.web.accounts

    def api(self, role: Role | None, *, root_path: str = "") -> TestClient:
        """A client sending the role's bearer token (none: anonymous); `root_path` as in
        `browser`."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return TestClient(self.app, headers=headers, follow_redirects=False, root_path=root_path)

    def browser(self, role: Role | None, *, root_path: str = "") -> TestClient:
        """A client logged in with a session cookie as the role's user (none: anonymous,
        holding the login form's CSRF cookie). `root_path`: the app as a server publishing it
        under that path prefix serves it (ASGI root_path, as `uvicorn --root-path` sets it):
        every path asked for starts with the prefix."""
        client = TestClient(
            self.app, follow_redirects=False, base_url="http://testserver", root_path=root_path
        )
        client.get(f"{root_path}/login")
        if role is not None:
            r = client.post(
                f"{root_path}/login",
                data={
                    "username": f"user-{role.value}",
                    "password": PASSWORD,
                    "csrf_token": client.cookies.get("pathway_csrf"),
                },
            )
            assert r.status_code == 303, r.text
        return client

    def services(self) -> Services:
        return Services(SqlUnitOfWork(make_engine(self.url)), clock=FixedClock(TODAY))

    def version(self, patient_id: str = PATIENT) -> int:
        svc = self.services()
        try:
            return svc.status(patient_id).version
        finally:
            svc.close()


def seed(url: str) -> dict[Role, str]:
    """Enroll the shipped JSON examples, add one user and one token per role."""
    engine = make_engine(url)
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY))
    for path in sorted(EXAMPLES.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        svc.enroll(record["id"], actor="seed", record=record, effective=dt.date(2026, 3, 1))
    svc.close()
    accounts = Accounts(engine, now=lambda: dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC))
    tokens = {}
    for role in Role:
        accounts.add_user(f"user-{role.value}", role=role.value, password=PASSWORD)
        tokens[role] = accounts.create_token(f"app-{role.value}", role=role.value)
    engine.dispose()
    return tokens


@pytest.fixture
def make_clinic() -> Iterator[Callable[..., Clinic]]:
    """Factory: a seeded clinic on a database URL."""
    made: list[FastAPI] = []

    def make(url: str, **kwargs: Any) -> Clinic:
        tokens = seed(url)
        clock = FixedClock(TODAY)
        app = create_app(url, clock=clock, **kwargs)
        made.append(app)
        return Clinic(url, app, tokens, clock)

    yield make
    for app in made:
        app.state.web.engine.dispose()
        app.state.web.accounts.engine.dispose()
        app.state.web.accounts.audit_engine.dispose()


@pytest.fixture
def clinic(make_clinic: Callable[..., Clinic], sqlite_url: str) -> Clinic:
    """A seeded clinic on SQLite."""
    return make_clinic(sqlite_url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_clinic(request: pytest.FixtureRequest, make_clinic: Callable[..., Clinic]) -> Clinic:
    """A seeded clinic on SQLite, then on PostgreSQL."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return make_clinic(url)
